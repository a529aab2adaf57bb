package evaluate

import (
	"context"
	"math"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
)

func syntheticDataset(t *testing.T, n int) *Dataset {
	t.Helper()
	dir := t.TempDir()
	if err := WriteSynthetic(dir, LayoutGeneric, n); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(dir, DatasetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// With one window covering the image (the synthetic images are at most 144 × 128, the tiny
// model's side is 224), slide mode must predict exactly what the whole-image path predicts: the
// same raw similarity reaches the argmax. Its maps are the same maps min-maxed over the pixels.
func TestSlideOneWindowEqualsWhole(t *testing.T) {
	ex := tinyExplainer(t)
	ds := syntheticDataset(t, 3)
	for _, method := range []clip.Method{clip.MethodSurgery, clip.MethodSCLIP} {
		for _, it := range ds.Items {
			pix, lab, err := LoadItem(it, len(ds.Classes))
			if err != nil {
				t.Fatal(err)
			}
			mo := ModelOptions{Templates: testTemplates}
			whole, err := Predict(ex, pix, ds.Classes, method, mo, Scoring{})
			if err != nil {
				t.Fatal(err)
			}
			mo.Slide = true
			slide, err := Predict(ex, pix, ds.Classes, method, mo, Scoring{})
			if err != nil {
				t.Fatal(err)
			}
			if slide.Windows != 1 || slide.Planes == nil || whole.Planes != nil || slide.Stride != 112 || slide.Size != 224 {
				t.Fatalf("%s: slide prediction with %d windows, stride %d, size %d, planes %v", it.ID,
					slide.Windows, slide.Stride, slide.Size, slide.Planes != nil)
			}
			for i := range whole.Pred {
				if slide.Pred[i] != whole.Pred[i] {
					t.Fatalf("%s %s: pixel %d: slide class %d, whole-image class %d", method, it.ID, i, slide.Pred[i], whole.Pred[i])
				}
			}
			classes := presentClasses(lab, len(ds.Classes), false)
			wm, err := whole.ClassMaps(classes)
			if err != nil {
				t.Fatal(err)
			}
			sm, err := slide.ClassMaps(classes)
			if err != nil {
				t.Fatal(err)
			}
			for j, c := range classes {
				if err := surgery.MinMaxNormalize(wm[j]); err != nil {
					t.Fatal(err)
				}
				for i := range wm[j] {
					if d := math.Abs(float64(wm[j][i] - sm[j][i])); d > 1e-5 {
						t.Fatalf("%s %s class %d pixel %d: slide map %v, whole map re-min-maxed %v", method, it.ID, c, i, sm[j][i], wm[j][i])
					}
				}
			}
		}
	}
}

// slideOracle is mmsegmentation's slide inference written out independently of
// surgery.PixelSimilarity: every window cropped and explained as a whole image, its patch
// similarities resized to the window with the bilinear oracle, summed in float64, divided by the
// number of windows over each pixel; then the best name per class and the first best class.
func slideOracle(t *testing.T, ex *surgery.Explainer, pix *imageprep.Pixels, classes []Class, method clip.Method,
	size, stride int) (pred []uint8, margin []float64, windows int) {
	t.Helper()
	names, nameClass := queries(classes)
	sum := make([][]float64, len(names))
	for q := range sum {
		sum[q] = make([]float64, pix.H*pix.W)
	}
	count := make([]int, pix.H*pix.W)
	starts := func(n int) []int { // mmsegmentation's grid: the last window ends at the border
		var s []int
		for y := 0; ; y += stride {
			if y+size >= n {
				return append(s, max(n-size, 0))
			}
			s = append(s, y)
		}
	}
	for _, y0 := range starts(pix.H) {
		for _, x0 := range starts(pix.W) {
			y1, x1 := min(y0+size, pix.H), min(x0+size, pix.W)
			crop := &imageprep.Pixels{W: x1 - x0, H: y1 - y0, C: pix.C}
			for y := y0; y < y1; y++ {
				crop.Pix = append(crop.Pix, pix.Pix[(y*pix.W+x0)*pix.C:(y*pix.W+x1)*pix.C]...)
			}
			res, err := ex.ExplainPixels(crop, names[:1], surgery.Options{Size: size, Labels: names,
				Templates: testTemplates, Method: method})
			if err != nil {
				t.Fatal(err)
			}
			side := int(math.Sqrt(float64(res.Similarity.Rows - 1)))
			for q := range names {
				up := bilinearOracle(res.Similarity.Column(q)[1:], side, crop.H, crop.W)
				for y := range crop.H {
					for x := range crop.W {
						sum[q][(y0+y)*pix.W+x0+x] += up[y*crop.W+x]
					}
				}
			}
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					count[y*pix.W+x]++
				}
			}
			windows++
		}
	}
	pred, margin = make([]uint8, len(count)), make([]float64, len(count))
	for i, n := range count {
		score := make([]float64, len(classes))
		for c := range score {
			score[c] = math.Inf(-1)
		}
		for q, c := range nameClass {
			score[c] = max(score[c], sum[q][i]/float64(n))
		}
		best, second := 0, math.Inf(-1)
		for c := 1; c < len(score); c++ {
			if score[c] > score[best] {
				best, second = c, score[best]
			} else {
				second = max(second, score[c])
			}
		}
		pred[i], margin[i] = uint8(best), score[best]-second
	}
	return pred, margin, windows
}

