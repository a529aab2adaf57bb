package cli

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// signalCause is the context cause of a run stopped by a signal.
type signalCause struct{ sig os.Signal }

func (s signalCause) Error() string { return "interrupted by " + SignalName(s.sig) }

// SignalName is SIGINT or SIGTERM rather than Go's "interrupt" and "terminated".
func SignalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return sig.String()
}

// CancelOnSignal returns a context cancelled by SIGINT or SIGTERM (InterruptedBy names the
// signal). After grace, or at a second signal, exit is called even if the command has not
// returned: a step that cannot be cut short must not keep the command running. exit ends the
// process (removing what it must first); stop releases the signals.
func CancelOnSignal(grace time.Duration, exit func(os.Signal)) (ctx context.Context, stop func()) {
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
		case <-time.After(grace):
		case <-done:
			return
		}
		exit(sig)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}

// InterruptedBy reports the signal that cancelled a CancelOnSignal context, if any.
func InterruptedBy(ctx context.Context) (os.Signal, bool) {
	var s signalCause
	if errors.As(context.Cause(ctx), &s) {
		return s.sig, true
	}
	return nil, false
}

// ExitInterrupted ends a command stopped by sig, once whoever calls first (main when its run
// returned, CancelOnSignal's grace timer when it did not): cleanup (removing temporary files),
// then message on stderr, then exit with ExitStatus(sig).
func ExitInterrupted(sig os.Signal, cleanup func(), message string) {
	exitOnce.Do(func() {
		cleanup()
		os.Stderr.WriteString("\n" + message + "\n")
		os.Exit(ExitStatus(sig))
	})
}

var exitOnce sync.Once

// ExitStatus is the shell's convention for a process ended by a signal: 128 + its number (130 for
// SIGINT, 143 for SIGTERM).
func ExitStatus(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}
