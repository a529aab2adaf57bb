package evaluate

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
)

// ErrMerge: two reports of different evaluations (classes, methods, thresholds, tolerance or
// inference mode differ) cannot be merged.
var ErrMerge = errors.New("evaluate: reports of different evaluations")

// Merge adds o (a report of other images of the same evaluation, e.g. Evaluator.Image's) to r.
// Areas and counts are integer sums and the score-contrast sums are exact, so merging reports in
// any order or grouping gives the same report; Skips keeps the first MaxSkipReasons in dataset
// order. Seconds and TextSeconds add up (time spent, not elapsed). Call Finish for the metrics.
func (r *Report) Merge(o *Report) error {
	if err := r.compatible(o); err != nil {
		return err
	}
	for j, m := range r.Methods {
		om := o.Methods[j]
		for _, a := range [][2][]int64{{m.Areas.Intersect, om.Areas.Intersect}, {m.Areas.Union, om.Areas.Union},
			{m.Areas.Pred, om.Areas.Pred}, {m.Areas.Label, om.Areas.Label}} {
			addInts(a[0], a[1])
		}
		m.explain.merge(om.explain)
		m.Pointing.Hits += om.Pointing.Hits
		m.Pointing.Total += om.Pointing.Total
		m.Seconds += om.Seconds
	}
	r.Listed += o.Listed
	r.Evaluated += o.Evaluated
	r.SkipCount += o.SkipCount
	r.Skips = append(r.Skips, o.Skips...)
	slices.SortStableFunc(r.Skips, func(a, b Skip) int { return a.index - b.index })
	r.Skips = r.Skips[:min(len(r.Skips), MaxSkipReasons)]
	r.Seconds += o.Seconds
	r.TextSeconds += o.TextSeconds
	r.Interrupted = r.Interrupted || o.Interrupted
	if r.Size == 0 {
		r.Size, r.Stride = o.Size, o.Stride
	}
	return nil
}

// compatible checks that o accumulates the same quantities as r.
func (r *Report) compatible(o *Report) error {
	if len(r.Classes) != len(o.Classes) || len(r.Methods) != len(o.Methods) || r.Slide != o.Slide {
		return fmt.Errorf("%w: %d and %d classes, %d and %d methods", ErrMerge, len(r.Classes), len(o.Classes),
			len(r.Methods), len(o.Methods))
	}
	if (r.Protocol == nil) != (o.Protocol == nil) || r.Protocol != nil && !reflect.DeepEqual(*r.Protocol, *o.Protocol) {
		return fmt.Errorf("%w: protocols %s and %s", ErrMerge, protocolName(r.Protocol), protocolName(o.Protocol))
	}
	for j, m := range r.Methods {
		om := o.Methods[j]
		if m.Method != om.Method || m.Pointing.Tolerance != om.Pointing.Tolerance ||
			!slices.Equal(m.explain.thresholds, om.explain.thresholds) || m.Areas.NumClasses() != om.Areas.NumClasses() ||
			len(m.explain.scSum) != len(om.explain.scSum) {
			return fmt.Errorf("%w: method %s and %s (pointing tolerance, thresholds or classes)", ErrMerge, m.Method, om.Method)
		}
	}
	return nil
}

func addInts(dst, src []int64) {
	for i, v := range src {
		dst[i] += v
	}
}

// merge adds o's areas and sums (same classes and thresholds: checked by compatible).
func (e *Explainability) merge(o *Explainability) {
	for i := range e.thresholds {
		addInts(e.inter[i], o.inter[i])
		addInts(e.union[i], o.union[i])
	}
	for c := range e.scSum {
		e.scSum[c].merge(o.scSum[c])
	}
	addInts(e.scN, o.scN)
}

// reportState is a Report's accumulated state as MarshalState writes it (JSON): what Merge
// needs, not the metrics (Finish recomputes them).
type reportState struct {
	Dataset     string        `json:"dataset"`
	Layout      Layout        `json:"layout"`
	Protocol    *Protocol     `json:"protocol,omitempty"`
	Slide       bool          `json:"slide"`
	Size        int           `json:"size"`
	Stride      int           `json:"stride"`
	Classes     []Class       `json:"classes"`
	Listed      int           `json:"listed"`
	Evaluated   int           `json:"evaluated"`
	SkipCount   int           `json:"skip_count"`
	Skips       []skipState   `json:"skips"`
	Interrupted bool          `json:"interrupted"`
	Seconds     float64       `json:"seconds"`
	TextSeconds float64       `json:"text_seconds"`
	Methods     []methodState `json:"methods"`
}

