package main

import (
	"context"
	"os"
	"time"

	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
)

// gracePeriod is how long an interrupted run may take to return (the job is cancelled and this
// process's bundles see their context end between images) before the command exits anyway.
const gracePeriod = 3 * time.Second

// cancelOnSignal is the command's context: cancelled by SIGINT or SIGTERM, and after gracePeriod
// (or a second signal) the command exits even if the run has not returned.
func cancelOnSignal() (context.Context, func()) {
	return cli.CancelOnSignal(gracePeriod, exitInterrupted)
}

// exitInterrupted removes this process's temporary files (what is left are complete outputs)
// and exits with the signal's status (130 for SIGINT).
func exitInterrupted(sig os.Signal) {
	cli.ExitInterrupted(sig, temps.abort, "pipeline: interrupted by "+cli.SignalName(sig)+"; no report written, only complete files left")
}
