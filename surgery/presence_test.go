package surgery

import (
	"math"
	"slices"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/weights"
)

// wantPresence recomputes CLIP's classification independently: the pooled embedding of the
// unchanged encoder at the input the call used, the cosine with each class's prompt ensemble,
// times exp(logit_scale), softmax in float64.
func wantPresence(t *testing.T, model string, p *imageprep.Pixels, classes []string, size int) []float64 {
	e := goldenExplainer(t, model)
	t.Helper()
	m := e.Model()
	pix, err := m.Config.DenseTransform(size).ApplyPixels(p)
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.EncodeImagePooled(pix, 1, size, size)
	if err != nil {
		t.Fatal(err)
	}
	text, err := e.TextFeatures(classes, nil)
	if err != nil {
		t.Fatal(err)
	}
	scale := goldenLogitScale(t)
	var vv float64
	for _, x := range f.Data {
		vv += float64(x) * float64(x)
	}
	out := make([]float64, len(classes))
	var sum float64
	for k := range classes {
		var dot float64
		for i, x := range f.Data {
			dot += float64(x) * float64(text.At(k, i))
		}
		out[k] = math.Exp(scale * dot / math.Sqrt(vv))
		sum += out[k]
	}
	for k := range out {
		out[k] /= sum
	}
	return out
}

