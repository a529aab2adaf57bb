package registry

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/fakehub"
)

func TestParseHubName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, repo, rev string
		ok, bad, quick  bool
	}{
		{"hf-hub:laion/CLIP-ViT-B-16-laion2B-s34B-b88K", "laion/CLIP-ViT-B-16-laion2B-s34B-b88K", "", true, false, false},
		{"hf-hub:org/name@0123456789abcdef0123456789abcdef01234567", "org/name", "0123456789abcdef0123456789abcdef01234567", true, false, false},
		{"ViT-B-16/laion2b_s34b_b88k", "laion/CLIP-ViT-B-16-laion2B-s34B-b88K", "", true, false, false},
		{"ViT-B-16:laion2B-s34B-b88K", "laion/CLIP-ViT-B-16-laion2B-s34B-b88K", "", true, false, false},
		{"ViT-H-14/dfn5b", "apple/DFN5B-CLIP-ViT-H-14", "", true, false, true},
		{"ViT-bigG-14/laion2b_s39b_b160k", "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k", "", true, false, false},
		{"ViT-B-16/no_such_tag", "", "", true, true, false},
		{"hf-hub:justaname", "", "", true, true, false},
		{"hf-hub:../../etc", "", "", true, true, false},
		{"hf-hub:a/b@../x", "", "", true, true, false},
		{"ViT-B/16", "", "", false, false, false},
		{"models/vit.safetensors", "", "", false, false, false},
	} {
		ref, ok, err := ParseHubName(tc.name)
		if ok != tc.ok || (err != nil) != tc.bad || ref.Repo != tc.repo || ref.Revision != tc.rev || ref.QuickGELU != tc.quick {
			t.Errorf("%s: %+v ok=%v err=%v", tc.name, ref, ok, err)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error not one line", tc.name)
		}
	}
	if _, _, err := ParseHubName("ViT-B-16/nope"); err == nil || !strings.Contains(err.Error(), "ViT-B-16/laion2b_s34b_b88k") {
		t.Errorf("unknown tag should list the known ones: %v", err)
	}
	for _, e := range PretrainedTags() {
		if ref, ok, err := ParseHubName(e[0]); !ok || err != nil || ref.Repo != e[1] || checkRepoID(e[1]) != nil {
			t.Errorf("%s -> %s: %+v %v", e[0], e[1], ref, err)
		}
	}
}

func TestFetchHubModelLayouts(t *testing.T) {
	t.Parallel()
	h := fakehub.New(t)
	cfg := fakehub.File{Name: ocConfig, Data: []byte(`{"model_cfg":{}}`)}
	h.Add("laion/both", cfg, fakehub.File{Name: ocSafe, Data: []byte("st"), LFS: true}, fakehub.File{Name: ocBin, Data: []byte("bin"), LFS: true},
		fakehub.File{Name: "model.safetensors", Data: []byte("hf"), LFS: true}, fakehub.File{Name: "config.json", Data: []byte("{}")})
	h.Add("laion/bin", cfg, fakehub.File{Name: ocBin, Data: []byte("bin"), LFS: true})
	h.Add("openai/hf", fakehub.File{Name: "model.safetensors", Data: []byte("hf"), LFS: true}, fakehub.File{Name: "config.json", Data: []byte("{}")})
	h.Add("org/noconfig", fakehub.File{Name: ocSafe, Data: []byte("st"), LFS: true})
	h.Add("org/noweights", fakehub.File{Name: "README.md", Data: []byte("hi")})
	opt := hubOptions(t, h)
	for _, tc := range []struct{ repo, weights, config, layout string }{
		{"laion/both", ocSafe, ocConfig, LayoutOpenCLIP},
		{"laion/bin", ocBin, ocConfig, LayoutOpenCLIP},
		{"openai/hf", "model.safetensors", "config.json", LayoutTransformers},
	} {
		hm, err := FetchHubModel(context.Background(), HubRef{Name: "hf-hub:" + tc.repo, Repo: tc.repo}, opt)
		if err != nil || !strings.HasSuffix(hm.Weights, "/"+tc.weights) || !strings.HasSuffix(hm.Config, "/"+tc.config) || hm.Layout != tc.layout {
			t.Errorf("%s: %+v, %v", tc.repo, hm, err)
		}
		if err == nil && strings.TrimSuffix(hm.Weights, tc.weights) != strings.TrimSuffix(hm.Config, tc.config) {
			t.Errorf("%s: weights and config in different folders", tc.repo)
		}
	}
	for _, tc := range []struct{ repo, msg string }{
		{"org/noconfig", "not its config open_clip_config.json"},
		{"org/noweights", "holds no CLIP weights"},
		{"org/absent", "does not exist"},
	} {
		_, err := FetchHubModel(context.Background(), HubRef{Name: "hf-hub:" + tc.repo, Repo: tc.repo}, opt)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", tc.repo, err)
		}
		t.Log(err)
	}
	if got := cacheFiles(t, opt.HFCacheDir); len(got) == 0 {
		t.Error("nothing cached")
	}
	for _, f := range cacheFiles(t, opt.HFCacheDir) {
		if strings.Contains(f, "noconfig") || strings.Contains(f, "noweights") || strings.Contains(f, "absent") {
			t.Errorf("a refused repo left %s in the cache", f)
		}
	}
}
