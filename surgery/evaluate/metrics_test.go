package evaluate

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// A 2×3 image worked by hand: classes 0, 1, 2 (2 never labelled), one ignored pixel.
//
//	label: 0 0 1      pred: 0 1 1
//	       1 1 255          2 1 0
//
// class 0: pred {0,5}→ only pixel 0 counts (5 is ignored): I=1 P=1 L=2 U=2
// class 1: pred {1,2,4} L {2,3,4}: I=2 P=3 L=3 U=4
// class 2: pred {3}: I=0 P=1 L=0 U=1
func TestConfusionByHand(t *testing.T) {
	c, err := NewConfusion(3)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Add([]uint8{0, 1, 1, 2, 1, 0}, []uint8{0, 0, 1, 1, 1, 255}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]int64{"I": {1, 2, 0}, "U": {2, 4, 1}, "P": {1, 3, 1}, "L": {2, 3, 0}}
	got := map[string][]int64{"I": c.Intersect, "U": c.Union, "P": c.Pred, "L": c.Label}
	for k := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(want[k]) {
			t.Errorf("%s = %v, want %v", k, got[k], want[k])
		}
	}
	m := c.Metrics()
	near := func(name string, g, w float64) {
		if math.Abs(g-w) > 1e-15 {
			t.Errorf("%s = %v, want %v", name, g, w)
		}
	}
	near("IoU0", m.IoU[0], 0.5)
	near("IoU1", m.IoU[1], 0.5)
	near("IoU2", m.IoU[2], 0) // predicted, never labelled: 0 and it counts
	near("mIoU", m.MIoU, 1.0/3)
	if !math.IsNaN(m.Acc[2]) {
		t.Errorf("Acc of an unlabelled class = %v, want NaN", m.Acc[2])
	}
	near("mAcc", m.MAcc, (0.5+2.0/3)/2)
	near("aAcc", m.AAcc, 3.0/5)
}

