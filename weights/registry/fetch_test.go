package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fixture returns n reproducible pseudo-random bytes and their SHA-256.
func fixture(n int, seed uint64) ([]byte, string) {
	r := rand.New(rand.NewPCG(seed, 42))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	s := sha256.Sum256(b)
	return b, hex.EncodeToString(s[:])
}

// fixtureServer serves data like a CDN (Range support via http.ServeContent), with switches for the
// failure modes under test. It records the Range header of every request.
type fixtureServer struct {
	data          []byte
	ignoreRange   bool          // answer 200 with the whole body regardless of Range
	truncateFirst int           // >0: the first GET sends this many bytes of a full-length response, then drops
	delay         time.Duration // before answering (widens races in the concurrency test)
	status        int           // non-zero: answer only this status
	stall         chan struct{} // non-nil: send 64 KiB, close stall, then wait for the client to go away

	gets   atomic.Int32
	mu     sync.Mutex
	ranges []string
	paths  []string
}

func (s *fixtureServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.gets.Add(1)
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	s.paths = append(s.paths, r.URL.Path)
	s.mu.Unlock()
	time.Sleep(s.delay)
	switch {
	case s.status != 0:
		http.Error(w, http.StatusText(s.status), s.status)
	case s.stall != nil:
		w.Header().Set("Content-Length", strconv.Itoa(len(s.data)))
		w.Write(s.data[:64<<10])
		w.(http.Flusher).Flush()
		close(s.stall)
		<-r.Context().Done()
	case n == 1 && s.truncateFirst > 0:
		w.Header().Set("Content-Length", strconv.Itoa(len(s.data)))
		w.Write(s.data[:s.truncateFirst])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	case s.ignoreRange:
		w.Header().Set("Content-Length", strconv.Itoa(len(s.data)))
		w.Write(s.data)
	default:
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.data))
	}
}

func (s *fixtureServer) rangeLog() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

// start serves s and returns a test-only registry entry for it: the URL has the reference's shape
// (<sha>/<file>) and the expected hash is the one of the fixture, not of a real checkpoint.
func start(t *testing.T, s *fixtureServer, sha string) (*httptest.Server, Model) {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv, Model{Name: "test", File: "fixture.pt", URL: srv.URL + "/clip/models/" + sha + "/fixture.pt", SHA256: sha}
}

func mustNotExist(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s should not exist (err=%v)", p, err)
		}
	}
}

func mustContain(t *testing.T, p string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, content differs from the %d-byte fixture", p, len(got), len(want))
	}
}

func TestFetchDownloadsThenHitsCache(t *testing.T) {
	t.Parallel()
	data, sha := fixture(300<<10, 1)
	fs := &fixtureServer{data: data}
	srv, m := start(t, fs, sha)
	dir := filepath.Join(t.TempDir(), "cache") // created on demand
	var prog bytes.Buffer
	p, err := Fetch(context.Background(), m, Options{CacheDir: dir, Progress: &prog})
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(dir, "fixture.pt") {
		t.Fatalf("path %s", p)
	}
	mustContain(t, p, data)
	mustNotExist(t, p+".partial")
	if out := prog.String(); !strings.Contains(out, "fixture.pt") || !strings.Contains(out, "100%") ||
		!strings.Contains(out, "300.0 KiB/300.0 KiB") || !strings.HasSuffix(out, "\n") {
		t.Errorf("progress output %q", out)
	}

	srv.Close() // a verified cache hit must not touch the network
	p2, err := Fetch(context.Background(), m, Options{CacheDir: dir})
	if err != nil || p2 != p {
		t.Fatalf("cache hit: %q, %v", p2, err)
	}
	if n := fs.gets.Load(); n != 1 {
		t.Errorf("%d GETs, want 1", n)
	}
}

func TestFetchChecksumMismatchLeavesNothing(t *testing.T) {
	t.Parallel()
	data, actual := fixture(100<<10, 2)
	_, expected := fixture(100<<10, 3)
	_, m := start(t, &fixtureServer{data: data}, expected)
	dir := t.TempDir()
	_, err := Fetch(context.Background(), m, Options{CacheDir: dir})
	var ce *ChecksumError
	if !errors.Is(err, ErrChecksum) || !errors.As(err, &ce) {
		t.Fatalf("want checksum error, got %v", err)
	}
	if ce.Expected != expected || ce.Actual != actual {
		t.Errorf("expected/actual %s/%s", ce.Expected, ce.Actual)
	}
	if msg := err.Error(); !strings.Contains(msg, expected) || !strings.Contains(msg, actual) {
		t.Errorf("message lacks the hashes: %s", msg)
	}
	mustNotExist(t, filepath.Join(dir, "fixture.pt"), filepath.Join(dir, "fixture.pt.partial"))
}

