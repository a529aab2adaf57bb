package surgery

import (
	"context"
	"fmt"

	"github.com/clipsurgery/clipsurgery/gomlx_clip/imageprep"
)

// explainSlide is ExplainPixels with Options.Slide: the similarity of the requested classes is
// averaged over sliding windows at the image's resolution (slide.go), then each target is drawn
// from it. Result.Similarity stays empty (there is no one token grid); a plain target's Map is
// its averaged similarity min-max normalised over the image's pixels; a combined target's Map is
// the mean of its parts' min-max maps, min-maxed again. Points are taken as in the one-window
// pipeline from the averaged similarity resampled (bilinearly) to the model's token grid.
func (e *Explainer) explainSlide(ctx context.Context, p *imageprep.Pixels, plan *plan, res *Result) error {
	wins, err := SlideWindows(p.H, p.W, plan.size, plan.stride)
	if err != nil {
		return err
	}
	cols := plan.targetColumns()
	side := plan.size / e.model.Config.Stride()
	avg := NewSlideAverage(p.H, p.W, len(cols))
	grids := make([][]float32, len(cols))
	for _, win := range wins {
		if err := ctx.Err(); err != nil {
			return err
		}
		feats, err := e.encodeImage(cropPixels(p, win), plan)
		if err != nil {
			return err
		}
		sim, redundant, err := e.similarity(feats, plan)
		if err != nil {
			return err
		}
		res.Redundant = redundant
		for i, c := range cols {
			grids[i] = sim.Column(c)[1:]
		}
		if err := avg.Add(win, grids, side, side); err != nil {
			return err
		}
	}
	planes, err := avg.Average()
	if err != nil {
		return err
	}
	res.Windows = len(wins)
	res.Targets, err = slideTargets(planes, cols, plan, p.RGB().Pix, p.H, p.W, side)
	return err
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
func slideTargets(planes [][]float32, cols []int, p *plan, rgb []uint8, h, w, side int) ([]Target, error) {
	plane := make(map[int][]float32, len(cols))
	for i, c := range cols {
		plane[c] = planes[i]
	}
	out := make([]Target, len(p.targets))
	for i, t := range p.targets {
		out[i] = Target{Text: t.text, Parts: t.parts, Columns: t.columns}
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
		var err error
		if len(t.columns) == 1 {
			out[i].Map = full.Data
			err = minMaxInPlace(out[i].Map)
			if err == nil {
				out[i].Points, out[i].Labels, err = SimilarityMapToPoints(grid.Data, h, w, p.threshold, 2)
			}
		} else {
			out[i].Map, err = normalizedColumnMean(full)
			if err == nil {
				err = minMaxInPlace(out[i].Map)
			}
			if err == nil {
				out[i].Points, out[i].Labels, err = CombinedTargetPoints(grid, h, w, p.threshold)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("surgery: target %q: %w", t.text, err)
		}
		if out[i].OverlayRGB, err = Overlay(rgb, h, w, out[i].Map); err != nil {
			return nil, err
		}
		out[i].Overlay = rgbaImage(out[i].OverlayRGB, h, w)
	}
	return out, nil
}
