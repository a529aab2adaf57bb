package evaluate

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// protocolCases are the peer × benchmark cases of ../shared/golden/protocols.
var protocolCases = []struct{ peer, bench string }{{"sclip", "voc21"}, {"naclip", "context60"}, {"clearclip", "voc20"}}

// goldenLabel reads a case's stored label map (gt_raw.png) with the benchmark's mapping, as
// Dataset.Load does, and checks it against the label IoUMetric compared with (gt_label.u8.npy).
func goldenLabel(t *testing.T, bench string) *Label {
	t.Helper()
	b, err := LookupBenchmark(bench)
	if err != nil {
		t.Fatal(err)
	}
	stored := b.Classes
	if b.ReduceZeroLabel {
		stored++
	}
	lab, err := ReadMask(goldens.Path(t, "protocols", "gt", bench, "demo128x96", "gt_raw.png"), stored)
	if err != nil {
		t.Fatal(err)
	}
	if b.ReduceZeroLabel {
		ReduceZeroLabel(lab)
	}
	if want := goldens.Load(t, "protocols/gt/"+bench+"/demo128x96/gt_label.u8.npy"); !slices.Equal(lab.Pix, want.U8) {
		t.Fatalf("%s: the label map read from gt_raw.png differs from IoUMetric's", bench)
	}
	return lab
}

// assertMetricsGolden compares the metrics of the areas with mmseg's IoUMetric in metrics.json:
// areas exact; per-class IoU and Acc as its float32 tensors hold them; aAcc, mIoU and mAcc as it
// prints them (percent, two decimals); all to 1e-9.
func assertMetricsGolden(t *testing.T, peer, bench string, c *Confusion) {
	t.Helper()
	data, err := os.ReadFile(goldens.Path(t, "protocols", peer, bench, "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		PerImage map[string]struct {
			AAcc, MIoU, MAcc float64
			NumClasses       int `json:"num_classes"`
			PerClass         struct {
				IoU []*float64 `json:"IoU"`
				Acc []*float64 `json:"Acc"`
			} `json:"per_class"`
			Area struct {
				Intersect []float64 `json:"intersect"`
				Union     []float64 `json:"union"`
				Pred      []float64 `json:"pred_label"`
				Label     []float64 `json:"label"`
			} `json:"area"`
		} `json:"per_image"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	g, ok := doc.PerImage["demo128x96"]
	if !ok || g.NumClasses != c.NumClasses() {
		t.Fatalf("metrics.json: no demo128x96 case for %d classes", c.NumClasses())
	}
	for name, a := range map[string][2][]int64{"intersect": {c.Intersect, ints(g.Area.Intersect)},
		"union": {c.Union, ints(g.Area.Union)}, "pred": {c.Pred, ints(g.Area.Pred)}, "label": {c.Label, ints(g.Area.Label)}} {
		if !slices.Equal(a[0], a[1]) {
			t.Errorf("area %s %v, IoUMetric %v", name, a[0], a[1])
		}
	}
	m := c.Metrics()
	for name, p := range map[string][2][]float64{"IoU": {m.IoU, floats(g.PerClass.IoU)}, "Acc": {m.Acc, floats(g.PerClass.Acc)}} {
		for j, v := range p[0] {
			want := p[1][j]
			if math.IsNaN(v) != math.IsNaN(want) || math.Abs(float64(float32(v))-want) > 1e-9 {
				t.Errorf("%s of class %d: %v, IoUMetric %v", name, j, v, want)
			}
		}
	}
	for name, p := range map[string][2]float64{"aAcc": {m.AAcc, g.AAcc}, "mIoU": {m.MIoU, g.MIoU}, "mAcc": {m.MAcc, g.MAcc}} {
		if got := math.Round(p[0]*100*100) / 100; math.Abs(got-p[1]) > 1e-9 {
			t.Errorf("%s %.2f, IoUMetric %v", name, got, p[1])
		}
	}
}

func ints(v []float64) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

func floats(v []*float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.NaN()
		if x != nil {
			out[i] = *x
		}
	}
	return out
}

// mmseg's IoUMetric on the peers' own class maps: Confusion gives metrics.json.
func TestProtocolMetricsGolden(t *testing.T) {
	for _, tc := range protocolCases {
		t.Run(tc.peer+"/"+tc.bench, func(t *testing.T) {
			b, _ := LookupBenchmark(tc.bench)
			c, err := NewConfusion(b.Classes)
			if err != nil {
				t.Fatal(err)
			}
			pred := goldens.Load(t, "protocols/"+tc.peer+"/"+tc.bench+"/demo128x96/seg_pred.u8.npy")
			if err := c.Add(pred.U8, goldenLabel(t, tc.bench).Pix); err != nil {
				t.Fatal(err)
			}
			assertMetricsGolden(t, tc.peer, tc.bench, c)
		})
	}
}