// goldenLogitScale is exp(logit_scale) of the golden checkpoints, read from the file: vit16's,
// whose text tower (logit_scale included) the rn and vit32 files share.
func goldenLogitScale(t *testing.T) float64 {
	t.Helper()
	ck, err := weights.Open(goldens.Path(t, "models", "vit16.openai.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	var v [1]float32
	if ls := ck.Tensors["logit_scale"]; ls == nil || ls.ReadF32(v[:], 0) != nil {
		t.Fatal("vit16.openai.safetensors: no scalar logit_scale")
	}
	s := math.Exp(float64(v[0]))
	if got, ok := goldenExplainer(t, "vit16").Model().LogitScale(); !ok || math.Abs(got-s) > 1e-9*s || s == 100 {
		t.Fatalf("Model.LogitScale() = %v, %v; the file says %v (test premise: not the default 100)", got, ok, s)
	}
	return s
}

// Result.Presence and Target.Presence equal the independent classification: for CLIP Surgery and
// raw CLIP from token 0 (free: the original path's class token), for the other methods and for
// sliding windows from the extra pooled pass they ask for; a combined target sums its parts.
// When presence is not free and not asked for, it is absent (nil, NaN).
func TestPresenceIsCLIPClassification(t *testing.T) {
	labels := []string{"person", "bench", "grass", "sky", "dog", "car"}
	targets := []string{"person", "dog", "bench+sky"}
	demo := demoPixels(t)
	for _, c := range []struct {
		name, model string
		opt         Options
	}{
		{"surgery", "vit16", Options{Labels: labels}},
		{"surgery 320", "vit16", Options{Labels: labels, Size: 320}},
		{"raw", "vit16", Options{Labels: labels, Method: clip.MethodRaw}},
		{"surgery+resclip", "vit16", Options{Labels: labels, Modifiers: "resclip"}},
		{"raw+resclip asked", "vit16", Options{Labels: labels, Method: clip.MethodRaw, Modifiers: "resclip", Presence: true}},
		{"gem asked", "vit16", Options{Labels: labels, Method: clip.MethodGEM, Presence: true}},
		{"sclip asked", "vit16", Options{Labels: labels, Method: clip.MethodSCLIP, Presence: true}},
		{"slide, gate", "vit16", Options{Labels: labels, Slide: true, PresenceThreshold: 1e-6}},
		{"rn raw", "rn", Options{Labels: labels, Method: clip.MethodRaw}},
		{"rn surgery asked", "rn", Options{Labels: labels, Presence: true}},
	} {
		e := goldenExplainer(t, c.model)
		res, err := e.ExplainPixels(demo, targets, c.opt)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want := wantPresence(t, c.model, demo, labels, res.Size)
		if len(res.Presence) != len(labels) {
			t.Fatalf("%s: %d presences for %d labels", c.name, len(res.Presence), len(labels))
		}
		for k := range labels {
			if d := math.Abs(float64(res.Presence[k]) - want[k]); d > 1e-5 {
				t.Errorf("%s: presence of %s %v, independent %v", c.name, labels[k], res.Presence[k], want[k])
			}
		}
		for _, tg := range res.Targets {
			var w float64
			for _, col := range tg.Columns {
				w += want[col]
			}
			if d := math.Abs(float64(tg.Presence) - w); d > 1e-5 || tg.Absent {
				t.Errorf("%s: target %s presence %v (absent %v), want %v", c.name, tg.Text, tg.Presence, tg.Absent, w)
			}
		}
	}
	for _, c := range []struct {
		model string
		opt   Options
	}{
		{"vit16", Options{Labels: labels, Method: clip.MethodSCLIP}},
		{"vit16", Options{Labels: labels, Method: clip.MethodRaw, Modifiers: "resclip"}},
		{"vit16", Options{Labels: labels, Slide: true}},
		{"rn", Options{Labels: labels}},
	} {
		res, err := goldenExplainer(t, c.model).ExplainPixels(demo, targets, c.opt)
		if err != nil {
			t.Fatal(err)
		}
		if res.Presence != nil || !math.IsNaN(float64(res.Targets[0].Presence)) || len(res.Targets[0].Points) == 0 {
			t.Errorf("%s %+v: presence %v, target %v with %d points; want none computed, points drawn",
				c.model, c.opt, res.Presence, res.Targets[0].Presence, len(res.Targets[0].Points))
		}
	}
}

// The gate: a target below the threshold is Absent and gets no points, one at or above it keeps
// exactly the points of the ungated call; maps and overlays never change; sliding windows too.
// Threshold 0 is the ungated call (the golden points of TestExplainGolden are that call).
func TestPresenceGate(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	labels := []string{"person", "bench", "grass", "sky", "dog", "car"}
	targets := []string{"person", "bench", "dog", "sky"}
	demo := demoPixels(t)
	for _, slide := range []bool{false, true} {
		base := Options{Labels: labels, Slide: slide, Presence: true}
		free, err := e.ExplainPixels(demo, targets, base)
		if err != nil {
			t.Fatal(err)
		}
		ps := make([]float32, len(free.Targets))
		for i, tg := range free.Targets {
			ps[i] = tg.Presence
		}
		sorted := slices.Clone(ps)
		slices.Sort(sorted)
		if sorted[1] == sorted[2] {
			t.Fatalf("test premise: distinct presences, got %v", ps)
		}
		for _, gate := range []float32{sorted[2], (sorted[1] + sorted[2]) / 2} { // at a presence, between two
			opt := base
			opt.PresenceThreshold = gate
			res, err := e.ExplainPixels(demo, targets, opt)
			if err != nil {
				t.Fatal(err)
			}
			absent := 0
			for i, tg := range res.Targets {
				ref := free.Targets[i]
				if tg.Absent != (ps[i] < gate) {
					t.Errorf("slide %v gate %v: %s presence %v absent %v", slide, gate, tg.Text, ps[i], tg.Absent)
				}
				if tg.Absent {
					absent++
					if tg.Points != nil {
						t.Errorf("%s: absent with %d points", tg.Text, len(tg.Points))
					}
				} else if !slices.Equal(tg.Points, ref.Points) || len(tg.Points) == 0 {
					t.Errorf("%s: points %v, ungated %v", tg.Text, tg.Points, ref.Points)
				}
				if !slices.Equal(tg.Map, ref.Map) || !slices.Equal(tg.OverlayRGB, ref.OverlayRGB) {
					t.Errorf("%s: the gate changed the map or the overlay", tg.Text)
				}
			}
			if absent != 2 {
				t.Errorf("slide %v gate %v: %d targets absent, want the 2 below it (presences %v)", slide, gate, absent, ps)
			}
		}
	}
}

// Thresholds outside [0, 1] and NaN are one-line errors, before any model work (CheckTargets)
// and in Explain.
func TestPresenceThresholdBad(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	for _, v := range []float32{-0.01, 1.01, float32(math.NaN()), float32(math.Inf(1))} {
		opt := Options{Labels: []string{"dog", "cat"}, PresenceThreshold: v}
		for name, err := range map[string]error{
			"CheckTargets": CheckTargets([]string{"dog"}, opt),
			"Explain":      func() error { _, err := e.ExplainPixels(demoPixels(t), []string{"dog"}, opt); return err }(),
		} {
			if err == nil || !strings.Contains(err.Error(), "presence threshold") || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s with threshold %v: %v", name, v, err)
			}
		}
	}
	if _, err := ClassPresence([]float32{1, 0}, Matrix{Rows: 1, Cols: 3, Data: []float32{1, 0, 0}}, 100); err == nil {
		t.Error("ClassPresence accepted mismatched channels")
	}
	if _, err := ClassPresence([]float32{0, 0}, Matrix{Rows: 2, Cols: 2, Data: []float32{1, 0, 0, 1}}, 100); err == nil {
		t.Error("ClassPresence accepted a zero image embedding")
	}
}
