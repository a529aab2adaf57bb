package surgery

import (
	"fmt"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
)

// explainTargets draws every target: map at the original size, overlay on the original RGB, points.
// Only the requested classes are resized (the reference resizes all K and picks).
func explainTargets(sim Matrix, p *plan, presence []float32, rgb []uint8, h, w int) ([]Target, error) {
	var plain []int // classes of the plain targets, resized in one SimilarityMap call
	for _, t := range p.targets {
		if len(t.columns) == 1 {
			plain = append(plain, t.columns[0])
		}
	}
	maps, err := SimilarityMap(sim, plain, h, w)
	if err != nil {
		return nil, fmt.Errorf("surgery: similarity map: %w", err)
	}
	next := 0
	return drawTargets(p, presence, rgb, h, w, func(t targetSpec, out *Target) (err error) {
		sm := patchColumns(sim, t.columns)
		if len(t.columns) == 1 {
			out.Map = maps[next]
			next++
		} else if out.Map, err = CombinedTargetMap(sm, h, w); err != nil {
			return err
		}
		if !out.Absent {
			out.Points, err = targetPoints(sm, h, w, p.threshold)
		}
		return err
	})
}

// drawTargets makes one Target per planned target: its presence and the gate's verdict are set
// here from the class presences (nil = not computed), draw fills its Map and, unless Absent, its
// Points, and the overlay of the Map on the original RGB (H×W×3) is added here.
func drawTargets(p *plan, presence []float32, rgb []uint8, h, w int, draw func(t targetSpec, out *Target) error) ([]Target, error) {
	out := make([]Target, len(p.targets))
	for i, t := range p.targets {
		out[i] = Target{Text: t.text, Parts: t.parts, Columns: t.columns, Presence: targetPresence(presence, t.columns)}
		out[i].Absent = p.gate > 0 && !(out[i].Presence >= p.gate) // a gate without presences lets nothing through
		err := draw(t, &out[i])
		if err != nil {
			return nil, fmt.Errorf("surgery: target %q: %w", t.text, err)
		}
		if out[i].OverlayRGB, err = Overlay(rgb, h, w, out[i].Map); err != nil {
			return nil, err
		}
		out[i].Overlay = (&imageprep.RGB{W: w, H: h, Pix: out[i].OverlayRGB}).Image()
	}
	return out, nil
}

// targetPoints are a target's SAM point prompts from the patch similarities of its parts sm
// [N−1, k]: demo.py's points of the one column for a plain target (k = 1), CombinedTargetPoints
// for a combined one.
func targetPoints(sm Matrix, h, w int, threshold float32) ([]Point, error) {
	if sm.Cols == 1 {
		return SimilarityMapToPoints(sm.Data, h, w, threshold, 2)
	}
	return CombinedTargetPoints(sm, h, w, threshold)
}

// patchColumns is sim[1:, columns]: the patch similarities of a combined target's parts [N−1, k].
func patchColumns(sim Matrix, columns []int) Matrix {
	sm := NewMatrix(sim.Rows-1, len(columns))
	for r := 1; r < sim.Rows; r++ {
		for j, c := range columns {
			sm.Data[(r-1)*sm.Cols+j] = sim.At(r, c)
		}
	}
	return sm
}

// CombinedTargetMap is the map drawn for a combined target ("person+bench"): the reference's sm_mean
// (mean over the parts of their min-max normalised patch similarities sm [N−1, k], the map whose low
// points CombinedTargetPoints uses as negatives) through SimilarityMap, i.e. min-maxed again and
// resized to h×w. demo.py draws no map for this case; this one shows where any of the parts is.
func CombinedTargetMap(sm Matrix, h, w int) ([]float32, error) {
	mean, err := normalizedColumnMean(sm)
	if err != nil {
		return nil, err
	}
	// SimilarityMap expects a class token in row 0; it is dropped, so any value will do.
	col := Matrix{Rows: len(mean) + 1, Cols: 1, Data: append([]float32{0}, mean...)}
	maps, err := SimilarityMap(col, []int{0}, h, w)
	if err != nil {
		return nil, err
	}
	return maps[0], nil
}
