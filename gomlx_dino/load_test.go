package dino

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/fakehub"
	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// TestLoadByNameFromHub: a name resolves to its Hugging Face copy (served by the fake hub), which
// is downloaded into the hub cache and loaded with its config.json — and refused, in one line,
// because these tiny weights are not the backbone the name promises. The same files load by path.
func TestLoadByNameFromHub(t *testing.T) {
	t.Setenv(registry.EnvTorchHome, t.TempDir())
	dir := filepath.Join(testdata, "models", "dinov2_tiny_hf")
	var files []fakehub.File
	for _, f := range []string{"config.json", "model.safetensors"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fakehub.File{Name: f, Data: data, LFS: f != "config.json"})
	}
	h := fakehub.New(t)
	h.Add("facebook/dinov2-small", files...)
	opt := LoadOptions{Options: registry.Options{HFEndpoint: h.URL, HFCacheDir: t.TempDir(), CacheDir: t.TempDir()}}
	_, err := Load(context.Background(), "dinov2_vits14", opt)
	if err == nil || !strings.Contains(err.Error(), "holds a dinov2(width 16") || !strings.Contains(err.Error(), "dinov2-s14") ||
		strings.Contains(err.Error(), "\n") {
		t.Fatalf("err %v", err)
	}
	if h.Downloads("facebook/dinov2-small", "model.safetensors") != 1 {
		t.Error("the hub copy was not downloaded")
	}
	m, err := Load(context.Background(), dir, LoadOptions{})
	if err != nil || m.Config.Heads != 2 || m.Naming != NamingHF {
		t.Fatalf("by path: %v, %+v", err, m)
	}
	if _, err := Load(context.Background(), "dinov2-x99", opt); err == nil || !strings.Contains(err.Error(), "neither a checkpoint file nor a model name") {
		t.Errorf("unknown name: %v", err)
	}
}
