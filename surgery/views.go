package surgery

import (
	"context"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
)

// imageViews are one image encoded once for several comparisons (template selection compares it
// with every candidate's classifier): the whole image at the model's input, or each sliding
// window, every one [1+side², D] unit rows. With windows all of them are kept, unlike
// slideAverage, which holds one window at a time.
type imageViews struct {
	h, w, side int
	wins       []Window // nil: the whole image
	feats      []Matrix
}

// encodeViews encodes the image as plan says (plan.slide: every window), returning ctx's error
// between windows once ctx is done.
func (e *Explainer) encodeViews(ctx context.Context, p *imageprep.Pixels, plan *plan) (*imageViews, error) {
	v := &imageViews{h: p.H, w: p.W, side: plan.grid}
	if !plan.slide {
		f, err := e.encodeImage(p, plan)
		if err != nil {
			return nil, err
		}
		v.feats = []Matrix{f}
		return v, nil
	}
	wins, err := SlideWindows(p.H, p.W, plan.size, plan.stride)
	if err != nil {
		return nil, err
	}
	for _, win := range wins {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := e.encodeImage(cropPixels(p, win), plan)
		if err != nil {
			return nil, err
		}
		v.feats = append(v.feats, f)
	}
	v.wins = wins
	return v, nil
}

// planes are PixelSimilarity's planes for the class features text (at least two classes): one
// H×W plane of similarities per class, resized from the whole image's tokens or averaged over
// the windows.
func (v *imageViews) planes(text Matrix, featureSurgery bool) ([][]float32, error) {
	cols := make([]int, text.Rows)
	for i := range cols {
		cols[i] = i
	}
	if v.wins == nil {
		sim, err := compare(v.feats[0], text, nil, featureSurgery)
		if err != nil {
			return nil, err
		}
		return resizeColumns(sim, cols, v.side, v.h, v.w), nil
	}
	avg := NewSlideAverage(v.h, v.w, len(cols))
	for i, win := range v.wins {
		sim, err := compare(v.feats[i], text, nil, featureSurgery)
		if err != nil {
			return nil, err
		}
		if err := addWindow(avg, win, sim, cols, v.side); err != nil {
			return nil, err
		}
	}
	return avg.Average()
}

// resizeColumns resizes the patch similarities of columns cols of sim (token 0 dropped, a
// side×side grid) bilinearly to h×w: one plane per column.
func resizeColumns(sim Matrix, cols []int, side, h, w int) [][]float32 {
	planes := make([][]float32, len(cols))
	for i, c := range cols {
		planes[i] = resizeNCHW(sim.Column(c)[1:], side, side, h, w)
	}
	return planes
}

// addWindow adds the patch similarities of columns cols of one window's sim (a side×side grid)
// to avg.
func addWindow(avg *SlideAverage, win Window, sim Matrix, cols []int, side int) error {
	grids := make([][]float32, len(cols))
	for i, c := range cols {
		grids[i] = sim.Column(c)[1:]
	}
	return avg.Add(win, grids, side, side)
}
