package registry

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clipsurgery/clipsurgery/internal/fakehub"
)

// hubOptions points Options at a fresh hub cache and the fake hub.
func hubOptions(t *testing.T, h *fakehub.Hub) Options {
	t.Helper()
	return Options{HFCacheDir: t.TempDir(), HFEndpoint: h.URL, CacheDir: t.TempDir()}
}

// cacheFiles lists the regular files and links under dir, except lock files (left in place on
// purpose, as huggingface_hub leaves them).
func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".lock") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func TestFetchHFDownloadVerifyAndCache(t *testing.T) { // not parallel: uses t.Setenv
	data, sha := fixture(300<<10, 20)
	const repo, file = "timm/fake_clip.openai", "open_clip_model.safetensors"
	h := fakehub.New(t)
	commit := h.Add(repo, fakehub.File{Name: file, Data: data, LFS: true})
	opt := hubOptions(t, h)
	var progress bytes.Buffer
	opt.Progress = &progress
	p, err := FetchHF(context.Background(), repo, file, opt)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, p, data)
	root := filepath.Join(opt.HFCacheDir, "models--timm--fake_clip.openai")
	if p != filepath.Join(root, "snapshots", commit, file) {
		t.Errorf("path %s is not the snapshot file of commit %s", p, commit)
	}
	link, err := os.Readlink(p)
	if err != nil || link != filepath.Join("..", "..", "blobs", sha) {
		t.Errorf("snapshot link %q (%v), want the relative link to blobs/%s", link, err, sha)
	}
	if st, err := os.Stat(filepath.Join(root, "blobs", sha)); err != nil || st.Mode().Perm()&0o044 != 0o044 {
		t.Errorf("blob %v, %v: want a file readable by all", st, err)
	}
	if ref, err := os.ReadFile(filepath.Join(root, "refs", "main")); err != nil || string(ref) != commit {
		t.Errorf("refs/main %q, %v", ref, err)
	}
	if out := progress.String(); !strings.Contains(out, file+" [") || !strings.Contains(out, "100%") ||
		!strings.Contains(out, "300.0 KiB/300.0 KiB") || !strings.Contains(out, repo) {
		t.Errorf("progress output %q", out)
	}
	if got := cacheFiles(t, opt.HFCacheDir); len(got) != 3 { // blob, snapshot link, refs/main
		t.Errorf("cache holds %v", got)
	}

	// Online again: the hub is asked for the commit, the file is not downloaded twice.
	if p2, err := FetchHF(context.Background(), repo, file, opt); err != nil || p2 != p || h.Downloads(repo, file) != 1 {
		t.Fatalf("second fetch: %q, %v, %d downloads", p2, err, h.Downloads(repo, file))
	}
	before := h.Requests()
	// A commit revision that is cached needs no request at all.
	byCommit := opt
	byCommit.HFRevision = commit
	if p3, err := FetchHF(context.Background(), repo, file, byCommit); err != nil || p3 != p {
		t.Fatalf("by commit: %q, %v", p3, err)
	}
	// Offline, by option and by huggingface_hub's variable: refs/main names the snapshot.
	off := opt
	off.Offline = true
	if p4, err := FetchHF(context.Background(), repo, file, off); err != nil || p4 != p {
		t.Fatalf("offline: %q, %v", p4, err)
	}
	t.Setenv(EnvHFOffline, "1")
	if p5, err := FetchHF(context.Background(), repo, file, opt); err != nil || p5 != p {
		t.Fatalf("HF_HUB_OFFLINE=1: %q, %v", p5, err)
	}
	if h.Requests() != before {
		t.Errorf("cache hits made %d requests", h.Requests()-before)
	}
	t.Setenv(EnvHFOffline, "")

	// Hub unreachable: the cached snapshot serves, with a warning.
	h.Close()
	var warn bytes.Buffer
	opt.Progress = &warn
	if p6, err := FetchHF(context.Background(), repo, file, opt); err != nil || p6 != p || !strings.Contains(warn.String(), "unreachable") {
		t.Fatalf("hub down: %q, %v, %q", p6, err, warn.String())
	}
}

