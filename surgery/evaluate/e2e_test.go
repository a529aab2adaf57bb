package evaluate

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/surgery"
)

var (
	tinyOnce sync.Once
	tinyEx   *surgery.Explainer
	tinyErr  error
)

// tinyExplainer loads the tiny golden ViT-B/16-shaped checkpoint once for all tests.
func tinyExplainer(t *testing.T) *surgery.Explainer {
	t.Helper()
	path := goldens.Path(t, "models", "vit16.openai.safetensors")
	tinyOnce.Do(func() {
		m, err := clip.Load(context.Background(), path, clip.LoadOptions{})
		if err != nil {
			tinyErr = err
			return
		}
		tinyEx, tinyErr = surgery.NewExplainer(m)
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyEx
}

// A short class list keeps the text encoding of the tests small.
var testTemplates = []string{"a photo of a {}."}

func TestRunSynthetic(t *testing.T) {
	ex := tinyExplainer(t)
	for _, layout := range []Layout{LayoutVOC, LayoutGeneric} {
		t.Run(string(layout), func(t *testing.T) {
			dir := t.TempDir()
			if err := WriteSynthetic(dir, layout, 4); err != nil {
				t.Fatal(err)
			}
			ds, err := Open(dir, DatasetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Layout != layout || len(ds.Items) != 4 || len(ds.Classes) != len(SyntheticClasses()) {
				t.Fatalf("opened %s with %d items, %d classes", ds.Layout, len(ds.Items), len(ds.Classes))
			}
			// An independent tally of what the report must contain, from the predictions themselves.
			methods := []clip.Method{clip.MethodSurgery, clip.MethodRaw}
			k := len(ds.Classes)
			labelled, pairs := 0, 0
			inter := make([][]int64, len(methods))
			for j := range inter {
				inter[j] = make([]int64, k)
			}
			cfg := Config{Methods: methods, Model: ModelOptions{Templates: testTemplates},
				OnImage: func(it Item, lab *Label, preds []*Prediction) {
					present := map[uint8]bool{}
					for i, v := range lab.Pix {
						if v == IgnoreIndex {
							continue
						}
						labelled++
						if v != 0 {
							present[v] = true
						}
						for j, p := range preds {
							if p.Pred[i] == v {
								inter[j][v]++
							}
						}
					}
					pairs += len(present)
				}}
			var progress bytes.Buffer
			cfg.Progress = &progress
			rep, err := Run(context.Background(), ex, ds, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Evaluated != 4 || rep.SkipCount != 0 || rep.Interrupted {
				t.Fatalf("evaluated %d, skipped %d (%v)", rep.Evaluated, rep.SkipCount, rep.Skips)
			}
			if layout == LayoutVOC && labelled == 0 {
				t.Fatal("no labelled pixel")
			}
			for j, mr := range rep.Methods {
				var pred, lab int64
				for c := range k {
					pred += mr.Areas.Pred[c]
					lab += mr.Areas.Label[c]
					if mr.Areas.Intersect[c] != inter[j][c] {
						t.Errorf("%s class %d: intersect %d, counted %d", mr.Method, c, mr.Areas.Intersect[c], inter[j][c])
					}
				}
				if pred != int64(labelled) || lab != int64(labelled) {
					t.Errorf("%s: areas pred %d label %d, %d labelled pixels", mr.Method, pred, lab, labelled)
				}
				if mr.Pointing.Total != int64(pairs) {
					t.Errorf("%s: %d pointing trials, %d (image, object) pairs", mr.Method, mr.Pointing.Total, pairs)
				}
				for name, v := range map[string]float64{"mIoU": mr.Seg.MIoU, "aAcc": mr.Seg.AAcc,
					"explain mIoU": mr.Explain.MIoU, "PG": mr.Pointing.Accuracy()} {
					if !(v >= 0 && v <= 1) {
						t.Errorf("%s: %s = %v", mr.Method, name, v)
					}
				}
				if !(mr.Explain.MSC >= -1 && mr.Explain.MSC <= 1) {
					t.Errorf("%s: mSC %v", mr.Method, mr.Explain.MSC)
				}
			}
			if !strings.Contains(progress.String(), "[4/4]") || !strings.Contains(progress.String(), "ETA") {
				t.Errorf("progress %q", progress.String())
			}
			checkOutputs(t, rep, len(methods), k)
		})
	}
}

// checkOutputs checks that the table, JSON and CSV carry the report.
func checkOutputs(t *testing.T, rep *Report, methods, k int) {
	t.Helper()
	var tab, js, cs bytes.Buffer
	if err := rep.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	for _, m := range rep.Methods {
		if !strings.Contains(tab.String(), string(m.Method)) || !strings.Contains(tab.String(), pct(m.Seg.MIoU)) {
			t.Errorf("table lacks %s's mIoU %s:\n%s", m.Method, pct(m.Seg.MIoU), tab.String())
		}
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Evaluated int
		Methods   []struct {
			Method    string
			MIoU      *float64 `json:"mIoU"`
			AreaLabel []int64  `json:"area_label"`
		}
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON: %v\n%s", err, js.String())
	}
	if back.Evaluated != rep.Evaluated || len(back.Methods) != methods || back.Methods[0].MIoU == nil ||
		*back.Methods[0].MIoU != rep.Methods[0].Seg.MIoU || len(back.Methods[0].AreaLabel) != k {
		t.Errorf("JSON does not round-trip: %+v", back)
	}
	if err := rep.WriteCSV(&cs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cs).ReadAll()
	if err != nil || len(rows) != 1+methods*k || len(rows[0]) != len(CSVHeader()) {
		t.Errorf("CSV: %d rows, %v", len(rows), err)
	}
}

func TestRunLimitAndInterrupt(t *testing.T) {
	ex := tinyExplainer(t)
	dir := t.TempDir()
	if err := WriteSynthetic(dir, LayoutGeneric, 3); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(dir, DatasetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Methods: []clip.Method{clip.MethodRaw}, Model: ModelOptions{Templates: testTemplates}, Limit: 2}
	rep, err := Run(context.Background(), ex, ds, cfg)
	if err != nil || rep.Listed != 2 || rep.Evaluated != 2 {
		t.Fatalf("limit 2: listed %d evaluated %d, %v", rep.Listed, rep.Evaluated, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cfg.Limit = 0
	cfg.OnImage = func(Item, *Label, []*Prediction) { cancel() } // Ctrl-C during the first image
	rep, err = Run(ctx, ex, ds, cfg)
	if !errors.Is(err, context.Canceled) || rep == nil || !rep.Interrupted || rep.Evaluated != 1 {
		t.Fatalf("interrupted run: %v, %+v", err, rep)
	}
}
