package surgery

import (
	"errors"
	"slices"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
)

// A modifier reaches the encoder through Options (Modifiers, or "method+modifier" in Method),
// ResCLIP's semantic feedback reads the label set's own text features, and the result names
// what ran.
func TestExplainWithModifiers(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	labels := []string{"bench", "person", "ground", "building"}
	templates := []string{"a photo of a {}."}
	pix := demoPixels(t)
	opt := Options{Labels: labels, Templates: templates, Method: "NACLIP+resclip"}
	res, err := e.ExplainPixels(pix, []string{"person"}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Method != clip.MethodNACLIP || res.Modifiers != clip.Modifiers(clip.ModifierResCLIP) || res.FeatureSurgery {
		t.Fatalf("result ran %q+%q (feature surgery %v)", res.Method, res.Modifiers, res.FeatureSurgery)
	}
	// The same encoder by hand: the label set's features as the classes.
	text, err := e.TextFeatures(labels, templates)
	if err != nil {
		t.Fatal(err)
	}
	size := e.Model().Config.ImageResolution
	in, err := e.Model().Config.DenseTransform(size).ApplyPixels(pix)
	if err != nil {
		t.Fatal(err)
	}
	f, err := e.Model().EncodeImageWithClasses(in, 1, size, size,
		clip.ImageOptions{Method: clip.MethodNACLIP, Modifiers: clip.Modifiers(clip.ModifierResCLIP)},
		&clip.Features{Data: text.Data, Shape: []int{text.Rows, text.Cols}})
	if err != nil {
		t.Fatal(err)
	}
	want := RawSimilarity(Normalize(FeatureMatrix(f)), text)
	if !slices.Equal(res.Similarity.Data, want.Data) {
		t.Error("Explain's similarity is not that of the encoder given the label set's features")
	}
	plain, err := e.ExplainPixels(pix, []string{"person"}, Options{Labels: labels, Templates: templates, Method: clip.MethodNACLIP})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(plain.Similarity.Data, res.Similarity.Data) {
		t.Error("the modifier changed nothing")
	}
	// Options.Modifiers is the same switch.
	opt.Method, opt.Modifiers = clip.MethodNACLIP, "resclip"
	again, err := e.ExplainPixels(pix, []string{"person"}, opt)
	if err != nil || !slices.Equal(again.Similarity.Data, res.Similarity.Data) {
		t.Errorf("Options.Modifiers differs from Method naclip+resclip (%v)", err)
	}
}

// A modifier on a ResNet and one its definition excludes: one-line errors before any encoding.
func TestModifiersRefused(t *testing.T) {
	for _, c := range []struct {
		model string
		opt   Options
		want  error
	}{
		{"rn", Options{Method: clip.MethodRaw, Modifiers: "resclip"}, clip.ErrViTOnly},
		{"vit16", Options{Method: "maskclip+resclip"}, clip.ErrModifierBase},
		{"vit16", Options{Method: clip.MethodGEM, Modifiers: "resclip"}, clip.ErrModifierBase},
		{"vit16", Options{Method: clip.MethodNACLIP, Modifiers: "nope"}, clip.ErrUnknownModifier},
	} {
		err := goldenExplainer(t, c.model).CheckOptions(c.opt)
		if !errors.Is(err, c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %+v: %v, want one line %v", c.model, c.opt, err, c.want)
		}
	}
}
