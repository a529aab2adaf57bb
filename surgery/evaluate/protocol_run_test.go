package evaluate

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
)

// Run with a preset: its areas are PredictProtocol's class maps counted by Confusion, the report
// header prints every preset value and where it comes from, the JSON carries the preset.
func TestRunProtocol(t *testing.T) {
	ex := tinyExplainer(t)
	for _, peer := range []string{"sclip", "naclip"} { // slide windows; whole image with PAMR
		t.Run(peer, func(t *testing.T) {
			ds := voc21Benchmark(t)
			p, err := LookupProtocol(peer, "voc21")
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Run(context.Background(), ex, ds, Config{Protocol: &p, WindowBatch: 2})
			if err != nil {
				t.Fatal(err)
			}
			classes, _ := PeerClasses(p.ClassFile)
			want, _ := NewConfusion(21)
			for _, it := range ds.Items {
				pix, lab, err := ds.Load(it)
				if err != nil {
					t.Fatal(err)
				}
				res, err := PredictProtocol(context.Background(), ex, pix, p, classes, 0)
				if err != nil {
					t.Fatal(err)
				}
				if err := want.Add(res.Pred, lab.Pix); err != nil {
					t.Fatal(err)
				}
			}
			got := rep.Methods[0].Areas
			if rep.Evaluated != 2 || rep.Methods[0].Method != p.Peer || !slices.Equal(got.Intersect, want.Intersect) ||
				!slices.Equal(got.Pred, want.Pred) || !slices.Equal(got.Label, want.Label) {
				t.Fatalf("report %+v areas %+v, want %+v", rep, got, want)
			}
			var table bytes.Buffer
			if err := rep.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{"protocol " + peer + " on voc21", "keep ratio within (2048, 336)", "logit scale",
				"prob_thd        0.1", "area_thd", "PAMR", "classes         sclip/cls_voc21.txt", "templates       imagenet80",
				"feature surgery", "configs/cfg_voc21.py"} {
				if !strings.Contains(table.String(), s) {
					t.Errorf("header lacks %q:\n%s", s, table.String())
				}
			}
			var js bytes.Buffer
			if err := rep.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var doc struct{ Protocol map[string]any }
			if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"peer", "benchmark", "config", "long_side", "short_side", "window", "stride",
				"pad_to", "interpolate_twice", "logit_scale", "prob_thd", "area_thd", "pamr_steps",
				"pamr_dilations", "class_file", "templates", "feature_surgery"} {
				if _, ok := doc.Protocol[k]; !ok {
					t.Errorf("JSON protocol lacks %q: %v", k, doc.Protocol)
				}
			}
		})
	}
}

func TestRunProtocolBadConfig(t *testing.T) {
	ex := tinyExplainer(t)
	ds := voc21Benchmark(t)
	other, _ := LookupProtocol("sclip", "context60")
	p, _ := LookupProtocol("sclip", "voc21")
	for name, cfg := range map[string]Config{
		"other benchmark": {Protocol: &other},
		"other method":    {Protocol: &p, Methods: []clip.Method{clip.MethodNACLIP}},
		"window size":     {Protocol: &p, Model: ModelOptions{Size: 224}},
		"scoring":         {Protocol: &p, Scoring: Scoring{ProbThreshold: 0.2}},
		"negative batch":  {Protocol: &p, WindowBatch: -1},
	} {
		if _, err := Run(context.Background(), ex, ds, cfg); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// voc21Benchmark is a two-image VOC21 dataset (labels 0..20 and every class file's count).
func voc21Benchmark(t *testing.T) *Dataset {
	t.Helper()
	root := t.TempDir()
	b, _ := LookupBenchmark("voc21")
	writeBenchmark(t, root, b, func(i int) uint8 { return uint8(i % 21) })
	ds, err := Open(root, DatasetOptions{Benchmark: "voc21"})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}