type skipState struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
	Index  int    `json:"index"`
}

type methodState struct {
	Method     clip.Method `json:"method"`
	Areas      *Confusion  `json:"areas"`
	Tolerance  float64     `json:"tolerance"`
	Hits       int64       `json:"hits"`
	Total      int64       `json:"total"`
	Seconds    float64     `json:"seconds"`
	Thresholds []float32   `json:"thresholds"`
	Inter      [][]int64   `json:"explain_intersect"`
	Union      [][]int64   `json:"explain_union"`
	SCSum      []exactSum  `json:"sc_sum"`
	SCCount    []int64     `json:"sc_count"`
}

// MarshalState encodes the report's accumulated state (areas, counts, exact sums, skips): a
// report shipped between machines and decoded by UnmarshalState merges as the original. (Not
// MarshalBinary: gob and other encoders keep encoding a Report's exported fields, metrics
// included, as notebooks/nbutil stores a run.)
func (r *Report) MarshalState() ([]byte, error) {
	st := reportState{Dataset: r.Dataset, Layout: r.Layout, Protocol: r.Protocol, Slide: r.Slide, Size: r.Size, Stride: r.Stride,
		Classes: r.Classes, Listed: r.Listed, Evaluated: r.Evaluated, SkipCount: r.SkipCount,
		Interrupted: r.Interrupted, Seconds: r.Seconds, TextSeconds: r.TextSeconds}
	for _, s := range r.Skips {
		st.Skips = append(st.Skips, skipState{ID: s.ID, Reason: s.Reason, Index: s.index})
	}
	for _, m := range r.Methods {
		e := m.explain
		st.Methods = append(st.Methods, methodState{Method: m.Method, Areas: m.Areas, Tolerance: m.Pointing.Tolerance,
			Hits: m.Pointing.Hits, Total: m.Pointing.Total, Seconds: m.Seconds, Thresholds: e.thresholds,
			Inter: e.inter, Union: e.union, SCSum: e.scSum, SCCount: e.scN})
	}
	return json.Marshal(st)
}

// UnmarshalState decodes what MarshalState wrote, checking that the sizes agree.
func (r *Report) UnmarshalState(data []byte) error {
	var st reportState
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("evaluate: report state: %w", err)
	}
	out := Report{Dataset: st.Dataset, Layout: st.Layout, Protocol: st.Protocol, Slide: st.Slide, Size: st.Size, Stride: st.Stride,
		Classes: st.Classes, Listed: st.Listed, Evaluated: st.Evaluated, SkipCount: st.SkipCount,
		Interrupted: st.Interrupted, Seconds: st.Seconds, TextSeconds: st.TextSeconds}
	for _, s := range st.Skips {
		out.Skips = append(out.Skips, Skip{ID: s.ID, Reason: s.Reason, index: s.Index})
	}
	k := len(st.Classes)
	for _, m := range st.Methods {
		nt := len(m.Thresholds)
		if m.Areas == nil || m.Areas.NumClasses() != k || len(m.Areas.Union) != k || len(m.Areas.Pred) != k ||
			len(m.Areas.Label) != k || len(m.Inter) != nt || len(m.Union) != nt || len(m.SCSum) != k || len(m.SCCount) != k {
			return fmt.Errorf("evaluate: report state of method %s: sizes disagree with %d classes", m.Method, k)
		}
		for i := range nt {
			if len(m.Inter[i]) != k || len(m.Union[i]) != k {
				return fmt.Errorf("evaluate: report state of method %s: sizes disagree with %d classes", m.Method, k)
			}
		}
		e := &Explainability{thresholds: m.Thresholds, inter: m.Inter, union: m.Union, scSum: m.SCSum, scN: m.SCCount}
		out.Methods = append(out.Methods, &MethodReport{Method: m.Method, Areas: m.Areas, explain: e,
			Pointing: PointingGame{Tolerance: m.Tolerance, Hits: m.Hits, Total: m.Total}, Seconds: m.Seconds})
	}
	*r = out
	return nil
}

// protocolName names a report's protocol in a merge error ("none" without one).
func protocolName(p *Protocol) string {
	if p == nil {
		return "none"
	}
	return string(p.Peer) + " on " + p.Benchmark
}