func TestConfusionRejects(t *testing.T) {
	c, _ := NewConfusion(3)
	for _, tc := range []struct {
		name        string
		pred, label []uint8
		want        error
	}{
		{"sizes", []uint8{0}, []uint8{0, 1}, ErrShape},
		{"label out of range", []uint8{0, 0}, []uint8{0, 3}, ErrLabelRange},
		{"pred out of range", []uint8{0, 7}, []uint8{0, 1}, ErrPredRange},
	} {
		if err := c.Add(tc.pred, tc.label); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, n := range c.Label {
		if n != 0 {
			t.Fatalf("a rejected image was counted: %v", c.Label)
		}
	}
	for _, k := range []int{0, 256} {
		if _, err := NewConfusion(k); err == nil {
			t.Errorf("NewConfusion(%d): no error", k)
		}
	}
}

type evalGolden struct {
	NumClasses int `json:"num_classes"`
	Cases      []struct {
		Label, Pred string
		Shape       []int
	}
	AreaIntersect []int64    `json:"area_intersect"`
	AreaUnion     []int64    `json:"area_union"`
	AreaPred      []int64    `json:"area_pred"`
	AreaLabel     []int64    `json:"area_label"`
	IoU           []*float64 `json:"iou"`
	Acc           []*float64 `json:"acc"`
	MIoU          float64    `json:"mIoU"`
	MAcc          float64    `json:"mAcc"`
	AAcc          float64    `json:"aAcc"`
	PointingGame  struct {
		Pairs []struct {
			Map, Mask string
			PeakYX    []int   `json:"peak_yx"`
			Distance  float64 `json:"distance"`
			HitTol0   bool    `json:"hit_tol0"`
			HitTol15  bool    `json:"hit_tol15"`
		}
		AccuracyTol0  float64 `json:"accuracy_tol0"`
		AccuracyTol15 float64 `json:"accuracy_tol15"`
	} `json:"pointing_game"`
}

func loadEvalGolden(t *testing.T) *evalGolden {
	data, err := os.ReadFile(goldens.Path(t, "eval", "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g evalGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return &g
}

// The golden README: per-class areas exact, metrics to 1e-12.
func TestSegMetricsGolden(t *testing.T) {
	g := loadEvalGolden(t)
	c, err := NewConfusion(g.NumClasses)
	if err != nil {
		t.Fatal(err)
	}
	for _, cs := range g.Cases {
		lab, pred := goldens.Load(t, "eval/"+cs.Label), goldens.Load(t, "eval/"+cs.Pred)
		if fmt.Sprint(lab.Shape) != fmt.Sprint(cs.Shape) || lab.U8 == nil || pred.U8 == nil {
			t.Fatalf("%s: shape %v dtype %s", cs.Label, lab.Shape, lab.DType)
		}
		if err := c.Add(pred.U8, lab.U8); err != nil {
			t.Fatalf("%s: %v", cs.Label, err)
		}
	}
	for name, p := range map[string][2][]int64{"intersect": {c.Intersect, g.AreaIntersect},
		"union": {c.Union, g.AreaUnion}, "pred": {c.Pred, g.AreaPred}, "label": {c.Label, g.AreaLabel}} {
		if fmt.Sprint(p[0]) != fmt.Sprint(p[1]) {
			t.Errorf("area_%s = %v, golden %v", name, p[0], p[1])
		}
	}
	m := c.Metrics()
	check := func(name string, got float64, want *float64) {
		t.Helper()
		if want == nil {
			if !math.IsNaN(got) {
				t.Errorf("%s = %v, golden null", name, got)
			}
			return
		}
		if math.Abs(got-*want) > 1e-12 {
			t.Errorf("%s = %.17g, golden %.17g", name, got, *want)
		}
	}
	for k := range g.NumClasses {
		check(fmt.Sprint("iou ", k), m.IoU[k], g.IoU[k])
		check(fmt.Sprint("acc ", k), m.Acc[k], g.Acc[k])
	}
	check("mIoU", m.MIoU, &g.MIoU)
	check("mAcc", m.MAcc, &g.MAcc)
	check("aAcc", m.AAcc, &g.AAcc)
}

func TestPointingGameGolden(t *testing.T) {
	g := loadEvalGolden(t)
	pg0, pg15 := PointingGame{Tolerance: 0}, PointingGame{Tolerance: DefaultPointingTolerance}
	for _, p := range g.PointingGame.Pairs {
		m, mk := goldens.Load(t, "eval/"+p.Map), goldens.Load(t, "eval/"+p.Mask)
		h, w := m.Shape[0], m.Shape[1]
		mask := make([]bool, len(mk.U8))
		for i, v := range mk.U8 {
			mask[i] = v != 0
		}
		y, x, err := Peak(m.F32, h, w)
		if err != nil || y != p.PeakYX[0] || x != p.PeakYX[1] {
			t.Errorf("%s: peak (%d, %d) %v, golden %v", p.Map, y, x, err, p.PeakYX)
		}
		hit0, d, err := pg0.Add(m.F32, mask, h, w)
		if err != nil || math.Abs(d-p.Distance) > 1e-12 || hit0 != p.HitTol0 {
			t.Errorf("%s: distance %v hit %v %v, golden %v %v", p.Map, d, hit0, err, p.Distance, p.HitTol0)
		}
		if hit15, _, _ := pg15.Add(m.F32, mask, h, w); hit15 != p.HitTol15 {
			t.Errorf("%s: hit@15 %v, golden %v", p.Map, hit15, p.HitTol15)
		}
	}
	if pg0.Total != int64(len(g.PointingGame.Pairs)) || math.Abs(pg0.Accuracy()-g.PointingGame.AccuracyTol0) > 1e-12 ||
		math.Abs(pg15.Accuracy()-g.PointingGame.AccuracyTol15) > 1e-12 {
		t.Errorf("accuracy %v / %v over %d, golden %v / %v", pg0.Accuracy(), pg15.Accuracy(), pg0.Total,
			g.PointingGame.AccuracyTol0, g.PointingGame.AccuracyTol15)
	}
}

func TestPeakByHand(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		m          []float32
		h, w, y, x int
	}{
		{[]float32{0, 3, 1, 3}, 2, 2, 0, 1},     // first maximum in row-major order
		{[]float32{nan, 1, 2, nan}, 2, 2, 1, 0}, // NaN never wins
		{[]float32{5, 1, 2, 9, 9, 0}, 2, 3, 1, 0},
	} {
		y, x, err := Peak(tc.m, tc.h, tc.w)
		if err != nil || y != tc.y || x != tc.x {
			t.Errorf("Peak(%v) = (%d, %d) %v, want (%d, %d)", tc.m, y, x, err, tc.y, tc.x)
		}
	}
	if _, _, err := Peak([]float32{nan, nan}, 1, 2); !errors.Is(err, ErrNoPeak) {
		t.Errorf("all-NaN map: %v", err)
	}
	mask := []bool{false, false, false, false, false, false, false, false, true} // 3×3, (2,2)
	if d := MaskDistance(mask, 3, 3, 0, 0); math.Abs(d-math.Sqrt(8)) > 1e-15 {
		t.Errorf("distance %v, want √8", d)
	}
	if d := MaskDistance(make([]bool, 4), 2, 2, 0, 0); !math.IsInf(d, 1) {
		t.Errorf("empty mask distance %v", d)
	}
}

// Class 1 on a 1×4 strip; the map rises left to right; the last pixel is ignored.
//
//	label: 0   1   1   255
//	map:   0.1 0.6 0.9 1.0
//
// t=0.5: on {1,2}: I=2 U=2 → 1; t=0.7: on {2}: I=1 U=2 → 0.5; t=0.05: on {0,1,2}: I=2 U=3.
// score contrast: mean(0.6, 0.9) − mean(0.1) = 0.65.
func TestExplainabilityByHand(t *testing.T) {
	e, err := NewExplainability(2, []float32{0.7, 0.05, 0.5}) // unsorted on purpose
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Add(1, []float32{0.1, 0.6, 0.9, 1}, []uint8{0, 1, 1, 255}); err != nil {
		t.Fatal(err)
	}
	if err := e.Add(1, []float32{0.5, 0.5}, []uint8{0, 0}); err != nil { // absent: no effect
		t.Fatal(err)
	}
	m := e.Metrics()
	want := []float64{2.0 / 3, 1, 0.5}
	for i, w := range want {
		if math.Abs(m.MIoUCurve[i]-w) > 1e-15 {
			t.Errorf("mIoU at %v = %v, want %v", m.Thresholds[i], m.MIoUCurve[i], w)
		}
	}
	if m.BestThreshold != 0.5 || m.MIoU != 1 || !math.IsNaN(m.IoU[0]) {
		t.Errorf("best %v mIoU %v IoU %v", m.BestThreshold, m.MIoU, m.IoU)
	}
	if math.Abs(m.MSC-0.65) > 1e-7 || !math.IsNaN(m.SC[0]) {
		t.Errorf("mSC %v SC %v, want 0.65", m.MSC, m.SC)
	}
	// A value equal to a threshold is on (map ≥ t).
	e2, _ := NewExplainability(2, []float32{0.5})
	_ = e2.Add(1, []float32{0.5, 0.4}, []uint8{1, 0})
	if got := e2.Metrics().MIoU; got != 1 {
		t.Errorf("map == t: mIoU %v, want 1", got)
	}
	for _, ts := range [][]float32{{}, {0}, {0.5, 0.5}, {1.5}} {
		if _, err := NewExplainability(2, ts); err == nil {
			t.Errorf("thresholds %v: no error", ts)
		}
	}
}
