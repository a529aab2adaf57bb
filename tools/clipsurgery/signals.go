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

// gracePeriod is how long an interrupted run may take to reach its next cancellation check (they
// sit between images, targets and loading steps) before the command exits anyway: one step of
// the model (a compile, an image encode, the prompt ensemble) cannot be cut short, and the
// command must stop within a second at any stage.
const gracePeriod = 500 * time.Millisecond

// signalCause is the context cause of a run stopped by a signal.
type signalCause struct{ sig os.Signal }

func (s signalCause) Error() string { return "interrupted by " + signalName(s.sig) }

// signalName is SIGINT or SIGTERM rather than Go's "interrupt" and "terminated".
func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// cancelOnSignal returns a context cancelled by SIGINT or SIGTERM. After gracePeriod (or at a
// second signal) the command removes its temporary files and exits with interruptedBy's status
// even if run has not returned; complete outputs stay, nothing is left half-written.
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

// exitInterrupted removes the temporary files and ends the command with sig's status; called by
// main when run returned and by the grace timer when it did not, whichever comes first.
func exitInterrupted(sig os.Signal) {
	exitOnce.Do(func() {
		temps.abort()
		os.Stderr.WriteString("\nclipsurgery: interrupted (" + signalName(sig) + ")\n")
		os.Exit(exitStatus(sig))
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

// exitStatus is the shell's convention for a process ended by a signal: 128 + its number
// (130 for SIGINT, 143 for SIGTERM).
func exitStatus(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}
