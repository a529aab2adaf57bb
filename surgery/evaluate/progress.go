package evaluate

import (
	"fmt"
	"io"
	"time"
)

// Progress writes "\r[i/n] x% rate ETA skipped" lines, at most a few per second (Run's progress
// line; tools/pipeline draws its own with it). Not safe for concurrent use.
type Progress struct {
	w     io.Writer
	n     int
	start time.Time
	last  time.Time
}

// NewProgress draws the progress of n images on w (nil = nothing).
func NewProgress(w io.Writer, n int) *Progress {
	now := time.Now()
	return &Progress{w: w, n: n, start: now, last: now.Add(-time.Hour)}
}

// Update draws done images of which skipped were skipped.
func (p *Progress) Update(done, skipped int) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if done < p.n && now.Sub(p.last) < 250*time.Millisecond {
		return
	}
	p.last = now
	el := now.Sub(p.start)
	rate := float64(done) / el.Seconds()
	eta := time.Duration(float64(p.n-done) / rate * float64(time.Second)).Round(time.Second)
	fmt.Fprintf(p.w, "\r[%d/%d] %5.1f%%  %.2f img/s  elapsed %s  ETA %s  skipped %d ", done, p.n,
		100*float64(done)/float64(p.n), rate, el.Round(time.Second), eta, skipped)
}

// Finish ends the line.
func (p *Progress) Finish() {
	if p.w != nil {
		fmt.Fprintln(p.w)
	}
}
