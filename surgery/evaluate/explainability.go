package evaluate

import (
	"fmt"
	"math"
	"slices"
)

// Explainability metrics of CLIP Surgery (Li et al., "A closer look at the explainability of
// Contrastive Language-Image Pre-training", Pattern Recognition 2025, arXiv:2304.05653, §5.1:
// explainability on VOC 2012 / COCO / Cityscapes with mIoU and mSC). Neither the paper's
// evaluation code nor a formula we could read was released (the authors answer questions about it
// with images of equations: xmed-lab/CLIP_Surgery issues #17, #27, #32), so this is what the
// paper's text and the authors' issue answers say, with the open choices stated:
//
//   - Only the classes present in an image are evaluated ("each positive label is evaluated
//     independently", issue #17), each on its own map — no argmax between classes. The map is the
//     one the method draws: min-max normalised to [0, 1] and resized to the image
//     (surgery.SimilarityMap). The background class and IgnoreIndex pixels are not evaluated.
//   - mIoU: the map binarised at a threshold t (map ≥ t) against the class's mask; intersection and
//     union accumulated per class over the dataset (as for segmentation), IoU per class, mean over
//     classes. "With a grid search threshold to identify the foreground" (paper §5.1.3, issue
//     #17): all thresholds of Thresholds are evaluated and the best mIoU is reported with its t
//     (one t for all classes of a method; assumption: per method, not per class or image).
//   - mSC, the mean score contrast: for one (image, class) pair, the mean map value over the
//     class's pixels minus the mean over the other labelled pixels; averaged per class over its
//     pairs, then over classes (assumption: class mean, like mIoU). A pair whose class covers every
//     labelled pixel has no background and is left out.

// DefaultExplainThresholds is the threshold grid: 0.05, 0.10, …, 0.95.
func DefaultExplainThresholds() []float32 {
	t := make([]float32, 19)
	for i := range t {
		t[i] = float32(i+1) / 20
	}
	return t
}

// Explainability accumulates the explainability mIoU (for every threshold) and the score contrast.
type Explainability struct {
	thresholds []float32 // ascending
	inter      [][]int64 // [threshold][class]
	union      [][]int64
	scSum      []exactSum // per class: sum of pair score contrasts, exact (order-free merges)
	scN        []int64
}

// NewExplainability makes an accumulator for k classes and the threshold grid (nil = the default;
// values in (0, 1], distinct).
func NewExplainability(k int, thresholds []float32) (*Explainability, error) {
	if k < 1 || k > IgnoreIndex {
		return nil, fmt.Errorf("evaluate: %d classes: want 1..%d", k, IgnoreIndex)
	}
	if thresholds == nil {
		thresholds = DefaultExplainThresholds()
	}
	ts := slices.Clone(thresholds)
	slices.Sort(ts)
	if len(ts) == 0 || len(slices.Compact(slices.Clone(ts))) != len(ts) {
		return nil, fmt.Errorf("evaluate: explainability thresholds %v: want distinct values in (0, 1]", thresholds)
	}
	for _, t := range ts {
		if !(t > 0 && t <= 1) {
			return nil, fmt.Errorf("evaluate: explainability threshold %v: want a value in (0, 1]", t)
		}
	}
	e := &Explainability{thresholds: ts, scSum: make([]exactSum, k), scN: make([]int64, k)}
	for range ts {
		e.inter = append(e.inter, make([]int64, k))
		e.union = append(e.union, make([]int64, k))
	}
	return e, nil
}

// Add evaluates the map m (values in [0, 1]) of class c against the image's label map.
func (e *Explainability) Add(c int, m []float32, label []uint8) error {
	k := len(e.scSum)
	if c < 0 || c >= k {
		return fmt.Errorf("evaluate: class %d outside %d classes", c, k)
	}
	if len(m) != len(label) {
		return fmt.Errorf("%w: map of %d pixels, label of %d", ErrShape, len(m), len(label))
	}
	// Histogram the map over the threshold grid: bucket b holds the values with exactly b
	// thresholds ≤ value, so "≥ t_i" is the suffix from bucket i+1.
	nt := len(e.thresholds)
	fg, bg := make([]int64, nt+1), make([]int64, nt+1)
	var fgSum, bgSum float64
	var fgN, bgN int64
	for i, l := range label {
		if l == IgnoreIndex {
			continue
		}
		v := m[i]
		if v != v {
			return fmt.Errorf("evaluate: class %d: NaN in the map", c)
		}
		b, _ := slices.BinarySearch(e.thresholds, v)
		if b < nt && e.thresholds[b] == v {
			b++ // v ≥ t_b too
		}
		if int(l) == c {
			fg[b]++
			fgSum += float64(v)
			fgN++
		} else {
			bg[b]++
			bgSum += float64(v)
			bgN++
		}
	}
	if fgN == 0 {
		return nil // the class is not present (or only under ignored pixels): nothing to evaluate
	}
	sc := 0.0
	if bgN > 0 {
		sc = fgSum/float64(fgN) - bgSum/float64(bgN)
		if !finite(sc) {
			return fmt.Errorf("evaluate: class %d: infinite value in the map", c)
		}
	}
	var fgOn, bgOn int64
	for i := nt - 1; i >= 0; i-- {
		fgOn += fg[i+1]
		bgOn += bg[i+1]
		e.inter[i][c] += fgOn
		e.union[i][c] += fgN + bgOn
	}
	if bgN > 0 {
		e.scSum[c].add(sc)
		e.scN[c]++
	}
	return nil
}

// ExplainMetrics are the explainability results.
type ExplainMetrics struct {
	Thresholds    []float32 // the grid, ascending
	MIoUCurve     []float64 // mIoU at each threshold
	BestThreshold float32   // the grid search's choice
	MIoU          float64   // mIoU at BestThreshold
	IoU           []float64 // per class at BestThreshold (NaN: class never present)
	SC            []float64 // per class mean score contrast (NaN: no pair)
	MSC           float64
}

// Metrics computes the results of everything added so far.
func (e *Explainability) Metrics() ExplainMetrics {
	k := len(e.scSum)
	r := ExplainMetrics{Thresholds: slices.Clone(e.thresholds), MIoU: math.NaN(), SC: make([]float64, k)}
	best := -1
	for i := range e.thresholds {
		iou := make([]float64, k)
		for c := range k {
			iou[c] = ratio(e.inter[i][c], e.union[i][c])
		}
		m := nanMean(iou)
		r.MIoUCurve = append(r.MIoUCurve, m)
		if !math.IsNaN(m) && (best < 0 || m > r.MIoU) {
			best, r.MIoU, r.IoU = i, m, iou
		}
	}
	if best >= 0 {
		r.BestThreshold = e.thresholds[best]
	} else {
		r.IoU = make([]float64, k)
		for c := range r.IoU {
			r.IoU[c] = math.NaN()
		}
	}
	for c := range k {
		r.SC[c] = math.NaN()
		if e.scN[c] > 0 {
			r.SC[c] = e.scSum[c].value() / float64(e.scN[c])
		}
	}
	r.MSC = nanMean(r.SC)
	return r
}
