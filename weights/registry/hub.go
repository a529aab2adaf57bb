package registry

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/go-huggingface/hub"
)

// FetchHF returns the local path of file in the Hugging Face repo (e.g. Model.HFRepo) at
// Options.HFRevision (default "main"), from the hub cache or downloaded into it.
//
// It follows huggingface_hub's semantics: online, the hub is asked which commit the revision is (one
// small request), and a file already in that commit's snapshot is used without a download; when the hub
// cannot be reached, or offline (Options.Offline, CLIPSURGERY_OFFLINE=1, HF_HUB_OFFLINE=1), the commit
// recorded in refs/<revision> is used; a revision that is a commit needs no request when its file is
// cached. Downloads go through go-huggingface's hub package (its download manager), into
// blobs/<digest>.unverified, which takes its final name only once its SHA-256 (git blob id for small
// non-LFS files) equals the hub's: a failed, cancelled or corrupt transfer leaves nothing under the
// cache's names. Progress is drawn on Options.Progress.
func FetchHF(ctx context.Context, repo, file string, opt Options) (string, error) {
	paths, r, err := fetchHub(ctx, repo, "", func(has func(string) bool) ([]string, error) {
		if !has(file) {
			return nil, fmt.Errorf("repo %s has no file %s", repo, file)
		}
		return []string{file}, nil
	}, opt)
	if err != nil {
		return "", r.unavailable(err, file)
	}
	return paths[0], nil
}

// hubPick chooses the files to fetch from what a repo holds (has reports whether it holds a file).
type hubPick func(has func(file string) bool) ([]string, error)

// fetchHub returns the local paths of the files pick chooses in repo id at revision rev. Its errors
// wrap ErrOffline, ErrNetwork, ErrNotFound (also: the repo lacks a file pick needs), ErrHTTPStatus
// or ErrChecksum, or are the context's or a local failure; r is nil when id or rev is malformed.
func fetchHub(ctx context.Context, id, rev string, pick hubPick, opt Options) (paths []string, r *hubRepo, err error) {
	r, err = newHubRepo(id, rev, opt)
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, r, err
	}
	fromCache := func(commit string) ([]string, error) {
		files, err := pick(func(f string) bool { return r.cached(commit, f) })
		if err != nil {
			return nil, err
		}
		out := make([]string, len(files))
		for i, f := range files {
			out[i] = r.snapshotPath(commit, f)
		}
		return out, nil
	}
	// A commit already in the cache needs no network (huggingface_hub does the same).
	if isHex(r.rev, 40) {
		if p, err := fromCache(strings.ToLower(r.rev)); err == nil {
			return p, r, nil
		}
	}
	if opt.offline() {
		commit, ok := r.cachedCommit()
		if !ok {
			return nil, r, fmt.Errorf("%w; %s@%s is not in the hub cache %s", opt.errOffline(), r.id, r.rev, r.cache)
		}
		p, err := fromCache(commit)
		if err != nil {
			return nil, r, fmt.Errorf("%w; the cached snapshot %s: %v", opt.errOffline(), commit, err)
		}
		return p, r, nil
	}

	info, err := r.info(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, r, ctx.Err()
		}
		if errors.Is(err, ErrNetwork) { // unreachable hub: what the cache holds will do, as in Python
			if commit, ok := r.cachedCommit(); ok {
				if p, cerr := fromCache(commit); cerr == nil {
					opt.warn("Hugging Face hub unreachable (%v); using the cached snapshot %s of %s", err, commit, r.id)
					return p, r, nil
				}
			}
		}
		return nil, r, err
	}
	listed := make(map[string]*hub.FileInfo, len(info.Siblings))
	for _, fi := range info.Siblings {
		if fi != nil {
			listed[fi.Name] = fi
		}
	}
	files, err := pick(func(f string) bool { return listed[f] != nil })
	if err != nil {
		return nil, r, notFound(fmt.Sprintf("%v (commit %s)", err, info.CommitHash))
	}
	for _, f := range files {
		p, err := r.fetchFile(ctx, info.CommitHash, listed[f])
		if err != nil {
			return nil, r, err
		}
		paths = append(paths, p)
	}
	if err := r.setRef(info.CommitHash); err != nil {
		opt.warn("could not record %s of %s in the hub cache: %v", r.rev, r.id, err)
	}
	return paths, r, nil
}

