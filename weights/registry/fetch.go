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

// Environment variables read by Options.
const (
	EnvCache   = "CLIPSURGERY_CACHE"   // cache folder when Options.CacheDir is empty
	EnvOffline = "CLIPSURGERY_OFFLINE" // "1"/"true"/"yes"/"on": never touch the network
)

// Options controls Fetch and FetchHF. The zero value is ready to use.
type Options struct {
	// CacheDir holds the checkpoints. Default: $CLIPSURGERY_CACHE, else ~/.cache/clip — the folder the
	// Python reference downloads into, so checkpoints it already fetched are reused as they are.
	CacheDir string
	// Offline forbids network access (also set by CLIPSURGERY_OFFLINE=1): only verified cached files are
	// returned; otherwise the error says which file to place in which folder.
	Offline bool
	// Progress receives a throttled one-line progress bar and warnings; nil means silent.
	Progress io.Writer
	// Client is the HTTP client for Fetch; nil uses one without an overall timeout (checkpoints are
	// large) but with a response-header timeout. Cancel through ctx.
	Client *http.Client
	// BaseURL replaces the scheme and host of the model URL (a path prefix is kept), for tests and
	// mirrors. For FetchHF it is the hub endpoint.
	BaseURL string

	// HFCacheDir is FetchHF's cache, in the hub layout; default go-huggingface's hub.DefaultCacheDir()
	// (~/.cache/huggingface/hub, shared with the Python huggingface_hub library).
	HFCacheDir string
	// HFRevision is the hub branch, tag or commit for FetchHF; default "main".
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

func (e *UnavailableError) Error() string {
	hint := e.Hint
	if hint == "" {
		hint = fmt.Sprintf("to place it by hand, download %s on a machine with network access and save it as %q in the folder %s",
			e.URL, e.File, e.Dir)
	}
	return fmt.Sprintf("cannot obtain %s: %v\n  %s", e.File, e.Err, hint)
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

func (opt Options) offline() bool {
	if opt.Offline {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(os.Getenv(EnvOffline))) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
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

// Fetch returns the path of m's checkpoint in the cache, downloading it if needed. Like the reference's
// _download: a cached file with the right SHA-256 is returned without network access; a cached file
// with the wrong one is re-downloaded (with a warning). Unlike it, bytes go to <file>.partial, a broken
// transfer is resumed with an HTTP Range request on the next call, and only a verified file is renamed
// to <file>, so the final name never holds a partial or corrupt checkpoint.
func Fetch(ctx context.Context, m Model, opt Options) (string, error) {
	if err := m.validate(); err != nil {
		return "", err
	}
	want := strings.ToLower(m.SHA256)
	dir, err := opt.cacheDir()
	if err != nil {
		return "", err
	}
	final := filepath.Join(dir, m.File)
	src, err := rebase(m.URL, opt.BaseURL)
	if err != nil {
		return "", err
	}
	unavailable := func(err error) error { return &UnavailableError{File: m.File, Dir: dir, URL: m.URL, Err: err} }

	// Fast path without a lock: the final name only ever receives complete, verified files by
	// rename, so reading it concurrently is safe.
	st, ok, err := checkFinal(ctx, final, want)
	if err != nil {
		return "", err
	}
	if ok {
		return final, nil
	}
	if opt.offline() {
		if st != nil {
			return "", unavailable(fmt.Errorf("%w; %s exists but its SHA256 does not match %s", ErrOffline, final, want))
		}
		return "", unavailable(ErrOffline)
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
		_, ok, err := checkFinal(ctx, final, want)
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
	for attempt := 0; ; attempt++ {
		resumed, err := download(ctx, client, src, partial, want, m.File, opt)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return "", err
		}
		// A resumed file can mix bytes of two server versions; one clean retry settles it.
		if resumed && attempt == 0 && errors.Is(err, ErrChecksum) {
			opt.warn("resumed download of %s failed verification; starting over", m.File)
			continue
		}
		return "", unavailable(err)
	}
	if err := os.Rename(partial, final); err != nil {
		return "", fmt.Errorf("registry: moving verified download into place: %w", err)
	}
	syncDir(dir)
	return final, nil
}

// checkFinal reports whether path holds the expected bytes. st is nil when path does not exist.
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
