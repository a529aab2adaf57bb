package nbutil

import (
	"math"
	"os"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"

	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
)

func TestEvalModelOptions(t *testing.T) {
	for _, tc := range []struct {
		slide, stride string
		want          evaluate.ModelOptions
		err           string
	}{
		{"", "", evaluate.ModelOptions{}, ""},
		{"0", "", evaluate.ModelOptions{}, ""},
		{"1", "", evaluate.ModelOptions{Slide: true}, ""},
		{"true", "96", evaluate.ModelOptions{Slide: true, Stride: 96}, ""},
		{"yes", "", evaluate.ModelOptions{}, EnvEvalSlide},
		{"1", "-4", evaluate.ModelOptions{}, EnvEvalStride},
		{"1", "x", evaluate.ModelOptions{}, EnvEvalStride},
		{"", "64", evaluate.ModelOptions{}, "needs $" + EnvEvalSlide},
	} {
		t.Setenv(EnvEvalSlide, tc.slide)
		t.Setenv(EnvEvalStride, tc.stride)
		mo, err := EvalModelOptions()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q/%q: error %v, want one naming %s", tc.slide, tc.stride, err, tc.err)
			}
			continue
		}
		if err != nil || mo.Slide != tc.want.Slide || mo.Stride != tc.want.Stride {
			t.Errorf("%q/%q: %+v, %v; want %+v", tc.slide, tc.stride, mo, err, tc.want)
		}
	}
}

// $CLIPSURGERY_EVAL_PROTOCOL: off by default; a preset on the benchmark the dataset is opened as.
func TestEvalProtocol(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	t.Setenv(EnvDataset, "")
	t.Setenv(EnvEvalSlide, "")
	t.Setenv(EnvEvalStride, "")
	dir, _, err := EvalDataset(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvEvalProtocol, "")
	t.Setenv(EnvEvalBenchmark, "voc21")
	ds, err := evaluate.Open(dir, EvalDatasetOptions())
	if err != nil || ds.Benchmark != "voc21" {
		t.Fatalf("synthetic dataset as voc21: %v", err)
	}
	if p, err := EvalProtocol(ds); p != nil || err != nil {
		t.Fatalf("unset: %+v %v", p, err)
	}
	t.Setenv(EnvEvalProtocol, "naclip")
	if p, err := EvalProtocol(ds); err != nil || p.Peer != clip.MethodNACLIP || p.Benchmark != "voc21" || p.Window != 0 {
		t.Fatalf("naclip on voc21: %+v %v", p, err)
	}
	t.Setenv(EnvEvalSlide, "1")
	if _, err := EvalProtocol(ds); err == nil || !strings.Contains(err.Error(), EnvEvalSlide) {
		t.Errorf("protocol with slide: %v", err)
	}
	t.Setenv(EnvEvalSlide, "")
	t.Setenv(EnvEvalProtocol, "maskclip")
	if _, err := EvalProtocol(ds); err == nil || !strings.Contains(err.Error(), EnvEvalProtocol) {
		t.Errorf("unknown protocol: %v", err)
	}
	t.Setenv(EnvEvalProtocol, "sclip")
	t.Setenv(EnvEvalBenchmark, "")
	plain, err := evaluate.Open(dir, EvalDatasetOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := EvalProtocol(plain); err == nil || !strings.Contains(err.Error(), EnvEvalBenchmark) {
		t.Errorf("protocol without a benchmark: %v", err)
	}
}

func TestEvalHelpers(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	t.Setenv(EnvDataset, "")
	dir, synthetic, err := EvalDataset(2)
	if err != nil || !synthetic {
		t.Fatalf("%s %v %v", dir, synthetic, err)
	}
	ds, err := evaluate.Open(dir, evaluate.DatasetOptions{})
	if err != nil || len(ds.Items) != 2 || ds.Layout != evaluate.LayoutVOC {
		t.Fatalf("synthetic dataset: %v %+v", err, ds)
	}
	t.Setenv(EnvDataset, "/some/where")
	if d, s, _ := EvalDataset(2); d != "/some/where" || s {
		t.Errorf("env var ignored: %s %v", d, s)
	}

	conf, _ := evaluate.NewConfusion(2)
	_ = conf.Add([]uint8{0, 1, 1}, []uint8{0, 1, 0})
	rep := &evaluate.Report{Classes: evaluate.ClassesFromNames([]string{"bg", "cat"}), Evaluated: 1,
		Methods: []*evaluate.MethodReport{{Method: clip.MethodRaw, Areas: conf, Seg: conf.Metrics()}}}
	rep.Methods[0].Seg.IoU[0] = math.NaN()
	bars := ClassBars(rep, func(m *evaluate.MethodReport) []float64 { return m.Seg.IoU })
	if len(bars) != 1 || bars[0].Label != "cat · raw" || bars[0].Value != 50 {
		t.Errorf("bars %+v", bars)
	}
	if err := SaveEvalRun(&EvalRun{Report: rep}); err != nil {
		t.Fatal(err)
	}
	back, err := LoadEvalRun()
	if err != nil || back.Report.Methods[0].Areas.Intersect[1] != 1 || back.Report.Classes[1].Name() != "cat" {
		t.Fatalf("round trip: %v %+v", err, back)
	}
	os.Remove(EvalRunPath())

	img, err := LabelImage([]uint8{0, 1, 255, 2}, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if c := img.RGBAAt(1, 0); c.R != 128 || c.G != 0 || c.B != 0 { // VOC class 1: (128, 0, 0)
		t.Errorf("class 1 colour %v", c)
	}
	if c := img.RGBAAt(0, 1); c.R != 255 || c.G != 255 { // ignored: white
		t.Errorf("ignore colour %v", c)
	}
	if c := img.RGBAAt(1, 1); c.R != 0 || c.G != 128 || c.B != 0 { // class 2: (0, 128, 0)
		t.Errorf("class 2 colour %v", c)
	}
	if _, err := LabelImage([]uint8{0}, 2, 2); err == nil {
		t.Error("size mismatch accepted")
	}
}
