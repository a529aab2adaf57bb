package evaluate

import (
	"errors"
	"fmt"
	"math"
)

// IgnoreIndex is the label value that marks pixels no metric counts (Pascal VOC's object
// boundaries and "void"), as mmsegmentation's reduce_zero_label=False datasets use it.
const IgnoreIndex = 255

// Sentinel errors of the metric accumulators.
var (
	ErrShape      = errors.New("evaluate: prediction and label sizes differ")
	ErrPredRange  = errors.New("evaluate: predicted class outside the class list")
	ErrLabelRange = errors.New("evaluate: label value outside the class list (and not 255)")
)

// Confusion accumulates mmsegmentation's intersect_and_union areas over a whole dataset (one
// confusion for all images, not a mean of per-image scores): per class, the pixels where
// prediction and label agree (Intersect), the predicted pixels (Pred), the labelled pixels (Label)
// and Union = Pred + Label − Intersect. Pixels labelled IgnoreIndex count nowhere, whatever is
// predicted there.
type Confusion struct {
	Intersect, Union, Pred, Label []int64
}

// NewConfusion makes an empty accumulator for k classes (1 ≤ k ≤ 255).
func NewConfusion(k int) (*Confusion, error) {
	if k < 1 || k > IgnoreIndex {
		return nil, fmt.Errorf("evaluate: %d classes: want 1..%d", k, IgnoreIndex)
	}
	return &Confusion{Intersect: make([]int64, k), Union: make([]int64, k), Pred: make([]int64, k),
		Label: make([]int64, k)}, nil
}

// NumClasses is the number of classes accumulated.
func (c *Confusion) NumClasses() int { return len(c.Intersect) }

// Add accumulates one image: pred and label are the class indices of the same pixels. The image is
// checked first and counts not at all when a value is out of range.
func (c *Confusion) Add(pred, label []uint8) error {
	if len(pred) != len(label) {
		return fmt.Errorf("%w: %d and %d pixels", ErrShape, len(pred), len(label))
	}
	k := len(c.Intersect)
	for i, l := range label {
		if l != IgnoreIndex && int(l) >= k {
			return fmt.Errorf("%w: %d at pixel %d (%d classes)", ErrLabelRange, l, i, k)
		}
		if int(pred[i]) >= k {
			return fmt.Errorf("%w: %d at pixel %d (%d classes)", ErrPredRange, pred[i], i, k)
		}
	}
	for i, l := range label {
		if l == IgnoreIndex {
			continue
		}
		p := pred[i]
		c.Pred[p]++
		c.Label[l]++
		if p == l {
			c.Intersect[l]++
		}
	}
	for j := range c.Union {
		c.Union[j] = c.Pred[j] + c.Label[j] - c.Intersect[j]
	}
	return nil
}

// SegMetrics are mmsegmentation's IoUMetric results. Per-class values are NaN where undefined:
// IoU where the union is empty (the class is neither predicted nor labelled anywhere), Acc where
// the label area is 0. The means skip NaN (nanmean), so a class predicted but never labelled has
// IoU 0 and counts in mIoU, while it has no accuracy.
type SegMetrics struct {
	IoU, Acc         []float64
	MIoU, MAcc, AAcc float64
}

// Metrics computes the metrics of everything added so far.
func (c *Confusion) Metrics() SegMetrics {
	k := len(c.Intersect)
	m := SegMetrics{IoU: make([]float64, k), Acc: make([]float64, k)}
	var inter, labelled int64
	for j := range k {
		m.IoU[j] = ratio(c.Intersect[j], c.Union[j])
		m.Acc[j] = ratio(c.Intersect[j], c.Label[j])
		inter += c.Intersect[j]
		labelled += c.Label[j]
	}
	m.MIoU, m.MAcc, m.AAcc = nanMean(m.IoU), nanMean(m.Acc), ratio(inter, labelled)
	return m
}

// ratio is a/b, NaN when b is 0.
func ratio(a, b int64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// nanMean is numpy's nanmean: the mean of the non-NaN values, NaN when there are none.
func nanMean(v []float64) float64 {
	s, n := 0.0, 0
	for _, x := range v {
		if !math.IsNaN(x) {
			s += x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}
