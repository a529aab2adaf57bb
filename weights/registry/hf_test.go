package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeHub answers the two calls go-huggingface's hub makes for one file: the repo info
// (/api/models/<repo>/revision/<rev>, giving the commit) and HEAD/GET of
// /<repo>/resolve/<commit>/<file>, whose X-Linked-Etag is the file's SHA-256 as on the real hub for
// LFS files. This mirrors the documented protocol; the real hub is not reachable from the tests.
func fakeHub(t *testing.T, repo, file string, data []byte, etag string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	const commit = "0123456789abcdef0123456789abcdef01234567"
	var hits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/api/models/"+repo+"/revision/main", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"id": repo, "sha": commit,
			"siblings": []map[string]any{{"rfilename": file, "size": len(data)}}})
	})
	mux.HandleFunc("/"+repo+"/resolve/"+commit+"/"+file, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("X-Repo-Commit", commit)
		w.Header().Set("X-Linked-Etag", `"`+etag+`"`)
		w.Header().Set("ETag", `"`+etag+`"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestFetchHFDownloadVerifyAndCache(t *testing.T) {
	t.Parallel()
	data, sha := fixture(40<<10, 20)
	const repo, file = "timm/fake_clip.openai", "open_clip_model.safetensors"
	srv, hits := fakeHub(t, repo, file, data, sha)
	cache := t.TempDir()
	opt := Options{HFCacheDir: cache, BaseURL: srv.URL, Progress: &bytes.Buffer{}}
	p, err := FetchHF(context.Background(), repo, file, opt)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, p, data)
	if !strings.HasPrefix(p, filepath.Join(cache, "models--timm--fake_clip.openai", "snapshots")) {
		t.Errorf("path %s is not in the hub cache layout", p)
	}

	srv.Close()
	before := hits.Load()
	if p2, err := FetchHF(context.Background(), repo, file, opt); err != nil || p2 != p {
		t.Fatalf("cached, online: %q, %v", p2, err)
	}
	opt.Offline = true
	if p3, err := FetchHF(context.Background(), repo, file, opt); err != nil || p3 != p {
		t.Fatalf("cached, offline: %q, %v", p3, err)
	}
	if hits.Load() != before {
		t.Error("cache hits reached the server")
	}
}

func TestFetchHFChecksumMismatch(t *testing.T) {
	t.Parallel()
	data, actual := fixture(20<<10, 21)
	_, claimed := fixture(20<<10, 22)
	const repo, file = "timm/bad_clip.openai", "open_clip_model.safetensors"
	srv, _ := fakeHub(t, repo, file, data, claimed)
	cache := t.TempDir()
	_, err := FetchHF(context.Background(), repo, file, Options{HFCacheDir: cache, BaseURL: srv.URL})
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.Expected != claimed || ce.Actual != actual {
		t.Fatalf("want checksum error, got %v", err)
	}
	mustNotExist(t, filepath.Join(hfRepoDir(cache, repo), "blobs", claimed))
}

func TestFetchHFOffline(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	const repo, file = "openai/clip-vit-base-patch32", "pytorch_model.bin"
	_, err := FetchHF(context.Background(), repo, file, Options{HFCacheDir: cache, Offline: true, BaseURL: "http://127.0.0.1:1"})
	var ue *UnavailableError
	if !errors.Is(err, ErrOffline) || !errors.As(err, &ue) || !strings.Contains(err.Error(), "huggingface-cli download "+repo+" "+file) {
		t.Fatalf("got %v", err)
	}

	// A cache written by Python's huggingface_hub records the branch in refs/<rev>.
	const commit = "89abcdef0123456789abcdef0123456789abcdef"
	root := hfRepoDir(cache, repo)
	snap := filepath.Join(root, "snapshots", commit)
	for _, e := range []struct{ path, body string }{
		{filepath.Join(root, "refs", "main"), commit + "\n"},
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
