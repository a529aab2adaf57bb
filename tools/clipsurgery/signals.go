package main

import (
	"context"
	"os"
	"time"

	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
)

// gracePeriod is how long an interrupted run may take to reach its next cancellation check (they
// sit between images, targets and loading steps) before the command exits anyway: one step of
// the model (a compile, an image encode, the prompt ensemble) cannot be cut short, and the
// command must stop within a second at any stage.
const gracePeriod = 500 * time.Millisecond

// cancelOnSignal returns a context cancelled by SIGINT or SIGTERM. After gracePeriod (or at a
// second signal) the command removes its temporary files and exits with the signal's status even
// if run has not returned; complete outputs stay, nothing is left half-written.
func cancelOnSignal() (context.Context, func()) {
	return cli.CancelOnSignal(gracePeriod, exitInterrupted)
}

// exitInterrupted removes the temporary files and ends the command with sig's status.
func exitInterrupted(sig os.Signal) {
	cli.ExitInterrupted(sig, temps.abort, "clipsurgery: interrupted ("+cli.SignalName(sig)+")")
}
