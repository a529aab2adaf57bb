package registry

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/fakehub"
)

// TestObtainUsesHubCopyFirst: ViT-B/16 comes from its timm repo; the reference's URL is not touched.
func TestObtainUsesHubCopyFirst(t *testing.T) {
	t.Parallel()
	m, err := Lookup("ViT-B/16")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := fixture(96<<10, 30)
	h := fakehub.New(t)
	commit := h.Add(m.HFRepo, fakehub.File{Name: ocSafe, Data: data, LFS: true},
		fakehub.File{Name: ocBin, Data: []byte("the other copy"), LFS: true})
	cdn := &fixtureServer{data: data}
	srv, _ := start(t, cdn, m.SHA256)
	opt := hubOptions(t, h)
	opt.BaseURL = srv.URL
	p, err := Obtain(context.Background(), m, opt)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(opt.HFCacheDir, "models--timm--vit_base_patch16_clip_224.openai", "snapshots", commit, ocSafe); p != want {
		t.Errorf("path %s, want %s (safetensors first, as open_clip)", p, want)
	}
	mustContain(t, p, data)
	if cdn.gets.Load() != 0 {
		t.Error("the reference's URL was used although the hub had the weights")
	}
}

// TestObtainBinWhenNoSafetensors: a repo with only open_clip_pytorch_model.bin serves it.
func TestObtainBinWhenNoSafetensors(t *testing.T) {
	t.Parallel()
	m, _ := Lookup("CS-ViT-L/14@336px")
	h := fakehub.New(t)
	h.Add(m.HFRepo, fakehub.File{Name: ocBin, Data: []byte("zip"), LFS: true}, fakehub.File{Name: "model.safetensors", Data: []byte("timm tower"), LFS: true})
	p, err := Obtain(context.Background(), m, hubOptions(t, h))
	if err != nil || filepath.Base(p) != ocBin {
		t.Fatalf("%q, %v", p, err)
	}
}

// TestObtainHandPlacedFileWins: the reference's checkpoint in the cache folder is used without any
// request, online.
func TestObtainHandPlacedFileWins(t *testing.T) {
	t.Parallel()
	data, sha := fixture(32<<10, 31)
	h := fakehub.New(t)
	_, m := start(t, &fixtureServer{data: data}, sha)
	m.HFRepo, m.HFFile = "timm/fake.openai", ocSafe
	opt := hubOptions(t, h)
	if err := os.WriteFile(filepath.Join(opt.CacheDir, m.File), data, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Obtain(context.Background(), m, opt)
	if err != nil || p != filepath.Join(opt.CacheDir, m.File) {
		t.Fatalf("%q, %v", p, err)
	}
	if h.Requests() != 0 {
		t.Errorf("%d hub requests", h.Requests())
	}
}

// TestObtainFallsBackToURL: hub 404 (no such repo, or a repo without open_clip files) and an
// unreachable hub fall back to the reference's URL; a corrupt hub download does not.
func TestObtainFallsBackToURL(t *testing.T) {
	t.Parallel()
	data, sha := fixture(48<<10, 32)
	for _, tc := range []struct {
		name     string
		setup    func(*fakehub.Hub)
		down     bool
		fallback bool
	}{
		{"no repo", func(*fakehub.Hub) {}, false, true},
		{"no open_clip file", func(h *fakehub.Hub) {
			h.Add("timm/fake.openai", fakehub.File{Name: "model.safetensors", Data: data, LFS: true})
		}, false, true},
		{"hub unreachable", func(*fakehub.Hub) {}, true, true},
		{"corrupt hub copy", func(h *fakehub.Hub) {
			h.Add("timm/fake.openai", fakehub.File{Name: ocSafe, Data: data, LFS: true, Corrupt: true})
		}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := fakehub.New(t)
			tc.setup(h)
			cdn := &fixtureServer{data: data}
			_, m := start(t, cdn, sha)
			m.HFRepo, m.HFFile = "timm/fake.openai", ocSafe
			opt := hubOptions(t, h)
			var warn bytes.Buffer
			opt.Progress = &warn
			if tc.down {
				h.Close()
			}
			p, err := Obtain(context.Background(), m, opt)
			if !tc.fallback {
				if !errors.Is(err, ErrChecksum) || cdn.gets.Load() != 0 {
					t.Fatalf("corrupt hub copy: %q, %v, %d URL requests", p, err, cdn.gets.Load())
				}
				return
			}
			if err != nil || p != filepath.Join(opt.CacheDir, m.File) {
				t.Fatalf("%q, %v", p, err)
			}
			mustContain(t, p, data)
			if !strings.Contains(warn.String(), "timm/fake.openai") {
				t.Errorf("no warning about the hub: %q", warn.String())
			}
			t.Log(warn.String())
		})
	}
}

// TestObtainOfflineMessage: offline with nothing cached, one line naming the hub repo and file and
// the reference's file and folder.
func TestObtainOfflineMessage(t *testing.T) { // not parallel: uses t.Setenv
	m, _ := Lookup("CS-RN101")
	for _, env := range []string{EnvOffline, EnvHFOffline} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "1")
			opt := Options{HFCacheDir: t.TempDir(), CacheDir: t.TempDir(), HFEndpoint: "http://127.0.0.1:1"}
			_, err := Obtain(context.Background(), m, opt)
			var ue *UnavailableError
			if !errors.Is(err, ErrOffline) || !errors.As(err, &ue) {
				t.Fatalf("got %v", err)
			}
			msg := err.Error()
			for _, s := range []string{m.HFRepo, m.HFFile, "RN101.pt", opt.CacheDir, opt.HFCacheDir, "$" + env} {
				if !strings.Contains(msg, s) {
					t.Errorf("message lacks %q: %s", s, msg)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("not one line: %q", msg)
			}
			t.Log(msg)
		})
	}
}

// TestObtainOfflineUsesHubCache: offline, the hub cache entry (refs/main) serves the name.
func TestObtainOfflineUsesHubCache(t *testing.T) {
	t.Parallel()
	m, _ := Lookup("ViT-B/32")
	h := fakehub.New(t)
	h.Add(m.HFRepo, fakehub.File{Name: ocBin, Data: []byte("state dict"), LFS: true})
	opt := hubOptions(t, h)
	first, err := Obtain(context.Background(), m, opt)
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	opt.Offline = true
	if p, err := Obtain(context.Background(), m, opt); err != nil || p != first {
		t.Fatalf("offline: %q, %v", p, err)
	}
}

// TestObtainBothSourcesFail: hub without the repo and a reference URL answering 404 give one line
// naming both.
func TestObtainBothSourcesFail(t *testing.T) {
	t.Parallel()
	h := fakehub.New(t)
	_, sha := fixture(8<<10, 33)
	srv, m := start(t, &fixtureServer{status: 404}, sha)
	m.HFRepo, m.HFFile = "timm/gone.openai", ocSafe
	_, err := Obtain(context.Background(), m, hubOptions(t, h))
	if !errors.Is(err, ErrNotFound) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v", err)
	}
	for _, s := range []string{"timm/gone.openai", strings.TrimPrefix(srv.URL, "http://"), "fixture.pt", "hf download timm/gone.openai " + ocSafe} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message lacks %q: %v", s, err)
		}
	}
}
