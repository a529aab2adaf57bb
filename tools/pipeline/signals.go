package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// gracePeriod is how long an interrupted run may take to return (the runner cancels its job and
// the workers' bundles see their context end between images) before the command exits anyway.
const gracePeriod = 3 * time.Second

// signalCause is the context cause of a run stopped by a signal.
type signalCause struct{ sig os.Signal }

func (s signalCause) Error() string { return "interrupted by " + s.sig.String() }

// cancelOnSignal returns a context cancelled by SIGINT or SIGTERM; after gracePeriod (or at a
// second signal) the command removes its temporary files and exits even if the run has not
// returned: what is left are complete outputs.
func cancelOnSignal() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-done:
			return
		}
		cancel(signalCause{sig})
		select {
		case <-sigs:
		case <-time.After(gracePeriod):
		case <-done:
			return
		}
		exitInterrupted(sig)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}

var exitOnce sync.Once

// exitInterrupted removes this process's temporary files and exits with the shell's status for
// the signal (130 for SIGINT, 143 for SIGTERM).
func exitInterrupted(sig os.Signal) {
	exitOnce.Do(func() {
		temps.abort()
		os.Stderr.WriteString("\npipeline: interrupted; no report written, only complete files left\n")
		status := 1
		if s, ok := sig.(syscall.Signal); ok {
			status = 128 + int(s)
		}
		os.Exit(status)
	})
}

// interruptedBy reports the signal that cancelled ctx, if any.
func interruptedBy(ctx context.Context) (os.Signal, bool) {
	var s signalCause
	if errors.As(context.Cause(ctx), &s) {
		return s.sig, true
	}
	return nil, false
}