// Overlapping windows (side 64, stride 48 on images of about 100 × 100): every pixel's class is
// the oracle's up to float32 ties, and Run's areas and pointing trials agree with a count of
// its own predictions; the metrics are finite and the report says slide mode and the stride.
func TestSlideOverlappingWindows(t *testing.T) {
	ex := tinyExplainer(t)
	ds := syntheticDataset(t, 3)
	classes := []Class{{Names: []string{"background", "grey wall"}}, {Names: []string{"red circle"}},
		{Names: []string{"green square", "green box"}}, {Names: []string{"blue triangle"}}}
	const size, stride = 64, 48 // not the default stride (32)
	mo := ModelOptions{Size: size, Stride: stride, Slide: true, Templates: testTemplates}
	for _, it := range ds.Items[:2] {
		pix, _, err := LoadItem(it, len(classes))
		if err != nil {
			t.Fatal(err)
		}
		p, err := Predict(ex, pix, classes, clip.MethodSurgery, mo, Scoring{})
		if err != nil {
			t.Fatal(err)
		}
		want, margin, windows := slideOracle(t, ex, pix, classes, clip.MethodSurgery, size, stride)
		if p.Windows != windows || windows < 4 {
			t.Fatalf("%s (%d×%d): %d windows, oracle %d", it.ID, pix.W, pix.H, p.Windows, windows)
		}
		mismatch := 0
		for i := range want {
			if p.Pred[i] != want[i] && margin[i] > 1e-5 {
				mismatch++
			}
		}
		if mismatch > 0 {
			t.Errorf("%s: %d of %d pixels differ from the slide oracle beyond float32 ties", it.ID, mismatch, len(want))
		}
	}

	k := len(ds.Classes)
	inter, pred := make([]int64, k), make([]int64, k)
	labelled, pairs := int64(0), int64(0)
	cfg := Config{Methods: []clip.Method{clip.MethodSurgery, clip.MethodNACLIP}, Model: mo,
		OnImage: func(_ Item, lab *Label, preds []*Prediction) {
			present := map[uint8]bool{}
			for i, v := range lab.Pix {
				if v == IgnoreIndex {
					continue
				}
				labelled++
				pred[preds[0].Pred[i]]++
				if preds[0].Pred[i] == v {
					inter[v]++
				}
				if v != 0 {
					present[v] = true
				}
			}
			pairs += int64(len(present))
		}}
	rep, err := Run(context.Background(), ex, ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Evaluated != 3 || !rep.Slide || rep.Size != size || rep.Stride != stride {
		t.Fatalf("report: %d evaluated, slide %v, size %d, stride %d", rep.Evaluated, rep.Slide, rep.Size, rep.Stride)
	}
	mr := rep.Methods[0]
	var lab int64
	for c := range k {
		lab += mr.Areas.Label[c]
		if mr.Areas.Intersect[c] != inter[c] || mr.Areas.Pred[c] != pred[c] {
			t.Errorf("class %d: intersect %d pred %d, counted %d and %d", c, mr.Areas.Intersect[c], mr.Areas.Pred[c], inter[c], pred[c])
		}
	}
	if lab != labelled || mr.Pointing.Total != pairs {
		t.Errorf("label area %d of %d labelled pixels; %d pointing trials of %d pairs", lab, labelled, mr.Pointing.Total, pairs)
	}
	for _, m := range rep.Methods {
		for name, v := range map[string]float64{"mIoU": m.Seg.MIoU, "mAcc": m.Seg.MAcc, "aAcc": m.Seg.AAcc,
			"explain mIoU": m.Explain.MIoU, "mSC": (m.Explain.MSC + 1) / 2, "PG": m.Pointing.Accuracy()} {
			if !(v >= 0 && v <= 1) {
				t.Errorf("%s: %s = %v", m.Method, name, v)
			}
		}
	}
	var tab strings.Builder
	if err := rep.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tab.String(), "slide mode, 64×64 windows, stride 48 px") {
		t.Errorf("table header does not state slide mode and stride:\n%s", tab.String())
	}
}

// Bad sliding-window options fail Run once, before any image, naming the problem.
func TestSlideBadOptions(t *testing.T) {
	ex := tinyExplainer(t)
	ds := syntheticDataset(t, 1)
	for _, tc := range []struct {
		mo   ModelOptions
		want string
	}{
		{ModelOptions{Stride: 64}, "without sliding windows"},
		{ModelOptions{Slide: true, Stride: 448}, "stride 448"},
		{ModelOptions{Slide: true, Stride: -1}, "stride -1"},
		{ModelOptions{Slide: true, Size: 100}, "input size 100"},
	} {
		tc.mo.Templates = testTemplates
		rep, err := Run(context.Background(), ex, ds, Config{Model: tc.mo})
		if err == nil || rep != nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: report %v, error %v; want one line containing %q", tc.mo, rep, err, tc.want)
		}
	}
}