func TestFetchResumesAfterTruncation(t *testing.T) {
	t.Parallel()
	data, sha := fixture(256<<10, 4)
	fs := &fixtureServer{data: data, truncateFirst: 100 << 10}
	_, m := start(t, fs, sha)
	dir := t.TempDir()
	final := filepath.Join(dir, "fixture.pt")

	_, err := Fetch(context.Background(), m, Options{CacheDir: dir})
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("want truncation error, got %v", err)
	}
	var ue *UnavailableError
	if !errors.As(err, &ue) || ue.File != "fixture.pt" || ue.Dir != dir {
		t.Errorf("want placement advice, got %v", err)
	}
	mustNotExist(t, final)
	st, err := os.Stat(final + ".partial")
	if err != nil || st.Size() == 0 || st.Size() >= int64(len(data)) {
		t.Fatalf("partial after truncation: %v, %v", st, err)
	}

	p, err := Fetch(context.Background(), m, Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, p, data)
	mustNotExist(t, final+".partial")
	if r := fs.rangeLog(); len(r) != 2 || r[0] != "" || r[1] != fmt.Sprintf("bytes=%d-", st.Size()) {
		t.Errorf("Range headers %q, want a resume from %d", r, st.Size())
	}
}

// seedPartial leaves a partial download as an interrupted earlier run would.
func seedPartial(t *testing.T, dir string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "fixture.pt.partial"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFetchServerIgnoringRangeRestartsClean(t *testing.T) {
	t.Parallel()
	data, sha := fixture(128<<10, 5)
	fs := &fixtureServer{data: data, ignoreRange: true}
	_, m := start(t, fs, sha)
	dir := t.TempDir()
	seedPartial(t, dir, data[:5000])
	var prog bytes.Buffer
	p, err := Fetch(context.Background(), m, Options{CacheDir: dir, Progress: &prog})
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, p, data) // appending the 200 body to the partial would have failed the hash
	if r := fs.rangeLog(); len(r) != 1 || r[0] != "bytes=5000-" {
		t.Errorf("Range headers %q", r)
	}
	if !strings.Contains(prog.String(), "ignored the Range") {
		t.Errorf("no restart notice in %q", prog.String())
	}
}

func TestFetch416(t *testing.T) {
	t.Parallel()
	data, sha := fixture(64<<10, 6)
	t.Run("oversized partial restarts", func(t *testing.T) {
		t.Parallel()
		fs := &fixtureServer{data: data}
		_, m := start(t, fs, sha)
		dir := t.TempDir()
		seedPartial(t, dir, append(append([]byte(nil), data...), "junk"...))
		p, err := Fetch(context.Background(), m, Options{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		mustContain(t, p, data)
		if r := fs.rangeLog(); len(r) != 2 || r[0] != fmt.Sprintf("bytes=%d-", len(data)+4) || r[1] != "" {
			t.Errorf("Range headers %q", r)
		}
	})
	t.Run("complete partial is kept", func(t *testing.T) {
		t.Parallel()
		fs := &fixtureServer{data: data}
		_, m := start(t, fs, sha)
		dir := t.TempDir()
		seedPartial(t, dir, data)
		p, err := Fetch(context.Background(), m, Options{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		mustContain(t, p, data)
		if n := fs.gets.Load(); n != 1 {
			t.Errorf("%d GETs, want 1 (the 416 probe)", n)
		}
	})
}

func TestFetchBadResumeRestartsOnce(t *testing.T) {
	t.Parallel()
	data, sha := fixture(64<<10, 7)
	fs := &fixtureServer{data: data}
	_, m := start(t, fs, sha)
	dir := t.TempDir()
	seedPartial(t, dir, bytes.Repeat([]byte{0xAB}, 3000)) // stale bytes the server happily continues
	p, err := Fetch(context.Background(), m, Options{CacheDir: dir, Progress: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, p, data)
	if r := fs.rangeLog(); len(r) != 2 || r[0] != "bytes=3000-" || r[1] != "" {
		t.Errorf("Range headers %q", r)
	}
}

func TestFetchRedownloadsCorruptCacheFile(t *testing.T) {
	t.Parallel()
	data, sha := fixture(32<<10, 8)
	_, m := start(t, &fixtureServer{data: data}, sha)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fixture.pt"), []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	var prog bytes.Buffer
	p, err := Fetch(context.Background(), m, Options{CacheDir: dir, Progress: &prog})
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, p, data)
	if !strings.Contains(prog.String(), "does not match; re-downloading") {
		t.Errorf("no re-download notice in %q", prog.String())
	}
}

func TestFetchHTTPErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		want   error
	}{{404, ErrNotFound}, {500, ErrHTTPStatus}, {403, ErrHTTPStatus}} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			t.Parallel()
			_, sha := fixture(10, 9)
			_, m := start(t, &fixtureServer{status: tc.status}, sha)
			dir := t.TempDir()
			_, err := Fetch(context.Background(), m, Options{CacheDir: dir})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), m.URL) {
				t.Errorf("error does not name the URL: %v", err)
			}
			if tc.status != 404 && !strings.Contains(err.Error(), strconv.Itoa(tc.status)) {
				t.Errorf("error does not name the status: %v", err)
			}
			mustNotExist(t, filepath.Join(dir, "fixture.pt"), filepath.Join(dir, "fixture.pt.partial"))
		})
	}
}

