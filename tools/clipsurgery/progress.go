package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
)

// progress is a one-line bar on stderr for folders; a single image draws nothing.
type progress struct {
	w     io.Writer
	total int
	drawn bool
}

func newProgress(w io.Writer, total int) *progress { return &progress{w: w, total: total} }

func (p *progress) update(done int, current string) {
	if p.total < 2 {
		return
	}
	const width = 30
	n := done * width / p.total
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d %-30.30s", strings.Repeat("#", n), strings.Repeat(" ", width-n), done, p.total, filepath.Base(current))
	p.drawn = true
}

// clear ends the bar's line so that a message can be printed.
func (p *progress) clear() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func (p *progress) done() {
	if p.total < 2 {
		return
	}
	p.update(p.total, "done")
	p.clear()
}
