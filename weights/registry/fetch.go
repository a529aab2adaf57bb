package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Environment variables read by Options. The Hugging Face ones are those of Python's huggingface_hub,
// so that both share one cache and one offline switch.
const (
	EnvCache   = "CLIPSURGERY_CACHE"   // cache folder when Options.CacheDir is empty
	EnvOffline = "CLIPSURGERY_OFFLINE" // "1"/"true"/"yes"/"on": never touch the network

	EnvHFOffline  = "HF_HUB_OFFLINE" // same values: never touch the network (hub, reference URLs, images)
	EnvHFHubCache = "HF_HUB_CACHE"   // the hub cache folder (models--org--name/...)
	EnvHFHome     = "HF_HOME"        // the hub cache is $HF_HOME/hub when HF_HUB_CACHE is unset
	EnvHFEndpoint = "HF_ENDPOINT"    // the hub's address (mirrors); default https://huggingface.co
)

// Options controls Fetch, FetchHF, Obtain and FetchHubModel. The zero value is ready to use.
type Options struct {
	// CacheDir holds the checkpoints. Default: $CLIPSURGERY_CACHE, else ~/.cache/clip — the folder the
	// Python reference downloads into, so checkpoints it already fetched are reused as they are.
	CacheDir string
	// Offline forbids network access (also set by CLIPSURGERY_OFFLINE=1 or HF_HUB_OFFLINE=1): only
	// cached files are returned; otherwise the error says which file to place in which folder.
	Offline bool
	// Progress receives a throttled one-line progress bar and warnings; nil means silent.
	Progress io.Writer
	// Client is the HTTP client for Fetch and for the hub's metadata requests; nil uses one without an
	// overall timeout (checkpoints are large) but with a response-header timeout. Cancel through ctx.
	// The hub's file transfers go through go-huggingface's own client.
	Client *http.Client
	// BaseURL replaces the scheme and host of the reference's URL (a path prefix is kept), for tests and
	// mirrors. It does not apply to the hub (HFEndpoint).
	BaseURL string

	// HFCacheDir is the hub cache, in huggingface_hub's layout (shared with Python). Default:
	// $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
	// ~/.cache/huggingface/hub.
	HFCacheDir string
	// HFEndpoint is the hub's address; default $HF_ENDPOINT, else https://huggingface.co.
	HFEndpoint string
	// HFRevision is the hub branch, tag or commit when the name does not give one; default "main".
	HFRevision string
}

// Errors a caller may test with errors.Is. Failures are returned as *UnavailableError (which unwraps
// to one of these) except context cancellation, which is returned as the context's error.
var (
	ErrOffline    = errors.New("offline mode: network access disabled")
	ErrNetwork    = errors.New("network error")
	ErrNotFound   = errors.New("not found on the server (HTTP 404)")
	ErrHTTPStatus = errors.New("unexpected HTTP status")
	ErrTruncated  = errors.New("transfer truncated")
	ErrChecksum   = errors.New("SHA256 checksum mismatch")
)

// UnavailableError means the checkpoint could not be obtained here. Its message says how to obtain it
// by hand, because the usual fix on an air-gapped or firewalled machine is to copy the file in.
type UnavailableError struct {
	File string // file name to create
	Dir  string // folder to create it in
	URL  string // where to download it from on another machine
	Hint string // replaces the default placement advice when set (the hub cache layout differs)
	Err  error
}

// Error is one line: what failed, then how to place the file by hand.
func (e *UnavailableError) Error() string {
	hint := e.Hint
	if hint == "" {
		hint = fmt.Sprintf("to place it by hand, download %s on a machine with network access and save it as %q in the folder %s",
			e.URL, e.File, e.Dir)
	}
	return fmt.Sprintf("cannot obtain %s: %v; %s", e.File, e.Err, hint)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// ChecksumError reports bytes whose SHA-256 is not the expected one. It matches ErrChecksum.
type ChecksumError struct {
	File, Source, Expected, Actual string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("%s from %s has SHA256 %s, expected %s; the bad copy was deleted", e.File, e.Source, e.Actual, e.Expected)
}

func (e *ChecksumError) Is(target error) bool { return target == ErrChecksum }

// cacheDir is the folder Fetch uses.
func (opt Options) cacheDir() (string, error) {
	if opt.CacheDir != "" {
		return opt.CacheDir, nil
	}
	if d := os.Getenv(EnvCache); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder: set Options.CacheDir or $%s (%w)", EnvCache, err)
	}
	return filepath.Join(home, ".cache", "clip"), nil
}

