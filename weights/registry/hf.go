package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/go-huggingface/hub"
)

// FetchHF returns the local path of file in the Hugging Face repo (e.g. Model.HFRepo, Model.HFFile),
// downloading it through go-huggingface's hub package and its shared cache (Options.HFCacheDir).
//
// It is a thin wrapper. What it adds: offline mode (answered from the cache layout alone, also reading
// huggingface_hub's refs/ files), a SHA-256 check of LFS files against the hub's ETag (the blob name;
// go-huggingface does not verify content), and the package's error style. What it cannot do:
// Options.Progress gets one line, not a bar (hub only prints to stdout, disabled here); Client is not
// used (hub builds its own); there is no Range resume (hub restarts an interrupted file).
func FetchHF(ctx context.Context, repo, file string, opt Options) (string, error) {
	if repo == "" || file == "" {
		return "", fmt.Errorf("registry: FetchHF needs a repo and a file (got %q, %q)", repo, file)
	}
	cache := opt.HFCacheDir
	if cache == "" {
		cache = hub.DefaultCacheDir()
	}
	rev := opt.HFRevision
	if rev == "" {
		rev = "main"
	}
	endpoint := strings.TrimSuffix(opt.BaseURL, "/")
	if endpoint == "" {
		endpoint = "https://huggingface.co"
		if e := os.Getenv("HF_ENDPOINT"); e != "" { // hub.New honours it too
			endpoint = strings.TrimSuffix(e, "/")
		}
	}
	fileURL := endpoint + "/" + repo + "/resolve/" + rev + "/" + file
	unavailable := func(err error) error {
		return &UnavailableError{File: file, Dir: hfRepoDir(cache, repo), URL: fileURL, Err: err,
			Hint: fmt.Sprintf("on a machine with network access run `huggingface-cli download %s %s` and copy its cache folder %s, "+
				"or download %s and load it by path", repo, file, hfRepoDir(cache, repo), fileURL)}
	}

	if opt.offline() {
		if p, ok := hfCached(cache, repo, rev, file); ok {
			return p, nil
		}
		return "", unavailable(ErrOffline)
	}
	if opt.Progress != nil {
		fmt.Fprintf(opt.Progress, "registry: fetching %s from Hugging Face repo %s (cache %s)\n", file, repo, cache)
	}
	r := hub.New(repo).WithCacheDir(cache).WithRevision(rev).WithEndpoint(endpoint).WithProgressBar(false)
	r.Verbosity = 0 // hub writes progress to stdout otherwise
	p, err := r.DownloadFileCtx(ctx, file)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("registry: fetching %s from %s: %w", file, repo, ctx.Err())
		}
		return "", unavailable(fmt.Errorf("%w: %v", ErrNetwork, err))
	}

	// Hub LFS files are stored under blobs/<sha256>, so the link target names the expected digest.
	blob, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	if want := filepath.Base(blob); isHex(want, 64) {
		got, err := hashFile(ctx, blob, -1)
		if err != nil {
			return "", fmt.Errorf("registry: %w", err)
		}
		if got != want {
			_ = os.Remove(blob) // the next call downloads it again instead of trusting it
			_ = os.Remove(p)
			return "", unavailable(&ChecksumError{File: file, Source: fileURL, Expected: want, Actual: got})
		}
	}
	return p, nil
}

// hfRepoDir is the hub cache folder of a model repo ("models--org--name").
func hfRepoDir(cache, repo string) string {
	return filepath.Join(cache, "models--"+strings.ReplaceAll(repo, "/", "--"))
}

// hfCached finds file of repo@rev in the hub cache without network access. The commit of a branch is
// read from refs/<rev> (huggingface_hub) or info/<rev> (go-huggingface's cached repo JSON, "sha").
func hfCached(cache, repo, rev, file string) (string, bool) {
	root := hfRepoDir(cache, repo)
	commit := rev
	if !isHex(rev, 40) {
		if b, err := os.ReadFile(filepath.Join(root, "refs", rev)); err == nil {
			commit = strings.TrimSpace(string(b))
		} else if b, err := os.ReadFile(filepath.Join(root, "info", rev)); err == nil {
			var info struct {
				SHA string `json:"sha"`
			}
			if json.Unmarshal(b, &info) != nil || info.SHA == "" {
				return "", false
			}
			commit = info.SHA
		} else {
			return "", false
		}
	}
	if !isHex(commit, 40) {
		return "", false
	}
	p := filepath.Join(root, "snapshots", commit, filepath.FromSlash(file))
	st, err := os.Stat(p) // follows the snapshot symlink: a dangling link is not a hit
	if err != nil || !st.Mode().IsRegular() {
		return "", false
	}
	return p, true
}
