package registry

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// barInterval throttles redraws: a terminal does not need more, and a log file should not get one
// line per 32 KiB read.
const barInterval = 250 * time.Millisecond

// bar is a one-line progress display: "RN50.pt [=====>    ]  45% 110.2 MiB/244.4 MiB 12.3 MiB/s".
// Bytes resumed from an earlier attempt count towards the position but not the rate.
type bar struct {
	w              io.Writer
	name           string
	base, total, n int64
	clock          func() time.Time
	start, last    time.Time
	width          int
}

func newBar(w io.Writer, name string, base, total int64, clock func() time.Time) *bar {
	if w == nil {
		return nil
	}
	b := &bar{w: w, name: name, base: base, total: total, clock: clock}
	b.start = clock()
	b.draw(b.start)
	return b
}

func (b *bar) Write(p []byte) (int, error) {
	b.n += int64(len(p))
	if now := b.clock(); now.Sub(b.last) >= barInterval {
		b.draw(now)
	}
	return len(p), nil
}

// moveTo sets the position to done bytes, for transfers that report a running total rather than
// hand over their bytes; safe on a nil bar.
func (b *bar) moveTo(done int64) {
	if b == nil {
		return
	}
	b.n = done - b.base
	if now := b.clock(); now.Sub(b.last) >= barInterval {
		b.draw(now)
	}
}

// finish draws the final state and ends the line; safe on a nil bar.
func (b *bar) finish() {
	if b == nil {
		return
	}
	b.draw(b.clock())
	fmt.Fprintln(b.w)
}

func (b *bar) draw(now time.Time) {
	b.last = now
	done := b.base + b.n
	var s strings.Builder
	s.WriteString(b.name)
	if b.total > 0 {
		frac := min(float64(done)/float64(b.total), 1)
		const cells = 20
		full := int(frac * cells)
		s.WriteString(" [" + strings.Repeat("=", full))
		if full < cells {
			s.WriteString(">" + strings.Repeat(" ", cells-full-1))
		}
		fmt.Fprintf(&s, "] %3.0f%% %s/%s", 100*frac, human(done), human(b.total))
	} else {
		fmt.Fprintf(&s, " %s", human(done))
	}
	if el := now.Sub(b.start).Seconds(); el > 0 {
		fmt.Fprintf(&s, " %s/s", human(int64(float64(b.n)/el)))
	}
	line := s.String()
	pad := max(b.width-len(line), 0) // blank out the tail of a longer previous line
	b.width = len(line)
	fmt.Fprintf(b.w, "\r%s%s", line, strings.Repeat(" ", pad))
}

// human formats a byte count in IEC units, like the reference's tqdm(unit='iB', unit_divisor=1024).
func human(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), -1
	for f >= 1024 && i < 5 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTPE"[i])
}
