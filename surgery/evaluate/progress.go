package evaluate

import (
	"fmt"
	"io"
	"time"
)

// progress writes "\r[i/n] x% rate ETA" lines, at most a few per second.
type progress struct {
	w     io.Writer
	n     int
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, n int) *progress {
	now := time.Now()
	return &progress{w: w, n: n, start: now, last: now.Add(-time.Hour)}
}

func (p *progress) update(done, skipped int) {
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

func (p *progress) finish() {
	if p.w != nil {
		fmt.Fprintln(p.w)
	}
}