// infoLimit bounds the repo description read from the hub (a large repo lists thousands of files).
const infoLimit = 64 << 20

// info asks the hub which commit r.rev is and what files (with their digests) it holds: the
// /api/models/<id>/revision/<rev>?blobs=true document, decoded into go-huggingface's hub.RepoInfo.
func (r *hubRepo) info(ctx context.Context) (*hub.RepoInfo, error) {
	u := r.endpoint + "/api/models/" + r.id + "/revision/" + url.PathEscape(r.rev) + "?blobs=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	req.Header.Set("User-Agent", hub.DefaultHttpUserAgent())
	client := r.opt.Client
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNetwork, err) // err names the method and URL
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		// The hub answers 401 for a repo that does not exist (it could be private).
		what := fmt.Sprintf("Hugging Face repo %s does not exist or is private (HTTP %d)", r.id, resp.StatusCode)
		switch resp.Header.Get("X-Error-Code") {
		case "RevisionNotFound":
			what = fmt.Sprintf("Hugging Face repo %s has no revision %q", r.id, r.rev)
		case "GatedRepo":
			what = fmt.Sprintf("Hugging Face repo %s is gated (accept its terms on the hub, then place its files by hand)", r.id)
		}
		return nil, notFound(what)
	default:
		return nil, fmt.Errorf("%w: GET %s: %s", ErrHTTPStatus, u, resp.Status)
	}
	var info hub.RepoInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, infoLimit)).Decode(&info); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: GET %s: unreadable repo description: %v", ErrNetwork, u, err)
	}
	if !isHex(info.CommitHash, 40) {
		return nil, fmt.Errorf("%w: GET %s: no commit in the repo description", ErrHTTPStatus, u)
	}
	info.CommitHash = strings.ToLower(info.CommitHash)
	return &info, nil
}

// blobName is the name the hub cache gives a file's content: its SHA-256 for an LFS file, its git
// blob id (SHA-1) otherwise, as huggingface_hub names blobs by the hub's ETag.
func blobName(fi *hub.FileInfo) (name string, lfs bool) {
	if fi.LFS != nil && isHex(fi.LFS.SHA256, 64) {
		return strings.ToLower(fi.LFS.SHA256), true
	}
	if isHex(fi.BlobID, 40) {
		return strings.ToLower(fi.BlobID), false
	}
	return "", false
}