func TestFetchNetworkErrorNamesFileAndFolder(t *testing.T) {
	t.Parallel()
	_, sha := fixture(10, 10)
	srv, m := start(t, &fixtureServer{}, sha)
	srv.Close() // connection refused, without leaving the machine
	dir := t.TempDir()
	_, err := Fetch(context.Background(), m, Options{CacheDir: dir})
	var ue *UnavailableError
	if !errors.Is(err, ErrNetwork) || !errors.As(err, &ue) {
		t.Fatalf("got %v", err)
	}
	for _, s := range []string{"fixture.pt", dir, m.URL} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q: %v", s, err)
		}
	}
}

func TestFetchOffline(t *testing.T) { // not parallel: uses t.Setenv
	data, sha := fixture(16<<10, 11)
	fs := &fixtureServer{data: data}
	_, m := start(t, fs, sha)
	for _, tc := range []struct {
		name string
		opt  func(string) Options
		env  string
	}{
		{"option", func(d string) Options { return Options{CacheDir: d, Offline: true} }, ""},
		{"env", func(d string) Options { return Options{CacheDir: d} }, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvOffline, tc.env)
			dir := filepath.Join(t.TempDir(), "clip")
			_, err := Fetch(context.Background(), m, tc.opt(dir))
			var ue *UnavailableError
			if !errors.Is(err, ErrOffline) || !errors.As(err, &ue) {
				t.Fatalf("got %v", err)
			}
			if ue.File != "fixture.pt" || ue.Dir != dir || ue.URL != m.URL {
				t.Errorf("advice fields %+v", ue)
			}
			for _, s := range []string{"fixture.pt", dir, m.URL} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q: %v", s, err)
				}
			}
			mustNotExist(t, dir) // offline does not even create the folder

			// A file placed by hand is accepted once verified.
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "fixture.pt"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			if p, err := Fetch(context.Background(), m, tc.opt(dir)); err != nil || p != filepath.Join(dir, "fixture.pt") {
				t.Fatalf("placed file: %q, %v", p, err)
			}
		})
	}
	if n := fs.gets.Load(); n != 0 {
		t.Errorf("offline Fetch made %d requests", n)
	}
}

func TestFetchCancellation(t *testing.T) {
	t.Parallel()
	data, sha := fixture(1<<20, 12)
	t.Run("mid-transfer", func(t *testing.T) {
		t.Parallel()
		fs := &fixtureServer{data: data, stall: make(chan struct{})}
		_, m := start(t, fs, sha)
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() { <-fs.stall; cancel() }()
		done := make(chan error, 1)
		go func() { _, err := Fetch(ctx, m, Options{CacheDir: dir}); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("got %v, want context.Canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Fetch did not return after cancellation")
		}
		mustNotExist(t, filepath.Join(dir, "fixture.pt"))
	})
	t.Run("before start", func(t *testing.T) {
		t.Parallel()
		fs := &fixtureServer{data: data}
		_, m := start(t, fs, sha)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Fetch(ctx, m, Options{CacheDir: t.TempDir()}); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v", err)
		}
		if n := fs.gets.Load(); n != 0 {
			t.Errorf("%d requests after cancellation", n)
		}
	})
}

