package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
)

// runProgress is what an in-process run shows on the command's stderr: the DoFn instances of this
// process report each image here, which draws evaluate's "[i/n] rate ETA" line, and print their
// messages (an image that failed) above it. On a cluster the runner's UI shows the Beam counters,
// and the messages go to the workers' logs.
type runProgress struct {
	mu            sync.Mutex
	w             io.Writer // nil: no run in this process
	bar           *evaluate.Progress
	done, skipped int
	busy          int        // DoFn calls under way in this process
	idle          *sync.Cond // signalled when busy drops to 0
	slots         chan struct{}
}

var progress = newRunProgress()

func newRunProgress() *runProgress {
	p := &runProgress{}
	p.idle = sync.NewCond(&p.mu)
	return p
}

// begin brackets a DoFn's work on one element in this process (call the returned end when done):
// it waits for one of the run's worker slots, since Prism runs several bundles at once and on a
// few cores they only compete.
func (p *runProgress) begin() (end func()) {
	p.mu.Lock()
	p.busy++
	slots := p.slots
	p.mu.Unlock()
	if slots != nil {
		slots <- struct{}{}
	}
	return func() {
		if slots != nil {
			<-slots
		}
		p.mu.Lock()
		if p.busy--; p.busy == 0 {
			p.idle.Broadcast()
		}
		p.mu.Unlock()
	}
}

// settle waits (at most limit) until no DoFn of this process is working: a failed job returns
// while the workers' other bundles may still be finishing their current image, and the command
// must not return (or exit) while they write.
func (p *runProgress) settle(limit time.Duration) {
	timer := time.AfterFunc(limit, func() {
		p.mu.Lock()
		p.idle.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	start := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.busy > 0 && time.Since(start) < limit {
		p.idle.Wait()
	}
}

// start readies the line of a run of total images on w (bar false: messages only), with workers
// images worked on at once.
func (p *runProgress) start(w io.Writer, total int, bar bool, workers int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.w, p.done, p.skipped, p.bar = w, 0, 0, nil
	p.slots = make(chan struct{}, workers)
	if bar {
		p.bar = evaluate.NewProgress(w, total)
	}
}

// add counts one image (skipped or not) and redraws the line.
func (p *runProgress) add(skipped bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if skipped {
		p.skipped++
	}
	if p.bar != nil {
		p.bar.Update(p.done, p.skipped)
	}
}

// message prints a worker's message: on the run's stderr in this process, else in Beam's log.
func (p *runProgress) message(ctx context.Context, inProcess bool, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !inProcess || p.w == nil {
		log.Warn(ctx, msg)
		return
	}
	if p.bar != nil {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintln(p.w, "pipeline: "+msg)
}

// finish ends the line of the run.
func (p *runProgress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
	}
	p.w, p.bar = nil, nil
}

// initBeam initialises Beam for a pipeline built in this process. Beam's own log (the job
// server's and the runner's steps) is shown with verbose only: the command's errors say what
// failed, and the messages above say which image.
func initBeam(verbose bool) {
	beam.Init()
	if !verbose {
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
}