// fetchFile returns the snapshot path of fi at commit, downloading its blob when the cache lacks it.
func (r *hubRepo) fetchFile(ctx context.Context, commit string, fi *hub.FileInfo) (string, error) {
	snap := r.snapshotPath(commit, fi.Name)
	if isRegular(snap) {
		return snap, nil
	}
	if fi.Name == "" || strings.Contains(fi.Name, "..") || strings.HasPrefix(fi.Name, "/") || strings.Contains(fi.Name, `\`) {
		return "", fmt.Errorf("registry: the hub lists an unusable file name %q in %s", fi.Name, r.id)
	}
	name, _ := blobName(fi)
	if name == "" {
		return "", fmt.Errorf("%w: the hub gives no digest for %s in %s; refusing a file that cannot be verified",
			ErrHTTPStatus, fi.Name, r.id)
	}
	blob := filepath.Join(r.dir(), "blobs", name)
	locks := filepath.Join(r.cache, ".locks", r.folder())
	if err := os.MkdirAll(locks, 0o755); err != nil {
		return "", fmt.Errorf("registry: %w", err)
	}
	unlock, err := lockFile(ctx, blob, filepath.Join(locks, name+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if !isRegular(blob) {
		if err := r.download(ctx, commit, fi, blob); err != nil {
			return "", err
		}
	}
	if err := linkSnapshot(snap, blob); err != nil {
		return "", fmt.Errorf("registry: linking %s into the snapshot: %w", fi.Name, err)
	}
	return snap, nil
}

// download fetches fi at commit through go-huggingface's download manager into blob+".unverified"
// (the manager itself writes a ".part" file first and removes it on failure), checks it against the
// hub's digest and renames it to blob. On any failure nothing is left but the lock file.
func (r *hubRepo) download(ctx context.Context, commit string, fi *hub.FileInfo, blob string) (err error) {
	repo := hub.New(r.id).WithEndpoint(r.endpoint).WithCacheDir(r.cache).WithRevision(commit).WithProgressBar(false)
	repo.Verbosity = 0                // hub prints to stdout otherwise
	src, err := repo.FileURL(fi.Name) // a commit revision: no request
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	tmp := blob + ".unverified"
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
			_ = os.Remove(tmp + ".part")
		}
	}()
	size := fi.Size
	if fi.LFS != nil && fi.LFS.Size > 0 {
		size = fi.LFS.Size
	}
	var b *bar
	if w := r.opt.Progress; w != nil {
		fmt.Fprintf(w, "registry: fetching %s from Hugging Face repo %s (cache %s)\n", fi.Name, r.id, r.cache)
	}
	progress := func(done, total int64) {
		if b == nil && r.opt.Progress != nil {
			if size <= 0 {
				size = total
			}
			b = newBar(r.opt.Progress, fi.Name, 0, size, time.Now)
		}
		b.moveTo(done)
	}
	err = repo.GetDownloadManager().Download(ctx, src, tmp, progress)
	if err != nil {
		b.finish()
		if ctx.Err() != nil {
			return fmt.Errorf("registry: download of %s from %s interrupted (nothing kept): %w", fi.Name, r.id, ctx.Err())
		}
		return fmt.Errorf("%w: GET %s: %v", ErrNetwork, src, err)
	}
	if st, err := os.Stat(tmp); err == nil {
		b.moveTo(st.Size()) // the manager does not report its last chunk
	}
	b.finish()
	if err := verifyHubFile(ctx, tmp, fi, src); err != nil {
		return err
	}
	if err := os.Rename(tmp, blob); err != nil {
		return fmt.Errorf("registry: moving verified download into place: %w", err)
	}
	syncDir(filepath.Dir(blob))
	return nil
}

// verifyHubFile checks path against the digest the hub lists for fi.
func verifyHubFile(ctx context.Context, path string, fi *hub.FileInfo, src string) error {
	want, lfs := blobName(fi)
	var got string
	var err error
	if lfs {
		got, err = hashFile(ctx, path, -1)
	} else {
		got, err = gitBlobID(ctx, path)
	}
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	if got != want {
		return &ChecksumError{File: fi.Name, Source: src, Expected: want, Actual: got}
	}
	return nil
}

// gitBlobID is git's object id of the file: SHA-1 of "blob <size>\x00" and the content.
func gitBlobID(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	h := sha1.New()
	io.WriteString(h, "blob "+strconv.FormatInt(st.Size(), 10)+"\x00")
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// unavailable turns a failure of fetchHub into an *UnavailableError that says how to place the
// files (all of the repo when none are named) by hand; context, validation and local errors, and the
// hub's "no such repo or file" (a copy by hand would not help), are returned as they are.
func (r *hubRepo) unavailable(err error, files ...string) error {
	if r == nil || !isUnavailable(err) || errors.Is(err, ErrNotFound) {
		return err
	}
	what, u := r.id, r.endpoint+"/"+r.id
	if len(files) > 0 {
		what, u = strings.Join(files, " + "), r.fileURL(r.rev, files[len(files)-1])
	}
	return &UnavailableError{File: what, Dir: r.dir(), URL: u, Err: err, Hint: r.placeHint(files...)}
}

func (r *hubRepo) placeHint(files ...string) string {
	return fmt.Sprintf("to place it by hand, run `hf download %s` (huggingface_hub) on a machine with network access "+
		"and copy its folder %s into the Hugging Face cache %s (or point $%s / $%s at a cache that holds it)",
		strings.Join(append([]string{r.id}, files...), " "), r.folder(), r.cache, EnvHFHubCache, EnvHFHome)
}

// notFoundError is the hub saying a repo, revision or file does not exist; it matches ErrNotFound.
type notFoundError string

func notFound(msg string) error              { return notFoundError(msg) }
func (e notFoundError) Error() string        { return string(e) }
func (e notFoundError) Is(target error) bool { return target == ErrNotFound }

// isUnavailable reports failures that placing the file by hand would fix.
func isUnavailable(err error) bool {
	for _, e := range []error{ErrOffline, ErrNetwork, ErrNotFound, ErrHTTPStatus, ErrTruncated, ErrChecksum} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