func TestFetchConcurrentSameModel(t *testing.T) {
	t.Parallel()
	data, sha := fixture(512<<10, 13)
	fs := &fixtureServer{data: data, delay: 50 * time.Millisecond}
	_, m := start(t, fs, sha)
	dir := t.TempDir()
	const n = 8
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { paths[i], errs[i] = Fetch(context.Background(), m, Options{CacheDir: dir}) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || paths[i] != filepath.Join(dir, "fixture.pt") {
			t.Fatalf("goroutine %d: %q, %v", i, paths[i], errs[i])
		}
	}
	mustContain(t, paths[0], data)
	if got := fs.gets.Load(); got != 1 {
		t.Errorf("%d downloads, want 1: the others must wait and reuse it", got)
	}
}

func TestFetchBaseURL(t *testing.T) {
	t.Parallel()
	data, sha := fixture(8<<10, 14)
	fs := &fixtureServer{data: data}
	srv := httptest.NewServer(fs)
	t.Cleanup(srv.Close)
	// The registry host is replaced; 127.0.0.1:1 would refuse if the rewrite failed.
	m := Model{Name: "test", File: "fixture.pt", URL: "http://127.0.0.1:1/clip/models/" + sha + "/fixture.pt", SHA256: sha}
	p, err := Fetch(context.Background(), m, Options{CacheDir: t.TempDir(), BaseURL: srv.URL + "/mirror/"})
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, p, data)
	fs.mu.Lock()
	seen := fs.paths[0]
	fs.mu.Unlock()
	if seen != "/mirror/clip/models/"+sha+"/fixture.pt" {
		t.Errorf("server saw path %s", seen)
	}
	if _, err := rebase(m.URL, "not a url"); err == nil {
		t.Error("relative BaseURL accepted")
	}
}

func TestFetchRejectsBadEntries(t *testing.T) {
	t.Parallel()
	good := Model{Name: "x", File: "x.pt", URL: "http://127.0.0.1:1/x.pt", SHA256: strings.Repeat("a", 64)}
	for _, m := range []Model{
		{Name: "x", File: "../x.pt", URL: good.URL, SHA256: good.SHA256},
		{Name: "x", File: "", URL: good.URL, SHA256: good.SHA256},
		{Name: "x", File: "x.pt", URL: good.URL, SHA256: "abc"},
		{Name: "x", File: "x.pt", URL: good.URL, SHA256: strings.Repeat("g", 64)},
		{Name: "x", File: "x.pt", SHA256: good.SHA256},
	} {
		if _, err := Fetch(context.Background(), m, Options{CacheDir: t.TempDir(), Offline: true}); err == nil || errors.Is(err, ErrOffline) {
			t.Errorf("%+v: got %v, want a validation error", m, err)
		}
	}
}

func TestCacheDirDefaults(t *testing.T) { // not parallel: uses t.Setenv
	t.Setenv(EnvCache, "/somewhere/else")
	if d, _ := (Options{}).cacheDir(); d != "/somewhere/else" {
		t.Errorf("env cache dir: %s", d)
	}
	if d, _ := (Options{CacheDir: "/explicit"}).cacheDir(); d != "/explicit" {
		t.Errorf("explicit cache dir: %s", d)
	}
	t.Setenv(EnvCache, "")
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	if d, _ := (Options{}).cacheDir(); d != filepath.Join(home, ".cache", "clip") {
		t.Errorf("default cache dir: %s", d)
	}
}

func TestProgressBarThrottles(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	now := time.Unix(0, 0)
	b := newBar(&out, "m.pt", 1000, 5000, func() time.Time { return now })
	for range 100 { // many writes within one interval: no redraw
		b.Write(make([]byte, 10))
	}
	if c := strings.Count(out.String(), "\r"); c != 1 {
		t.Errorf("%d redraws within the interval, want only the initial one", c)
	}
	now = now.Add(time.Second)
	b.Write(make([]byte, 3000))
	b.finish()
	s := out.String()
	if c := strings.Count(s, "\r"); c != 3 {
		t.Errorf("%d redraws, want 3", c)
	}
	last := s[strings.LastIndex(s, "\r")+1:]
	if !strings.Contains(last, "100%") || !strings.Contains(last, "4.9 KiB/4.9 KiB") || !strings.Contains(last, "3.9 KiB/s") {
		t.Errorf("final line %q", last)
	}
}
