package evaluate

import (
	"errors"
	"fmt"
	"math"
)

// DefaultPointingTolerance is the pointing game's usual tolerance in pixels (Zhang et al.,
// "Top-down neural attention by excitation backprop", ECCV 2016: a hit when the peak falls within
// 15 px of the annotated object).
const DefaultPointingTolerance = 15

// ErrNoPeak: the map has no finite value to point at.
var ErrNoPeak = errors.New("evaluate: map has no finite value")

// Peak is the pointing game's point: the first maximum of the h×w map in row-major order (NaN
// never wins, so a partly NaN map still points).
func Peak(m []float32, h, w int) (y, x int, err error) {
	if h <= 0 || w <= 0 || len(m) != h*w {
		return 0, 0, fmt.Errorf("evaluate: Peak: %d values for %d×%d", len(m), h, w)
	}
	best, at := float32(math.Inf(-1)), -1
	for i, v := range m {
		if v > best || (at < 0 && v == best) { // a map of −Inf only still has a first maximum
			best, at = v, i
		}
	}
	if at < 0 {
		return 0, 0, ErrNoPeak
	}
	return at / w, at % w, nil
}

// MaskDistance is the Euclidean distance in pixels from (y, x) to the nearest true pixel of the
// h×w mask: 0 inside it, +Inf for an empty mask.
func MaskDistance(mask []bool, h, w, y, x int) float64 {
	best := math.Inf(1)
	for i, on := range mask {
		if !on {
			continue
		}
		dy, dx := float64(i/w-y), float64(i%w-x)
		if d := dy*dy + dx*dx; d < best {
			best = d
			if d == 0 {
				break
			}
		}
	}
	return math.Sqrt(best)
}

// PointingGame counts hits of the pointing game over a dataset: one trial per (image, class
// present in the image), a hit when the map's Peak lies within Tolerance pixels of the class's
// mask (distance ≤ Tolerance; tolerance 0 asks for the peak inside the mask).
type PointingGame struct {
	Tolerance   float64
	Hits, Total int64
}

// Add plays one trial and reports whether it hit and the peak's distance to the mask.
func (p *PointingGame) Add(m []float32, mask []bool, h, w int) (hit bool, dist float64, err error) {
	if len(mask) != h*w {
		return false, 0, fmt.Errorf("%w: mask of %d pixels for a %d×%d map", ErrShape, len(mask), h, w)
	}
	y, x, err := Peak(m, h, w)
	if err != nil {
		return false, 0, err
	}
	dist = MaskDistance(mask, h, w, y, x)
	hit = dist <= p.Tolerance
	p.Total++
	if hit {
		p.Hits++
	}
	return hit, dist, nil
}

// Accuracy is Hits / Total (NaN before any trial).
func (p *PointingGame) Accuracy() float64 { return ratio(p.Hits, p.Total) }
