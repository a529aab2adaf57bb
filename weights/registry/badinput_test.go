package registry_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// Bad-input matrix of the registry through its public API: names the reference does not accept,
// and caches that cannot be used. The download failure modes (404, truncation, checksum,
// cancellation, offline) are covered by fetch_test.go.

func TestBadModelNames(t *testing.T) {
	for _, name := range []string{"", " ", "ViT-B/17", "vit-b/16", "ViT-B/16 ", "ViT-B-16", "CS-", "CS-vit-b/16",
		"RN50x8", "ViT-L/14@224px", "../../etc/passwd", "ViT-B/16\x00", strings.Repeat("x", 10000)} {
		m, err := registry.Lookup(name)
		if err == nil || m.Name != "" {
			t.Errorf("Lookup(%.20q) accepted: %+v", name, m)
			continue
		}
		msg := err.Error()
		if !errors.Is(err, registry.ErrUnknownModel) || !strings.Contains(msg, "ViT-B/16") || !strings.Contains(msg, "CS-RN50") ||
			strings.Contains(msg, "\n") {
			t.Errorf("Lookup(%.20q): %q should be ErrUnknownModel on one line, listing the valid names", name, msg)
		}
	}
}

// TestBadCacheDir: a cache folder that is a file, or a cached checkpoint that is a folder, gives an
// error naming the path, and the server is not asked for anything it cannot store.
func TestBadCacheDir(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) }))
	defer srv.Close()
	m, err := registry.Lookup("CS-ViT-B/16")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = registry.Fetch(context.Background(), m, registry.Options{CacheDir: file, BaseURL: srv.URL})
	if err == nil || !strings.Contains(err.Error(), "not-a-dir") {
		t.Errorf("cache folder is a file: %v", err)
	}

	sub := filepath.Join(dir, "cache")
	if err := os.MkdirAll(filepath.Join(sub, m.File), 0o700); err != nil {
		t.Fatal(err)
	}
	p, err := registry.Fetch(context.Background(), m, registry.Options{CacheDir: sub, Offline: true})
	if err == nil || p != "" || !strings.Contains(err.Error(), m.File) {
		t.Errorf("cached checkpoint is a folder: %q, %v", p, err)
	}
}

// TestCorruptCacheOffline: offline, a cached file with the wrong SHA-256 is never returned.
func TestCorruptCacheOffline(t *testing.T) {
	m, err := registry.Lookup("RN50")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, m.File), []byte("not the checkpoint"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := registry.Fetch(context.Background(), m, registry.Options{CacheDir: dir, Offline: true})
	var ue *registry.UnavailableError
	if err == nil || p != "" || !errors.As(err, &ue) || !strings.Contains(err.Error(), m.File) {
		t.Errorf("corrupt cached file offline: %q, %v", p, err)
	}
	t.Log(err)
}
