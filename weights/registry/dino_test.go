package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/fakehub"
)

func TestDINORegistry(t *testing.T) {
	names := DINONames()
	if len(names) != 12 || names[0] != "dino-s16" || names[7] != "dinov2-g14" || names[11] != "dinov2-g14-reg" {
		t.Fatalf("DINONames() = %v", names)
	}
	for _, c := range DINOCheckpoints() {
		for _, alias := range []string{c.Name, c.Hub, c.HFRepo, strings.ToUpper(c.Name)} {
			got, err := LookupDINO(alias)
			if err != nil || got != c {
				t.Errorf("LookupDINO(%q) = %+v, %v", alias, got, err)
			}
		}
		if !strings.HasSuffix(c.URL, "/"+c.File) || !strings.HasPrefix(c.URL, "https://dl.fbaipublicfiles.com/dino") ||
			!strings.HasPrefix(c.HFRepo, "facebook/dino") {
			t.Errorf("inconsistent entry %+v", c)
		}
		// The file names the hub builders make: <model>[_reg4]_pretrain.pth for DINOv2.
		if strings.HasPrefix(c.Name, "dinov2") && c.File != strings.TrimSuffix(c.Hub, "_reg")+
			map[bool]string{true: "_reg4", false: ""}[strings.HasSuffix(c.Name, "-reg")]+"_pretrain.pth" {
			t.Errorf("%s: file %s", c.Name, c.File)
		}
	}
	if c, _ := LookupDINO("dinov2_vitb14_reg"); c.HFRepo != "facebook/dinov2-with-registers-base" {
		t.Errorf("dinov2_vitb14_reg → %s", c.HFRepo)
	}
	if c, _ := LookupDINO("dino_vitb8"); c.URL != "https://dl.fbaipublicfiles.com/dino/dino_vitbase8_pretrain/dino_vitbase8_pretrain.pth" {
		t.Errorf("dino_vitb8 → %s", c.URL)
	}
	if _, err := LookupDINO("dinov3-b16"); !errors.Is(err, ErrUnknownModel) || !strings.Contains(err.Error(), "dinov2-b14") {
		t.Errorf("unknown name: %v", err)
	}
}

// TestFetchDINO: the authors' .pth in the checkpoint cache or torch.hub's folder is used without
// network; otherwise the Hugging Face copy (config.json + weights) is downloaded, verified and
// cached; offline with nothing cached the error names both ways to place it.
func TestFetchDINO(t *testing.T) { // not parallel: t.Setenv
	t.Setenv(EnvTorchHome, t.TempDir())
	c, err := LookupDINO("dinov2-s14")
	if err != nil {
		t.Fatal(err)
	}
	h := fakehub.New(t)
	cfg, weights := []byte(`{"model_type": "dinov2"}`), []byte("weights bytes")
	h.Add(c.HFRepo, fakehub.File{Name: "config.json", Data: cfg}, fakehub.File{Name: "model.safetensors", Data: weights, LFS: true},
		fakehub.File{Name: "pytorch_model.bin", Data: []byte("older copy"), LFS: true})
	opt := hubOptions(t, h)

	w, conf, err := FetchDINO(context.Background(), c, opt)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, w, weights)
	mustContain(t, conf, cfg)
	if filepath.Base(w) != "model.safetensors" || h.Downloads(c.HFRepo, "pytorch_model.bin") != 0 {
		t.Errorf("took %s (safetensors first, as transformers)", w)
	}
	off := opt
	off.Offline = true
	if w2, _, err := FetchDINO(context.Background(), c, off); err != nil || w2 != w {
		t.Errorf("offline from the hub cache: %s, %v", w2, err)
	}

	// torch.hub's download, then a copy placed in the checkpoint cache, win over the hub.
	th := filepath.Join(os.Getenv(EnvTorchHome), "hub", "checkpoints")
	os.MkdirAll(th, 0o755)
	os.WriteFile(filepath.Join(th, c.File), []byte("pth"), 0o644)
	if p, conf, err := FetchDINO(context.Background(), c, off); err != nil || p != filepath.Join(th, c.File) || conf != "" {
		t.Errorf("torch.hub's file: %s %q %v", p, conf, err)
	}
	os.WriteFile(filepath.Join(opt.CacheDir, c.File), []byte("pth"), 0o644)
	if p, _, err := FetchDINO(context.Background(), c, off); err != nil || p != filepath.Join(opt.CacheDir, c.File) {
		t.Errorf("checkpoint cache: %s %v", p, err)
	}

	// Nothing anywhere, offline: one line naming the repo, the URL and the folders.
	empty := Options{HFCacheDir: t.TempDir(), CacheDir: t.TempDir(), Offline: true}
	t.Setenv(EnvTorchHome, t.TempDir())
	_, _, err = FetchDINO(context.Background(), c, empty)
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrOffline) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{c.HFRepo, c.URL, c.File, empty.CacheDir} {
		if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	// A repo with weights but no config is refused, naming what is missing.
	h.Add(c.HFRepo, fakehub.File{Name: "model.safetensors", Data: weights, LFS: true})
	opt2 := hubOptions(t, h)
	if _, _, err := FetchDINO(context.Background(), c, opt2); err == nil || !strings.Contains(err.Error(), "not its config.json") {
		t.Errorf("no config: %v", err)
	}
}
