package nbutil

import (
	"fmt"
	"math"
)

// MapStats summarises one similarity map (values in 0..1, row-major h×w).
type MapStats struct {
	Mean, Std float64
	// Hot is the fraction of pixels above the threshold given to Stats: the area the map lights up.
	Hot float64
	// Blobs is the number of 4-connected regions of hot pixels: one object, several instances, or
	// noise scattered over the image.
	Blobs int
	// PeakX, PeakY is the first maximum (row-major order).
	PeakX, PeakY int
}

// Stats computes MapStats with hot pixels those above t.
func Stats(m []float32, w, h int, t float32) (MapStats, error) {
	if w <= 0 || h <= 0 || len(m) != w*h {
		return MapStats{}, fmt.Errorf("nbutil: stats of %d values as %d×%d: %w", len(m), w, h, ErrEmpty)
	}
	var s MapStats
	sum, best := 0.0, math.Inf(-1)
	hot := make([]bool, len(m))
	nHot := 0
	for i, v := range m {
		x := float64(v)
		sum += x
		if x > best {
			best, s.PeakX, s.PeakY = x, i%w, i/w
		}
		if v > t {
			hot[i] = true
			nHot++
		}
	}
	s.Mean = sum / float64(len(m))
	ss := 0.0
	for _, v := range m {
		d := float64(v) - s.Mean
		ss += d * d
	}
	s.Std = math.Sqrt(ss / float64(len(m)))
	s.Hot = float64(nHot) / float64(len(m))
	s.Blobs = countBlobs(hot, w, h)
	return s, nil
}

// countBlobs counts 4-connected components of true pixels (iterative flood fill).
func countBlobs(on []bool, w, h int) int {
	seen := make([]bool, len(on))
	n := 0
	stack := []int{}
	for i := range on {
		if !on[i] || seen[i] {
			continue
		}
		n++
		seen[i] = true
		stack = append(stack[:0], i)
		for len(stack) > 0 {
			j := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			x, y := j%w, j/w
			for _, nb := range [4][2]int{{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}} {
				if nb[0] < 0 || nb[0] >= w || nb[1] < 0 || nb[1] >= h {
					continue
				}
				k := nb[1]*w + nb[0]
				if on[k] && !seen[k] {
					seen[k] = true
					stack = append(stack, k)
				}
			}
		}
	}
	return n
}

// Correlation is Pearson's correlation of two maps of the same size (0 when either is constant).
func Correlation(a, b []float32) (float64, error) {
	if len(a) == 0 || len(a) != len(b) {
		return 0, fmt.Errorf("nbutil: correlation of %d and %d values: %w", len(a), len(b), ErrEmpty)
	}
	var ma, mb float64
	for i := range a {
		ma += float64(a[i])
		mb += float64(b[i])
	}
	ma /= float64(len(a))
	mb /= float64(len(b))
	var sab, saa, sbb float64
	for i := range a {
		da, db := float64(a[i])-ma, float64(b[i])-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	if saa == 0 || sbb == 0 {
		return 0, nil
	}
	return sab / math.Sqrt(saa*sbb), nil
}

// HotIoU is the intersection over union of the hot regions (values above t) of two maps: how much
// two texts light up the same pixels. Two maps without hot pixels give 0.
func HotIoU(a, b []float32, t float32) (float64, error) {
	if len(a) == 0 || len(a) != len(b) {
		return 0, fmt.Errorf("nbutil: IoU of %d and %d values: %w", len(a), len(b), ErrEmpty)
	}
	inter, union := 0, 0
	for i := range a {
		ha, hb := a[i] > t, b[i] > t
		if ha && hb {
			inter++
		}
		if ha || hb {
			union++
		}
	}
	if union == 0 {
		return 0, nil
	}
	return float64(inter) / float64(union), nil
}

// Column returns column c of a row-major rows×cols matrix (e.g. one class of a similarity matrix).
func Column(data []float32, rows, cols, c int) ([]float32, error) {
	if rows <= 0 || cols <= 0 || len(data) != rows*cols || c < 0 || c >= cols {
		return nil, fmt.Errorf("nbutil: column %d of %d values as %d×%d", c, len(data), rows, cols)
	}
	out := make([]float32, rows)
	for r := range out {
		out[r] = data[r*cols+c]
	}
	return out, nil
}