func (opt Options) offline() bool { return opt.offlineBy() != "" }

// offlineBy says what forbids network access ("" when nothing does), for the error message.
func (opt Options) offlineBy() string {
	if opt.Offline {
		return "the offline option"
	}
	for _, env := range []string{EnvOffline, EnvHFOffline} {
		switch strings.ToLower(strings.TrimSpace(os.Getenv(env))) {
		case "1", "true", "yes", "on":
			return "$" + env
		}
	}
	return ""
}

// errOffline is ErrOffline saying what set it.
func (opt Options) errOffline() error {
	return fmt.Errorf("%w (%s)", ErrOffline, opt.offlineBy())
}

func (opt Options) warn(format string, args ...any) {
	w := opt.Progress
	if w == nil {
		w = os.Stderr // the reference warns too; a re-download of gigabytes should not be silent
	}
	fmt.Fprintf(w, "registry: "+format+"\n", args...)
}

// rebase swaps scheme and host of raw for those of base, keeping base's path as a prefix.
func rebase(raw, base string) (string, error) {
	if base == "" {
		return raw, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	b, err := url.Parse(base)
	if err != nil || b.Scheme == "" || b.Host == "" {
		return "", fmt.Errorf("registry: BaseURL %q is not an absolute URL", base)
	}
	u.Scheme, u.Host = b.Scheme, b.Host
	u.Path, u.RawPath = strings.TrimSuffix(b.Path, "/")+u.Path, ""
	return u.String(), nil
}

func (m Model) validate() error {
	if m.File == "" || m.File != filepath.Base(m.File) || m.File == "." || m.File == ".." {
		return fmt.Errorf("registry: model %q has an unusable file name %q", m.Name, m.File)
	}
	if !isHex(m.SHA256, 64) {
		return fmt.Errorf("registry: model %q has no valid SHA256 (%q)", m.Name, m.SHA256)
	}
	if m.URL == "" {
		return fmt.Errorf("registry: model %q has no URL", m.Name)
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Fetch returns the path of m's checkpoint in the cache, downloading it from its URL (the reference's)
// if needed. Like the reference's _download: a cached file with the right SHA-256 is returned without
// network access; a cached file with the wrong one is re-downloaded (with a warning). Unlike it, bytes
// go to <file>.partial, a broken transfer is resumed with an HTTP Range request on the next call, and
// only a verified file is renamed to <file>, so the final name never holds a partial or corrupt
// checkpoint. Obtain is the entry point that also knows the hub copy.
func Fetch(ctx context.Context, m Model, opt Options) (string, error) {
	if err := m.validate(); err != nil {
		return "", err
	}
	dir, err := opt.cacheDir()
	if err != nil {
		return "", err
	}
	return fetchFile(ctx, fileSpec{file: m.File, url: m.URL, want: strings.ToLower(m.SHA256)}, dir, opt)
}

// Asset is a small file with no published digest (the notebooks' example images), fetched into
// a folder the way checkpoints are: into <File>.partial, accepted only when Check (may be nil)
// passes on the complete download, then renamed to File (mode 0644).
type Asset struct {
	File, URL string
	// MaxBytes bounds the download (0: no bound); a larger file is refused.
	MaxBytes int64
	// Check validates the downloaded file before it takes its name, e.g. that it decodes as an image.
	Check func(path string) error
}

// FetchAsset returns the path of a in dir, downloading it when it is not there. Without a digest, an
// existing file is trusted as it is; a broken transfer starts over instead of resuming.
func FetchAsset(ctx context.Context, a Asset, dir string, opt Options) (string, error) {
	if a.File == "" || a.File != filepath.Base(a.File) || a.File == "." || a.File == ".." || a.URL == "" {
		return "", fmt.Errorf("registry: asset %q (%s) needs a plain file name and a URL", a.File, a.URL)
	}
	return fetchFile(ctx, fileSpec{file: a.File, url: a.URL, limit: a.MaxBytes, check: a.Check}, dir, opt)
}

// fileSpec is what fetchFile needs: a file name in the cache, its URL, and how to accept it.
type fileSpec struct {
	file, url string
	want      string // lowercase SHA-256; "" when there is none (an Asset)
	limit     int64  // largest accepted size, 0 = any
	check     func(path string) error
}

func fetchFile(ctx context.Context, fs fileSpec, dir string, opt Options) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	final := filepath.Join(dir, fs.file)
	src, err := rebase(fs.url, opt.BaseURL)
	if err != nil {
		return "", err
	}
	unavailable := func(err error) error { return &UnavailableError{File: fs.file, Dir: dir, URL: fs.url, Err: err} }

	// Fast path without a lock: the final name only ever receives complete, verified files by
	// rename, so reading it concurrently is safe.
	st, ok, err := checkFinal(ctx, final, fs.want)
	if err != nil {
		return "", err
	}
	if ok {
		return final, nil
	}
	if opt.offline() {
		if st != nil {
			return "", unavailable(fmt.Errorf("%w; %s exists but its SHA256 does not match %s", opt.errOffline(), final, fs.want))
		}
		return "", unavailable(opt.errOffline())
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("registry: creating cache folder: %w", err)
	}
	unlock, err := lockPath(ctx, final)
	if err != nil {
		return "", err
	}
	defer unlock()

	// Someone may have finished while we waited; re-hash only if the file changed.
	st2, err := os.Stat(final)
	if err != nil {
		st = nil // gone meanwhile: nothing to warn about
	} else if st == nil || !sameFile(st, st2) {
		_, ok, err := checkFinal(ctx, final, fs.want)
		if err != nil {
			return "", err
		}
		if ok {
			return final, nil
		}
		st = st2
	}
	if st != nil {
		opt.warn("%s exists, but its SHA256 checksum does not match; re-downloading", final)
	}

	client := opt.Client
	if client == nil {
		client = defaultClient
	}
	partial := final + ".partial"
	if fs.want == "" {
		_ = os.Remove(partial) // without a digest a resumed file could not be checked: start clean
	}
	for attempt := 0; ; attempt++ {
		resumed, err := download(ctx, client, src, partial, fs, opt)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return "", err
		}
		// A resumed file can mix bytes of two server versions; one clean retry settles it.
		if resumed && attempt == 0 && errors.Is(err, ErrChecksum) {
			opt.warn("resumed download of %s failed verification; starting over", fs.file)
			continue
		}
		if fs.want == "" {
			_ = os.Remove(partial)
		}
		return "", unavailable(err)
	}
	if fs.check != nil {
		if err := fs.check(partial); err != nil {
			_ = os.Remove(partial)
			return "", unavailable(fmt.Errorf("downloaded %s refused: %w", src, err))
		}
	}
	if err := os.Rename(partial, final); err != nil {
		return "", fmt.Errorf("registry: moving verified download into place: %w", err)
	}
	syncDir(dir)
	return final, nil
}

// checkFinal reports whether path holds the expected bytes (any bytes when want is ""). st is nil
// when path does not exist.
func checkFinal(ctx context.Context, path, want string) (st os.FileInfo, ok bool, err error) {
	st, err = os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if !st.Mode().IsRegular() {
		return st, false, fmt.Errorf("registry: %s exists and is not a regular file", path)
	}
	if want == "" {
		return st, true, nil
	}
	got, err := hashFile(ctx, path, -1)
	if err != nil {
		return st, false, err
	}
	return st, got == want, nil
}

func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// hashFile hashes the first n bytes of path (all of it when n < 0), honouring ctx between chunks:
// hashing a multi-gigabyte checkpoint takes seconds.
func hashFile(ctx context.Context, path string, n int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	var r io.Reader = ctxReader{ctx, f}
	if n >= 0 {
		r = io.LimitReader(r, n)
	}
	if _, err := io.Copy(h, r); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

var defaultClient = &http.Client{Transport: func() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = time.Minute // a silent server fails instead of hanging; the body may take hours
	return t
}()}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: makes the rename durable where the OS supports it
		_ = d.Close()
	}
}