func TestFetchHFCorruptDownloadRefusedAndRemoved(t *testing.T) {
	t.Parallel()
	data, actual := fixture(64<<10, 21)
	const repo, file = "timm/bad_clip.openai", "open_clip_model.safetensors"
	h := fakehub.New(t)
	h.Add(repo, fakehub.File{Name: file, Data: data, LFS: true, Corrupt: true})
	opt := hubOptions(t, h)
	_, err := FetchHF(context.Background(), repo, file, opt)
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.Actual != actual || ce.Expected == actual {
		t.Fatalf("want a checksum error, got %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	if got := cacheFiles(t, opt.HFCacheDir); len(got) != 0 {
		t.Errorf("a refused download left %v in the cache", got)
	}
}

func TestFetchHFSmallFileVerifiedByGitBlobID(t *testing.T) {
	t.Parallel()
	cfg := []byte(`{"model_cfg": {"embed_dim": 512}}`)
	h := fakehub.New(t)
	h.Add("org/cfg", fakehub.File{Name: "open_clip_config.json", Data: cfg})
	opt := hubOptions(t, h)
	p, err := FetchHF(context.Background(), "org/cfg", "open_clip_config.json", opt)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, p, cfg)
	if target, _ := filepath.EvalSymlinks(p); filepath.Base(target) != fakehub.GitBlobID(cfg) {
		t.Errorf("blob %s, want the git blob id", target)
	}
	h.Add("org/cfg2", fakehub.File{Name: "open_clip_config.json", Data: cfg, Corrupt: true})
	if _, err := FetchHF(context.Background(), "org/cfg2", "open_clip_config.json", opt); !errors.Is(err, ErrChecksum) {
		t.Errorf("corrupt small file: %v", err)
	}
}

func TestFetchHFOfflineMissing(t *testing.T) {
	t.Parallel()
	const repo, file = "openai/clip-vit-base-patch32", "model.safetensors"
	opt := Options{HFCacheDir: t.TempDir(), Offline: true, HFEndpoint: "http://127.0.0.1:1"}
	_, err := FetchHF(context.Background(), repo, file, opt)
	var ue *UnavailableError
	if !errors.Is(err, ErrOffline) || !errors.As(err, &ue) || !strings.Contains(err.Error(), "hf download "+repo+" "+file) ||
		strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v", err)
	}
}

// TestFetchHFPythonCache: a cache written by Python's huggingface_hub (refs/main, a plain file in the
// snapshot) is used offline.
func TestFetchHFPythonCache(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	const repo, file, commit = "openai/clip-vit-base-patch32", "model.safetensors", "89abcdef0123456789abcdef0123456789abcdef"
	root := filepath.Join(cache, "models--openai--clip-vit-base-patch32")
	snap := filepath.Join(root, "snapshots", commit)
	for _, e := range []struct{ path, body string }{
		{filepath.Join(root, "refs", "main"), commit},
		{filepath.Join(snap, file), "weights"},
	} {
		if err := os.MkdirAll(filepath.Dir(e.path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.path, []byte(e.body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := FetchHF(context.Background(), repo, file, Options{HFCacheDir: cache, Offline: true})
	if err != nil || p != filepath.Join(snap, file) {
		t.Fatalf("refs layout: %q, %v", p, err)
	}
}

func TestFetchHFCancelLeavesNothing(t *testing.T) {
	t.Parallel()
	data, _ := fixture(1<<20, 22)
	stall := make(chan struct{})
	h := fakehub.New(t)
	h.Add("org/slow", fakehub.File{Name: ocSafe, Data: data, LFS: true, Stall: stall})
	opt := hubOptions(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-stall; cancel() }()
	done := make(chan error, 1)
	go func() { _, err := FetchHF(ctx, "org/slow", ocSafe, opt); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("FetchHF did not return after cancellation")
	}
	if got := cacheFiles(t, opt.HFCacheDir); len(got) != 0 {
		t.Errorf("a cancelled download left %v in the cache", got)
	}
}

func TestHubCacheDirFollowsHuggingFaceHub(t *testing.T) { // not parallel: uses t.Setenv
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, v := range []string{EnvHFHubCache, EnvHFHome, "XDG_CACHE_HOME"} {
		t.Setenv(v, "")
	}
	check := func(want string) {
		t.Helper()
		if got, err := (Options{}).hubCacheDir(); err != nil || got != want {
			t.Errorf("hub cache %q (%v), want %q", got, err, want)
		}
	}
	check(filepath.Join(home, ".cache", "huggingface", "hub"))
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	check("/xdg/huggingface/hub")
	t.Setenv(EnvHFHome, "~/hf")
	check(filepath.Join(home, "hf", "hub"))
	t.Setenv(EnvHFHubCache, "/hubcache")
	check("/hubcache")
	if got, _ := (Options{HFCacheDir: "/explicit"}).hubCacheDir(); got != "/explicit" {
		t.Errorf("explicit: %s", got)
	}
}
