package surgery

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
)

// The explainers of the golden models are shared by the tests: loading and the 59-class prompt
// ensemble are the slow parts, and sharing them also exercises the text cache across calls.
var (
	explainersMu sync.Mutex
	explainers   = map[string]*Explainer{}
)

func goldenExplainer(t *testing.T, model string) *Explainer {
	t.Helper()
	explainersMu.Lock()
	defer explainersMu.Unlock()
	if e, ok := explainers[model]; ok {
		return e
	}
	m, err := clip.Load(context.Background(), goldens.Path(t, "models", model+".openai.safetensors"), clip.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if size := m.Config.ImageResolution; size != 224 {
		t.Fatalf("native size %d", size)
	}
	e, err := NewExplainer(m)
	if err != nil {
		t.Fatal(err)
	}
	explainers[model] = e
	return e
}

func demoPixels(t *testing.T) *imageprep.Pixels {
	t.Helper()
	p, err := imageprep.PixelsFromArray(demoH, demoW, 3, demoImage(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// simmapColumn extracts class j of a golden [1, H, W, K] map.
func simmapColumn(m []float32, k, j int) []float32 {
	out := make([]float32, len(m)/k)
	for i := range out {
		out[i] = m[i*k+j]
	}
	return out
}

// TestExplainGolden runs demo.py's sections through the API, from the numpy RGB of demo.jpg, and
// compares every output with the reference: similarity and maps to 1e-5, overlays within one map
// level on ≤ 0.05 % of the pixels, points exactly.
func TestExplainGolden(t *testing.T) {
	pix := demoPixels(t)
	for _, c := range []struct {
		model, dir string
		opt        Options
		points     bool
	}{
		{"vit16", "vit16/surgery/demo_224", Options{}, true},
		{"vit16", "vit16/surgery/demo_512", Options{Size: 512}, true},
		{"vit16", "vit16/clip/demo_224", Options{Method: clip.MethodRaw}, false},
		{"rn", "rn/surgery/demo_224", Options{}, true},
	} {
		t.Run(c.dir, func(t *testing.T) {
			e := goldenExplainer(t, c.model)
			res, err := e.ExplainPixels(pix, targetNames, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			if res.Width != demoW || res.Height != demoH || len(res.Targets) != 4 || res.Redundant {
				t.Fatalf("result %d×%d, %d targets, redundant %v", res.Width, res.Height, len(res.Targets), res.Redundant)
			}
			want := goldenSimilarity(t, c.dir)
			assertClose(t, "similarity", res.Similarity.Data, want.Data, 1e-5)
			var simmap []float32
			if fileExists(t, c.dir+"/simmap_targets.f32.npy") {
				simmap = loadF32(t, c.dir+"/simmap_targets.f32.npy")
			}
			// The README's budget is 0.05 % of the pixels. rn's 7×7 grid is the exception: its
			// similarity columns span a narrow range, so min-max turns our ~1e-7 similarity noise
			// (encoder + surgery) into ~1.3e-5 on the map (measured), and each patch covers ~70×54
			// pixels; ~0.11 % of them then land one map level away (every one of them is checked to be
			// exactly one level off). TestOverlayFullChain makes the same allowance from the golden
			// features (0.1 %).
			budget := 0.0005
			if c.model == "rn" {
				budget = 0.0025
			}
			img := demoImage(t)
			for j, name := range targetNames {
				tg := res.Targets[j]
				if tg.Text != name || len(tg.Columns) != 1 || tg.Columns[0] != targetIdx[j] {
					t.Fatalf("target %d = %q columns %v", j, tg.Text, tg.Columns)
				}
				if simmap != nil {
					assertClose(t, name+" map", tg.Map, simmapColumn(simmap, 4, j), 1e-5)
				}
				checkOverlayBudget(t, name+" overlay", img, tg.Map, tg.OverlayRGB, readPNG(t, c.dir+"/overlay_"+name+".png"), false, budget)
				if c.points {
					checkPoints(t, name+" points", tg.Points,
						loadArray(t, c.dir+"/points_"+name+".int32.npy").I32, loadArray(t, c.dir+"/labels_"+name+".uint8.npy").U8)
				}
			}
		})
	}
}

// TestExplainSingleTextGolden is demo.py's "single text, without a label set" section (shoes), its
// SAM prompt for one text (bench) and the combined prompt (person+bench), all at 512.
func TestExplainSingleTextGolden(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	pix := demoPixels(t)
	opt := Options{Size: 512, Single: true}

	res, err := e.ExplainPixels(pix, []string{"shoes"}, opt)
	if err != nil {
		t.Fatal(err)
	}
	dir := "vit16/surgery/demo_512_shoes/"
	if !res.Redundant || len(res.Classes) != 1 {
		t.Fatalf("single text: redundant %v classes %v", res.Redundant, res.Classes)
	}
	assertClose(t, "shoes similarity", res.Similarity.Data, loadF32(t, dir+"similarity.f32.npy"), 1e-5)
	assertClose(t, "shoes map", res.Targets[0].Map, loadF32(t, dir+"simmap.f32.npy"), 1e-5)
	checkOverlay(t, "shoes overlay", demoImage(t), res.Targets[0].Map, res.Targets[0].OverlayRGB,
		loadArray(t, dir+"overlay_shoes.uint8.npy").U8, false)

	res, err = e.ExplainPixels(pix, []string{"bench"}, opt)
	if err != nil {
		t.Fatal(err)
	}
	dir = "vit16/surgery/demo_512_bench_single/"
	assertClose(t, "bench similarity", res.Similarity.Data, loadF32(t, dir+"similarity.f32.npy"), 1e-5)
	checkPoints(t, "bench points", res.Targets[0].Points,
		loadArray(t, dir+"points.int32.npy").I32, loadArray(t, dir+"labels.uint8.npy").U8)

	res, err = e.ExplainPixels(pix, []string{"person+bench"}, opt)
	if err != nil {
		t.Fatal(err)
	}
	dir = "vit16/surgery/demo_512_person_plus_bench/"
	tg := res.Targets[0]
	if fmt.Sprint(tg.Parts) != "[person bench]" || fmt.Sprint(res.Classes) != "[person bench]" {
		t.Fatalf("parts %v classes %v", tg.Parts, res.Classes)
	}
	assertClose(t, "person+bench sm", patchColumns(res.Similarity, tg.Columns).Data, loadF32(t, dir+"sm.f32.npy"), 1e-5)
	checkPoints(t, "person+bench points", tg.Points,
		loadArray(t, dir+"points.int32.npy").I32, loadArray(t, dir+"labels.uint8.npy").U8)
	// The drawn map is sm_mean min-maxed and resized: check it against the golden sm_mean.
	smMean := loadMatrix(t, dir+"sm_mean.f32.npy")
	want, err := SimilarityMap(Matrix{Rows: smMean.Rows + 1, Cols: 1, Data: append([]float32{0}, smMean.Data...)}, []int{0}, demoH, demoW)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "person+bench map", tg.Map, want[0], 1e-5)
}

// TestExplainOneLabel: a one-class label set falls back to the "" redundant features (the
// reference would give NaN), which is exactly the single-text result for that class.
func TestExplainOneLabel(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	res, err := e.ExplainPixels(demoPixels(t), []string{"bench"}, Options{Size: 512, Labels: []string{"bench"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Redundant {
		t.Error("one-label result not marked Redundant")
	}
	for _, v := range res.Targets[0].Map {
		if math.IsNaN(float64(v)) {
			t.Fatal("NaN in the map")
		}
	}
	dir := "vit16/surgery/demo_512_bench_single/"
	assertClose(t, "bench similarity", res.Similarity.Data, loadF32(t, dir+"similarity.f32.npy"), 1e-5)
	checkPoints(t, "bench points", res.Targets[0].Points,
		loadArray(t, dir+"points.int32.npy").I32, loadArray(t, dir+"labels.uint8.npy").U8)
}

// TestExplainImageEqualsPixels: the image.Image entry converts exactly like PixelsFromArray.
func TestExplainImageEqualsPixels(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	pix := demoPixels(t)
	img := image.NewNRGBA(image.Rect(0, 0, demoW, demoH))
	for p := 0; p < demoW*demoH; p++ {
		copy(img.Pix[4*p:4*p+3], pix.Pix[3*p:3*p+3])
		img.Pix[4*p+3] = 255
	}
	a, err := e.Explain(img, []string{"person"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.ExplainPixels(pix, []string{"person"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(a.Targets[0].Map, b.Targets[0].Map); d != 0 {
		t.Errorf("maps differ by %g", d)
	}
	if string(a.Targets[0].OverlayRGB) != string(b.Targets[0].OverlayRGB) {
		t.Error("overlays differ")
	}
	ov := a.Targets[0].Overlay
	if ov.Bounds().Dx() != demoW || ov.Bounds().Dy() != demoH {
		t.Fatalf("overlay image %v", ov.Bounds())
	}
	r, g, bl, al := ov.At(7, 5).RGBA()
	q := a.Targets[0].OverlayRGB[3*(5*demoW+7):]
	if uint8(r>>8) != q[0] || uint8(g>>8) != q[1] || uint8(bl>>8) != q[2] || al != 0xffff {
		t.Error("Overlay image and OverlayRGB disagree")
	}
}

// TestExplainConcurrent: many goroutines at once give the sequential results, and the label set's
// text features are encoded once and then reused.
func TestExplainConcurrent(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	pix := demoPixels(t)
	jobs := []struct {
		targets []string
		opt     Options
	}{
		{[]string{"person"}, Options{}},
		{[]string{"bench", "ground"}, Options{}},
		{[]string{"person+bench"}, Options{}},
		{[]string{"dog"}, Options{Single: true}},
		{[]string{"building"}, Options{Method: clip.MethodRaw}},
	}
	want := make([]*Result, len(jobs))
	for i, j := range jobs {
		r, err := e.ExplainPixels(pix, j.targets, j.opt)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = r
	}
	first, _ := e.TextFeatures(DemoClasses(), nil)
	const rounds = 3
	got := make([]*Result, rounds*len(jobs))
	errs := make([]error, len(got))
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			j := jobs[i%len(jobs)]
			got[i], errs[i] = e.ExplainPixels(pix, j.targets, j.opt)
		}(i)
	}
	wg.Wait()
	for i, r := range got {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		w := want[i%len(jobs)]
		if maxAbsDiff(r.Similarity.Data, w.Similarity.Data) != 0 {
			t.Errorf("job %d: similarity differs from the sequential run", i)
		}
		for k := range w.Targets {
			if maxAbsDiff(r.Targets[k].Map, w.Targets[k].Map) != 0 || string(r.Targets[k].OverlayRGB) != string(w.Targets[k].OverlayRGB) ||
				fmt.Sprint(r.Targets[k].Points) != fmt.Sprint(w.Targets[k].Points) {
				t.Errorf("job %d target %s differs from the sequential run", i, w.Targets[k].Text)
			}
		}
	}
	again, _ := e.TextFeatures(DemoClasses(), nil)
	if &first.Data[0] != &again.Data[0] {
		t.Error("the label set's text features were encoded again instead of cached")
	}
}

func TestExplainErrors(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	pix := demoPixels(t)
	for _, c := range []struct {
		name    string
		targets []string
		opt     Options
		want    string
	}{
		{"not in labels", []string{"shoes"}, Options{}, "not in the label set"},
		{"part not in labels", []string{"person+shoes"}, Options{}, `"shoes" is not in the label set`},
		{"empty labels", []string{"dog"}, Options{Labels: []string{}}, "empty label set"},
		{"empty label", []string{"dog"}, Options{Labels: []string{"dog", " "}}, "label 1 is empty"},
		{"duplicate label", []string{"dog"}, Options{Labels: []string{"dog", "cat", "dog"}}, "appears twice"},
		{"no targets", nil, Options{}, "no target"},
		{"empty target", []string{""}, Options{Single: true}, "empty target"},
		{"dangling plus", []string{"person+"}, Options{}, "empty target"},
		{"threshold > 1", []string{"person"}, Options{Threshold: 1.5}, "threshold"},
		{"threshold < 0", []string{"person"}, Options{Threshold: -0.1}, "threshold"},
		{"threshold NaN", []string{"person"}, Options{Threshold: float32(math.NaN())}, "threshold"},
		{"size not multiple", []string{"person"}, Options{Size: 100}, "multiple of the model's patch size 16"},
		{"size too small", []string{"person"}, Options{Size: 16}, "at least 32"},
		{"negative size", []string{"person"}, Options{Size: -224}, "input size"},
		{"unknown method", []string{"person"}, Options{Method: "magic"}, "unknown method"},
		{"empty templates", []string{"person"}, Options{Templates: []string{}}, "empty template list"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.ExplainPixels(pix, c.targets, c.opt)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := e.Explain(nil, []string{"person"}, Options{}); err == nil {
		t.Error("nil image accepted")
	}
	if _, err := e.Explain(image.NewRGBA(image.Rect(0, 0, 0, 0)), []string{"person"}, Options{}); err == nil {
		t.Error("empty image accepted")
	}
	if _, err := e.ExplainPixels(&imageprep.Pixels{W: 2, H: 2, C: 3, Pix: make([]uint8, 5)}, []string{"person"}, Options{}); err == nil {
		t.Error("malformed pixels accepted")
	}
	if _, err := NewExplainer(nil); err == nil {
		t.Error("nil model accepted")
	}
}

// TestTextCacheBounded: distinct text sets beyond maxTextSets evict finished entries.
func TestTextCacheBounded(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	tmpl := []string{"{}"} // one template keeps this fast
	for i := range maxTextSets + 10 {
		if _, err := e.TextFeatures([]string{fmt.Sprint("thing ", i)}, tmpl); err != nil {
			t.Fatal(err)
		}
	}
	e.mu.Lock()
	n := len(e.texts)
	e.mu.Unlock()
	if n > maxTextSets {
		t.Errorf("%d cached text sets, bound %d", n, maxTextSets)
	}
}

// DemoClasses is demo.py's all_texts, and a caller cannot change it.
func TestDemoClassesGolden(t *testing.T) {
	data, err := os.ReadFile(goldens.Path(t, "tokenizer", "all_texts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	got := DemoClasses()
	if !slices.Equal(got, want) {
		t.Fatalf("DemoClasses() = %d classes, all_texts.json %d", len(got), len(want))
	}
	got[0] = "changed"
	if DemoClasses()[0] != want[0] {
		t.Error("DemoClasses() shares its slice with the caller")
	}
}
