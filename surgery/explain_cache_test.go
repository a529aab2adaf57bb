package surgery

import (
	"context"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// The persistent text cache changes no result: an Explainer filling it, one reading it (a new
// model and Explainer, as in another process) and one without it give the same maps, bit for bit.
func TestExplainerTextCache(t *testing.T) {
	path := goldens.Path(t, "models", "vit16.openai.safetensors")
	tc, err := clip.OpenTextCache(clip.TextCacheOptions{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	explain := func(opt ExplainerOptions) *Result {
		m, err := clip.Load(context.Background(), path, clip.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewExplainerWith(m, opt)
		if err != nil {
			t.Fatal(err)
		}
		if (e.TextCache() == nil) != opt.NoTextCache {
			t.Fatalf("TextCache() = %v with %+v", e.TextCache(), opt)
		}
		res, err := e.ExplainPixels(demoPixels(t), []string{"person", "bench"}, Options{Labels: []string{"person", "bench", "grass", "sky"}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	want := explain(ExplainerOptions{NoTextCache: true})
	cold := explain(ExplainerOptions{TextCache: tc})
	if st, _ := tc.Stats(); st.Entries != 4*len(clip.DefaultTemplates()) {
		t.Fatalf("%d embeddings stored, want %d", st.Entries, 4*len(clip.DefaultTemplates()))
	}
	warm := explain(ExplainerOptions{TextCache: tc})
	for i := range want.Targets {
		for name, got := range map[string]*Result{"cold": cold, "warm": warm} {
			a, b := got.Targets[i].Map, want.Targets[i].Map
			for j := range b {
				if a[j] != b[j] {
					t.Fatalf("%s cache, %s: map value %d is %v, without the cache %v", name, want.Targets[i].Text, j, a[j], b[j])
				}
			}
		}
	}
	t.Setenv(clip.EnvTextCache, "0")
	explain(ExplainerOptions{NoTextCache: true}) // the variable turns the default off: checked in TextCache()
	m, err := clip.Load(context.Background(), path, clip.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := NewExplainer(m); e.TextCache() != nil {
		t.Errorf("%s=0 but NewExplainer uses a text cache", clip.EnvTextCache)
	}
}
