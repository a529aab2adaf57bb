package clip

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/npy"
)

// A template list per class: row i equals the prompt ensemble of class i alone over its own
// list; the same list for every class is the plain ensemble bit for bit; the per-template rows of
// EncodeTemplatePromptsCached are the ensemble's raw rows; and its prompts share the disk cache
// with the grid encoding (a selection encodes them once).
func TestClassTemplatesEnsemble(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	ctx := context.Background()
	classes := []string{"person", "bench", "potted plant", "sky"}
	lists := [][]string{
		{"a photo of a {}.", "itap of my {}."},
		DefaultTemplates()[:3],
		{"there is a {} in the scene."},
		{"a photo of a {}.", "a photo of a {}.", "a {} at night."}, // a repeat weighs twice
	}
	got, err := m.EncodeTextWithClassTemplatesCached(ctx, classes, lists, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Shape, []int{4, m.Config.EmbedDim}) {
		t.Fatalf("shape %v", got.Shape)
	}
	for i, c := range classes {
		want, err := m.EncodeTextWithPromptEnsemble([]string{c}, lists[i])
		if err != nil {
			t.Fatal(err)
		}
		e := m.Config.EmbedDim
		goldens.AssertClose(t, c, got.Data[i*e:(i+1)*e], want.Shape, &npy.Array{Shape: want.Shape, F32: want.Data}, atol, rtol)
	}

	same := [][]string{lists[1], lists[1], lists[1], lists[1]}
	a, err := m.EncodeTextWithClassTemplatesCached(ctx, classes, same, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.EncodeTextWithPromptEnsemble(classes, lists[1])
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "one list for all", a, b)

	raw, err := m.EncodeTemplatePromptsCached(ctx, classes, lists[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "ensemble of the raw rows", EnsembleMean(raw, len(classes), len(lists[1])), b)

	c, err := OpenTextCache(TextCacheOptions{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.EncodeTemplatePromptsCached(ctx, classes, ImageNetTemplates(), c); err != nil {
		t.Fatal(err)
	}
	before, _ := c.Stats()
	experts := [][]string{ImageNetTemplates()[3:7], ImageNetTemplates()[:4], ImageNetTemplates()[70:], ImageNetTemplates()[9:10]}
	if _, err := m.EncodeTextWithClassTemplatesCached(ctx, classes, experts, c); err != nil {
		t.Fatal(err)
	}
	if after, _ := c.Stats(); after.Entries != before.Entries || before.Entries != len(classes)*80 {
		t.Errorf("cache entries %d, then %d after the per-class ensemble; want %d both times", before.Entries, after.Entries, len(classes)*80)
	}

	for name, bad := range map[string][][]string{
		"list count":  lists[:3],
		"empty list":  {lists[0], {}, lists[2], lists[3]},
		"no {}":       {lists[0], {"a photo"}, lists[2], lists[3]},
		"nil is none": {lists[0], nil, lists[2], lists[3]},
	} {
		_, err := m.EncodeTextWithClassTemplatesCached(ctx, classes, bad, nil)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "clip: ") {
			t.Errorf("%s: err %v, want a one-line clip error", name, err)
		}
	}
}

// The 80 ImageNet templates are the first 80 of the reference's 85, which then add five "in the
// scene" ones; both lists are fresh copies.
func TestImageNetTemplates(t *testing.T) {
	in, all := ImageNetTemplates(), DefaultTemplates()
	if len(in) != 80 || len(all) != 85 || !slices.Equal(in, all[:80]) {
		t.Fatalf("%d ImageNet templates, %d defaults, prefix equal %v", len(in), len(all), slices.Equal(in, all[:min(80, len(all))]))
	}
	for i, s := range all {
		if strings.Contains(s, "in the scene") != (i >= 80) {
			t.Errorf("template %d %q", i, s)
		}
	}
	if in[0] != "a bad photo of a {}." || in[79] != "a tattoo of the {}." {
		t.Errorf("first and last ImageNet templates %q, %q", in[0], in[79])
	}
	in[0] = "changed"
	if ImageNetTemplates()[0] == "changed" {
		t.Error("ImageNetTemplates shares its slice")
	}
}
