package clip

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clipsurgery/clipsurgery/gomlx_clip/tokenizer"
	"github.com/clipsurgery/clipsurgery/internal/fakehub"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// hubWithGolden starts a fake hub serving the golden vit16 state dict as the open_clip copy of
// ViT-B/16 and points the environment at it and at a fresh hub cache, which it returns.
func hubWithGolden(t *testing.T) (*fakehub.Hub, string) {
	t.Helper()
	data, err := os.ReadFile(goldens.Path(t, "models", "vit16.openai.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	entry, err := registry.Lookup("ViT-B/16")
	if err != nil {
		t.Fatal(err)
	}
	h := fakehub.New(t)
	h.Add(entry.HFRepo, fakehub.File{Name: "open_clip_model.safetensors", Data: data, LFS: true},
		fakehub.File{Name: "open_clip_config.json", Data: []byte(vit16OpenCLIPConfig)})
	hfCache := t.TempDir()
	t.Setenv("HF_ENDPOINT", h.URL)
	t.Setenv("HF_HUB_CACHE", hfCache)
	return h, hfCache
}

// vit16OpenCLIPConfig describes the golden vit16 model as open_clip's hub copies of OpenAI's
// models describe theirs (quick_gelu, OpenAI's preprocessing).
const vit16OpenCLIPConfig = `{"model_cfg": {"embed_dim": 64, "quick_gelu": true,
	"vision_cfg": {"image_size": 224, "layers": 8, "width": 128, "patch_size": 16},
	"text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 3}},
	"preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
	"interpolation": "bicubic", "resize_mode": "shortest"}}`

// countingServer stands for the reference's URL; it must not be asked.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestLoadFromHubEndToEnd: "CS-ViT-B/16" comes from its Hugging Face copy (here the golden weights
// under the hub's file name), builds the surgery model with the golden features, and loads again
// offline from the hub cache.
func TestLoadFromHubEndToEnd(t *testing.T) { // not parallel: t.Setenv, replaces releasedConfigOf
	h, hfCache := hubWithGolden(t)
	noReleasedConfig(t) // the golden model is tiny, not ViT-B/16
	cdn, cdnHits := countingServer(t)
	var progress strings.Builder
	opt := LoadOptions{CacheDir: t.TempDir(), BaseURL: cdn.URL, Progress: &progress}
	m, err := Load(context.Background(), "CS-ViT-B/16", opt)
	if err != nil {
		t.Fatal(err)
	}
	if size := m.Config.ImageResolution; size != 224 || m.Method != MethodSurgery || cdnHits.Load() != 0 || h.Downloads("timm/vit_base_patch16_clip_224.openai", "open_clip_model.safetensors") != 1 {
		t.Fatalf("size %d method %q, %d requests to the reference's URL, %d hub downloads", m.Config.ImageResolution, m.Method, cdnHits.Load(),
			h.Downloads("timm/vit_base_patch16_clip_224.openai", "open_clip_model.safetensors"))
	}
	if !strings.Contains(progress.String(), "open_clip_model.safetensors [") {
		t.Errorf("no progress bar: %q", progress.String())
	}
	if m.Config.VisionTower().Act != ActQuickGELU || m.Config.Tokenizer != tokenizer.OpenAI {
		t.Errorf("activation %s, tokenizer %s: a reference name is OpenAI's model", m.Config.VisionTower().Act, m.Config.Tokenizer)
	}
	f := encodeGoldenImage(t, m, m.Config.ImageResolution, SurgeryOptions())
	goldens.AssertClose(t, "hub copy", f.Data, f.Shape, goldens.Load(t, "vit16/surgery/demo_224/image_features_raw.f32.npy"), atol, rtol)

	h.Close()
	t.Setenv("HF_HUB_OFFLINE", "1")
	m2, err := Load(context.Background(), "ViT-B/16", opt)
	if err != nil {
		t.Fatalf("offline from the hub cache %s: %v", hfCache, err)
	}
	if m2.Method != MethodRaw {
		t.Errorf("plain name loaded as %q", m2.Method)
	}
}

// TestLoadChecksReleasedArchitecture: a checkpoint that is not what the name promises is refused.
func TestLoadChecksReleasedArchitecture(t *testing.T) { // not parallel: t.Setenv
	hubWithGolden(t)
	_, err := Load(context.Background(), "CS-ViT-B/16", LoadOptions{CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "not CS-ViT-B/16") || !strings.Contains(err.Error(), "expected 768") {
		t.Fatalf("tiny model under ViT-B/16's name: %v", err)
	}
}

// TestLoadHandPlacedCheckpointWins: ViT-B-16.pt in the checkpoint cache is used without asking the hub.
func TestLoadHandPlacedCheckpointWins(t *testing.T) { // not parallel: replaces lookupModel, t.Setenv
	h, _ := hubWithGolden(t)
	jit := goldens.Path(t, "models", "vit16.openai.jit.pt")
	srv, _ := serveFixture(t, "ViT-B/16", jit) // the fixture's digest for the name
	data, err := os.ReadFile(jit)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	if err := os.WriteFile(filepath.Join(cache, "ViT-B-16.pt"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(context.Background(), "ViT-B/16", LoadOptions{CacheDir: cache, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if h.Requests() != 0 || m.Method != MethodRaw {
		t.Errorf("%d hub requests, method %q", h.Requests(), m.Method)
	}
}

func TestLoadHubNames(t *testing.T) { // not parallel: t.Setenv
	h, hfCache := hubWithGolden(t)
	data, err := os.ReadFile(goldens.Path(t, "models", "vit16.openai.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	// The tiny GELU model of the openclip goldens stands for two published repos: a LAION one
	// (GELU, as its config says) and a DFN one, whose tag open_clip builds with QuickGELU.
	geluFiles := func() []fakehub.File {
		var files []fakehub.File
		for _, name := range []string{"open_clip_model.safetensors", "open_clip_config.json"} {
			b, err := os.ReadFile(goldens.Path(t, "openclip", "models", "gelu", name))
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, fakehub.File{Name: name, Data: b, LFS: strings.HasSuffix(name, ".safetensors")})
		}
		return files
	}
	h.Add("laion/CLIP-ViT-B-16-laion2B-s34B-b88K", geluFiles()...)
	h.Add("apple/DFN2B-CLIP-ViT-B-16", geluFiles()...)
	h.Add("org/noconfig", fakehub.File{Name: "open_clip_model.safetensors", Data: data, LFS: true})

	for _, tc := range []struct{ name, msg string }{
		{"hf-hub:org/absent", "does not exist"},
		{"hf-hub:org/noconfig", "not its config open_clip_config.json"},
		{"hf-hub:not a repo", "not a Hugging Face repo id"},
		{"ViT-B-16/no_such_tag", "ViT-B-16/laion2b_s34b_b88k"},
		{"ViT-B/17", registry.HubPrefix},
	} {
		_, err := Load(context.Background(), tc.name, LoadOptions{CacheDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", tc.name, err)
		}
	}

	// A tag resolves to its repo; weights and config land side by side in the hub cache.
	src, err := resolveSource(context.Background(), "ViT-B-16/laion2b_s34b_b88k", LoadOptions{CacheDir: t.TempDir()})
	snap := filepath.Join(hfCache, "models--laion--CLIP-ViT-B-16-laion2B-s34B-b88K", "snapshots")
	if err != nil || !strings.HasPrefix(src.path, snap) || src.hub == nil || filepath.Dir(src.hub.Config) != filepath.Dir(src.path) {
		t.Fatalf("tag: %+v, %v", src, err)
	}
	if matches, _ := filepath.Glob(filepath.Join(snap, "*", "open_clip_*")); len(matches) != 2 {
		t.Errorf("snapshot holds %v", matches)
	}

	// Hub names build from the config in the snapshot: open_clip's numbers, open_clip's tokenizer.
	input := goldens.Load(t, "openclip/preprocess/shortest_bicubic_224/chelsea.openai.f32.npy")
	for _, name := range []string{"hf-hub:laion/CLIP-ViT-B-16-laion2B-s34B-b88K", "ViT-B-16/laion2b_s34b_b88k"} {
		m, err := Load(context.Background(), name, LoadOptions{CacheDir: t.TempDir()})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.Layout != LayoutOpenCLIP || m.Config.VisionTower().Act != ActGELU || m.Config.Tokenizer != tokenizer.OpenCLIP || m.Method != MethodSurgery {
			t.Errorf("%s: layout %s, activation %s, tokenizer %s, method %s", name, m.Layout, m.Config.VisionTower().Act, m.Config.Tokenizer, m.Method)
		}
		f, err := m.EncodeImagePooled(input.F32, 1, 224, 224)
		if err != nil {
			t.Fatal(err)
		}
		goldens.AssertClose(t, name, f.Data, f.Shape, goldens.Load(t, "openclip/gelu/image_features.f32.npy"), atol, rtol)
	}
	// A tag open_clip builds with QuickGELU gets it, whatever the repo's config says.
	m, err := Load(context.Background(), "ViT-B-16/dfn2b", LoadOptions{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.VisionTower().Act != ActQuickGELU || m.Config.TextTower().Act != ActQuickGELU {
		t.Errorf("dfn2b: activation %s / %s, want QuickGELU", m.Config.VisionTower().Act, m.Config.TextTower().Act)
	}
}

// TestReleasedConfigMatchesInference: every reference name has a promised architecture, and it is
// what InferConfig reads off tensors of the shapes that architecture implies.
func TestReleasedConfigMatchesInference(t *testing.T) {
	t.Parallel()
	for _, name := range registry.Names() {
		want, ok := ReleasedConfig(name)
		if !ok {
			t.Fatalf("%s: no released config", name)
		}
		ts := map[string]*weights.Tensor{}
		for n, shape := range ExpectedShapes(want) {
			ts[n] = &weights.Tensor{Name: n, Shape: shape, DType: "F32"}
		}
		got, err := InferConfig(ts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := checkReleased(got, want, name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if strings.Contains(name, "ViT") && !strings.Contains(name, "/"+strconv.Itoa(want.PatchSize)) {
			t.Errorf("%s: patch size %d", name, want.PatchSize)
		}
		if strings.HasSuffix(name, "@336px") != (want.ImageResolution == 336) {
			t.Errorf("%s: resolution %d", name, want.ImageResolution)
		}
	}
	if _, ok := ReleasedConfig("ViT-B-16"); ok {
		t.Error("a name outside the reference's has a released config")
	}
}
