package surgery

import (
	"context"
	"errors"
	"fmt"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
)

// explainSlide is ExplainPixels with Options.Slide: the similarity of the requested classes is
// averaged over sliding windows at the image's resolution (slide.go), then each target is drawn
// from it. Result.Similarity stays empty (there is no one token grid); a plain target's Map is
// its averaged similarity min-max normalised over the image's pixels; a combined target's Map is
// the mean of its parts' min-max maps, min-maxed again. Points are taken as in the one-window
// pipeline from the averaged similarity resampled (bilinearly) to the model's token grid.
func (e *Explainer) explainSlide(ctx context.Context, p *imageprep.Pixels, plan *plan, res *Result) error {
	cols := plan.targetColumns()
	planes, err := e.slideAverage(ctx, p, plan, cols, res)
	if err != nil {
		return err
	}
	res.Targets, err = slideTargets(planes, cols, plan, res.Presence, p.RGB().Pix, p.H, p.W, plan.grid)
	return err
}

// slideAverage encodes the windows one after another and returns the averaged similarity of the
// similarity columns cols, one H×W plane each; it sets res.Windows, res.Stride and res.Redundant.
func (e *Explainer) slideAverage(ctx context.Context, p *imageprep.Pixels, plan *plan, cols []int, res *Result) ([][]float32, error) {
	wins, err := SlideWindows(p.H, p.W, plan.size, plan.stride)
	if err != nil {
		return nil, err
	}
	side := plan.grid
	avg := NewSlideAverage(p.H, p.W, len(cols))
	for _, win := range wins {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		feats, err := e.encodeImage(cropPixels(p, win), plan)
		if err != nil {
			return nil, err
		}
		sim, redundant, err := e.similarity(ctx, feats, plan)
		if err != nil {
			return nil, err
		}
		res.Redundant = redundant
		if err := addWindow(avg, win, sim, cols, side); err != nil {
			return nil, err
		}
	}
	res.Windows, res.Stride = len(wins), plan.stride
	return avg.Average()
}

// PixelSimilarity returns the similarity of every class of the label set (opt.Labels; nil = the
// demo classes) at the image's resolution, one row-major H×W plane per class, not normalised: the
// per-pixel logits of mmsegmentation's inference for a per-pixel argmax over classes. With
// opt.Slide they are the sliding-window average; otherwise the whole image's token similarities
// resized bilinearly (align_corners=False) to H×W. Method, FeatureSurgery, Size, Templates and
// Stride apply as in Explain; single-text mode has no label set and is refused. Memory: K·H·W
// float32 besides one window's encoder. The returned Result carries the method, windows and
// classes (no targets).
func (e *Explainer) PixelSimilarity(ctx context.Context, p *imageprep.Pixels, opt Options) (planes [][]float32, res *Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			planes, res, err = nil, nil, fmt.Errorf("surgery: PixelSimilarity: internal error: %v", r)
		}
	}()
	if p == nil || p.W <= 0 || p.H <= 0 || len(p.Pix) != p.W*p.H*p.C {
		return nil, nil, errors.New("surgery: PixelSimilarity: empty or malformed pixels")
	}
	if opt.Single {
		return nil, nil, errors.New("surgery: PixelSimilarity needs a label set, not single-text mode")
	}
	labels := opt.Labels
	if labels == nil {
		labels = DemoClasses()
	}
	if len(labels) == 0 {
		return nil, nil, errors.New("surgery: empty label set (nil means the 59 demo classes)")
	}
	plan, err := e.plan(labels[:1], opt) // checks the options and the label set
	if err != nil {
		return nil, nil, err
	}
	cols := make([]int, len(plan.classes))
	for i := range cols {
		cols[i] = i
	}
	res = &Result{Width: p.W, Height: p.H, Size: plan.size, Method: plan.method, Modifiers: plan.modifiers, FeatureSurgery: plan.featureSurgery,
		Classes: plan.classes}
	if plan.slide {
		planes, err = e.slideAverage(ctx, p, plan, cols, res)
		return planes, res, err
	}
	feats, err := e.encodeImage(p, plan)
	if err != nil {
		return nil, nil, err
	}
	sim, redundant, err := e.similarity(ctx, feats, plan)
	if err != nil {
		return nil, nil, err
	}
	res.Redundant = redundant
	return resizeColumns(sim, cols, plan.grid, p.H, p.W), res, nil
}

// targetColumns lists the distinct similarity columns the targets use, in first-use order.
func (p *plan) targetColumns() []int {
	var cols []int
	seen := map[int]bool{}
	for _, t := range p.targets {
		for _, c := range t.columns {
			if !seen[c] {
				seen[c] = true
				cols = append(cols, c)
			}
		}
	}
	return cols
}

// cropPixels copies one window out of p.
func cropPixels(p *imageprep.Pixels, w Window) *imageprep.Pixels {
	out := &imageprep.Pixels{W: w.X1 - w.X0, H: w.Y1 - w.Y0, C: p.C}
	out.Pix = make([]uint8, 0, out.W*out.H*p.C)
	for y := w.Y0; y < w.Y1; y++ {
		out.Pix = append(out.Pix, p.Pix[(y*p.W+w.X0)*p.C:(y*p.W+w.X1)*p.C]...)
	}
	return out
}

// slideTargets draws every target from the averaged planes (one H×W plane per column of cols).
func slideTargets(planes [][]float32, cols []int, p *plan, presence []float32, rgb []uint8, h, w, side int) ([]Target, error) {
	plane := make(map[int][]float32, len(cols))
	for i, c := range cols {
		plane[c] = planes[i]
	}
	return drawTargets(p, presence, rgb, h, w, func(t targetSpec, out *Target) (err error) {
		grid := NewMatrix(side*side, len(t.columns)) // points: the averaged map on the token grid
		full := NewMatrix(h*w, len(t.columns))
		for j, c := range t.columns {
			g := resizeNCHW(plane[c], h, w, side, side)
			for r := range g {
				grid.Data[r*grid.Cols+j] = g[r]
			}
			for r, v := range plane[c] {
				full.Data[r*full.Cols+j] = v
			}
		}
		if len(t.columns) == 1 {
			out.Map = full.Data
		} else if out.Map, err = normalizedColumnMean(full); err != nil {
			return err
		}
		if err = minMaxInPlace(out.Map); err != nil {
			return err
		}
		if !out.Absent {
			out.Points, err = targetPoints(grid, h, w, p.threshold)
		}
		return err
	})
}
