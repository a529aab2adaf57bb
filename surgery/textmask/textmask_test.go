package textmask

import (
	"context"
	"fmt"
	"image"
	"math"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// The CLIP Surgery side with the golden tiny CLIP: every target's mask is the best-scored
// multimask prediction for that target's points.
func TestTextMasksFromExplainer(t *testing.T) {
	m, ex, px := tinyModels(t)
	opt := surgery.Options{Labels: []string{"bench", "person", "ground", "building", "sky"}, Templates: []string{"a photo of a {}."}}
	res, err := ex.ExplainPixels(px, []string{"bench", "person"}, opt)
	if err != nil {
		t.Fatal(err)
	}
	p := sam.NewPredictor(m)
	p.SetEmbedding(goldenEmbedding(t, "demo"))
	masks, err := TextMasks(p, res)
	if err != nil {
		t.Fatal(err)
	}
	if len(masks) != 2 || masks[0].Text != "bench" || masks[1].Text != "person" {
		t.Fatalf("got %d text masks", len(masks))
	}
	for i, tm := range masks {
		tgt := res.Targets[i]
		if len(tm.Points) == 0 || len(tm.Points) != len(tgt.Points) {
			t.Fatalf("%s: %d points, target has %d", tm.Text, len(tm.Points), len(tgt.Points))
		}
		direct, err := p.Predict(tgt.Points, nil, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		best := 0
		for k, s := range direct.Scores {
			if s > direct.Scores[best] {
				best = k
			}
		}
		if len(direct.Masks) != 3 || tm.Best != best || tm.Score != direct.Scores[best] || !sameBools(tm.Mask, direct.Masks[best]) {
			t.Errorf("%s: text mask (best %d, score %v) is not the direct prediction's best (%d, %v)", tm.Text, tm.Best, tm.Score, best, direct.Scores[best])
		}
		t.Logf("%s: %d points, best mask %d (score %.4f), %d foreground pixels", tm.Text, len(tm.Points), tm.Best, tm.Score, countTrue(tm.Mask))
	}

	// A result for another image size is refused.
	other := *res
	other.Width++
	if _, err := TextMasks(p, &other); err == nil || !strings.Contains(err.Error(), "CLIP Surgery result is for") {
		t.Errorf("size mismatch: %v", err)
	}
	if _, _, err := TextToMask(ex, p, nil, []string{"bench"}, opt); err == nil {
		t.Error("TextToMask accepted a nil image")
	}

	// The whole pipeline from the pixels (SAM's own SetImage instead of the golden embedding):
	// the same points, best masks and scores (the embeddings agree to ~1e-5).
	full := sam.NewPredictor(m)
	res2, masks2, err := TextToMaskPixels(ex, full, px, []string{"bench", "person"}, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i, tm := range masks2 {
		want := masks[i]
		if fmt.Sprint(tm.Points) != fmt.Sprint(want.Points) || fmt.Sprint(res2.Targets[i].Points) != fmt.Sprint(tm.Points) {
			t.Errorf("%s: points differ between TextToMaskPixels and TextMasks", tm.Text)
		}
		if tm.Best != want.Best || math.Abs(float64(tm.Score-want.Score)) > 1e-5 {
			t.Errorf("%s: best %d score %v, from the golden embedding %d %v", tm.Text, tm.Best, tm.Score, want.Best, want.Score)
		}
		checkMask(t, tm.Text, tm.Mask, tm.Prediction.Logits[tm.Best], boolsToU8(want.Mask))
	}
	if _, _, err := TextToMask(ex, p, image.NewRGBA(image.Rect(0, 0, 8, 8)), []string{"no such label"}, opt); err == nil {
		t.Error("TextToMask accepted a target outside the label set")
	}
	if _, err := p.MaskFromPoints([]sam.Point{{X: 1, Y: 1, Label: 2}}); err == nil || !strings.Contains(err.Error(), "label 2") {
		t.Errorf("MaskFromPoints with a point labelled 2: %v", err)
	}
}

// tinyModels loads the golden tiny SAM and CLIP (an Explainer) and the demo picture's pixels.
func tinyModels(t *testing.T) (*sam.Model, *surgery.Explainer, *surgery.Pixels) {
	t.Helper()
	m, err := sam.LoadFile(goldens.Path(t, "sam", "sam_tiny.safetensors"), sam.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := clip.Load(context.Background(), goldens.Path(t, "models", "vit16.openai.safetensors"), clip.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := surgery.NewExplainer(cm)
	if err != nil {
		t.Fatal(err)
	}
	rgb := goldens.Load(t, "sam/demo/image_rgb.npy")
	px, err := surgery.PixelsFromArray(rgb.Shape[0], rgb.Shape[1], 3, rgb.U8)
	if err != nil {
		t.Fatal(err)
	}
	return m, ex, px
}

func sameBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func boolsToU8(m []bool) []uint8 {
	out := make([]uint8, len(m))
	for i, v := range m {
		if v {
			out[i] = 1
		}
	}
	return out
}

func countTrue(m []bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

// goldenEmbedding is the stored SAM image embedding of a golden image, with its sizes.
func goldenEmbedding(t testing.TB, image string) *sam.ImageEmbedding {
	t.Helper()
	e := goldens.Load(t, "sam/"+image+"/image_embedding.npy")
	rgb := goldens.Load(t, "sam/"+image+"/image_rgb.npy")
	h, w := rgb.Shape[0], rgb.Shape[1]
	nh, nw := sam.TargetSize(h, w, 1024)
	return &sam.ImageEmbedding{Features: &sam.Features{Shape: e.Shape, Data: e.F32}, OriginalSize: [2]int{h, w}, InputSize: [2]int{nh, nw}}
}

// checkMask accepts a mask that differs from want only where the logit is within 1e-3 of 0.
func checkMask(t *testing.T, name string, got []bool, logits []float32, want []uint8) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d pixels, want %d", name, len(got), len(want))
	}
	for i, g := range got {
		if g != (want[i] != 0) && math.Abs(float64(logits[i])) >= 1e-3 {
			t.Fatalf("%s: pixel %d is %v, want %v, with logit %g", name, i, g, want[i] != 0, logits[i])
		}
	}
}
