package surgery

import (
	"errors"
	"fmt"
)

// Sliding-window inference, mmsegmentation's "slide" test mode as SCLIP, ClearCLIP and NACLIP
// evaluate with (their forward_slide): square windows of the model's input side are moved over
// the image at its own resolution with a stride; each window is encoded on its own (its own class
// token, so feature surgery is per window too), its patch similarities are resized bilinearly
// (align_corners=False) to the window's pixels and added in; where windows overlap the sum is
// divided by the number of windows. Only one window is encoded at a time, so the encoder's memory
// does not grow with the image; the pasted maps hold one float32 plane per requested class.

// Window is one sliding window's pixel rectangle [X0, X1) × [Y0, Y1) in the image.
type Window struct{ X0, Y0, X1, Y1 int }

// SlideWindows lists mmsegmentation's windows over an h×w image, row by row: per axis
// n = max(size − win + stride − 1, 0)/stride + 1 windows, the i-th ending at min(i·stride + win,
// size) and starting win before that (at 0 when the image is smaller than the window, which is
// then the whole axis).
func SlideWindows(h, w, win, stride int) ([]Window, error) {
	if h <= 0 || w <= 0 || win <= 0 || stride <= 0 {
		return nil, fmt.Errorf("surgery: sliding windows of side %d, stride %d over %d×%d: sizes must be positive", win, stride, w, h)
	}
	if stride > win {
		return nil, fmt.Errorf("surgery: stride %d is larger than the window %d: pixels between windows would have no value", stride, win)
	}
	ys, xs := slideStarts(h, win, stride), slideStarts(w, win, stride)
	out := make([]Window, 0, len(ys)*len(xs))
	for _, y := range ys {
		for _, x := range xs {
			out = append(out, Window{X0: x, Y0: y, X1: min(x+win, w), Y1: min(y+win, h)})
		}
	}
	return out, nil
}

func slideStarts(size, win, stride int) []int {
	n := max(size-win+stride-1, 0)/stride + 1
	starts := make([]int, n)
	for i := range starts {
		end := min(i*stride+win, size)
		starts[i] = max(end-win, 0)
	}
	return starts
}

// SlideAverage accumulates per-window similarity grids at image resolution and averages them.
type SlideAverage struct {
	H, W  int
	sum   [][]float32 // per class, H×W
	count []int32     // windows covering each pixel
}

// NewSlideAverage makes an accumulator for k classes over an h×w image.
func NewSlideAverage(h, w, k int) *SlideAverage {
	a := &SlideAverage{H: h, W: w, sum: make([][]float32, k), count: make([]int32, h*w)}
	for i := range a.sum {
		a.sum[i] = make([]float32, h*w)
	}
	return a
}

// Add resizes each class's gh×gw grid (row-major, one per class) bilinearly to the window and adds
// it in.
func (a *SlideAverage) Add(win Window, grids [][]float32, gh, gw int) error {
	if len(grids) != len(a.sum) {
		return fmt.Errorf("surgery: %d similarity grids for %d classes", len(grids), len(a.sum))
	}
	if win.X0 < 0 || win.Y0 < 0 || win.X1 > a.W || win.Y1 > a.H || win.X0 >= win.X1 || win.Y0 >= win.Y1 {
		return fmt.Errorf("surgery: window %+v outside the %d×%d image", win, a.W, a.H)
	}
	wh, ww := win.Y1-win.Y0, win.X1-win.X0
	for k, g := range grids {
		if len(g) != gh*gw {
			return fmt.Errorf("surgery: similarity grid of %d values for %d×%d", len(g), gh, gw)
		}
		up := resizeNCHW(g, gh, gw, wh, ww)
		for y := 0; y < wh; y++ {
			row := a.sum[k][(win.Y0+y)*a.W+win.X0 : (win.Y0+y)*a.W+win.X1]
			for x, v := range up[y*ww : (y+1)*ww] {
				row[x] += v
			}
		}
	}
	for y := win.Y0; y < win.Y1; y++ {
		for x := win.X0; x < win.X1; x++ {
			a.count[y*a.W+x]++
		}
	}
	return nil
}

// ErrUncovered is returned by SlideAverage.Average when some pixel is in no window.
var ErrUncovered = errors.New("surgery: sliding windows leave pixels uncovered")

// Average divides the sums by the window counts in place and returns one H×W plane per class.
func (a *SlideAverage) Average() ([][]float32, error) {
	for _, c := range a.count {
		if c == 0 {
			return nil, ErrUncovered
		}
	}
	for _, s := range a.sum {
		for i, c := range a.count {
			s[i] /= float32(c)
		}
	}
	return a.sum, nil
}
