package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// download completes partial from src and verifies it against fs.want (when set). It resumes an
// existing partial when the server honours Range (206) and starts clean when the server answers 200
// (Range ignored) or 416 (partial longer than the file, or already complete). resumed reports whether
// bytes from an earlier attempt were kept. On a broken transfer or cancellation the partial stays for
// the next call; on a checksum mismatch or a file above fs.limit it is deleted.
func download(ctx context.Context, client *http.Client, src, partial string, fs fileSpec, opt Options) (resumed bool, err error) {
	want, name := fs.want, fs.file
	f, err := os.OpenFile(partial, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return false, fmt.Errorf("registry: %w", err)
	}
	defer func() {
		if f != nil {
			_ = f.Close()
		}
		// An empty partial (e.g. after a 404) carries nothing worth resuming: leave no litter.
		if st, serr := os.Stat(partial); err != nil && serr == nil && st.Size() == 0 {
			_ = os.Remove(partial)
		}
	}()
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return false, err
	}
	restart := func() error {
		off = 0
		if err := f.Truncate(0); err != nil {
			return err
		}
		_, err := f.Seek(0, io.SeekStart)
		return err
	}

	// Each restart sets off to 0, after which only the 200 branch can succeed: the loop ends.
	var resp *http.Response
	total := int64(-1)
	for resp == nil {
		r, err := get(ctx, client, src, off)
		if err != nil {
			return off > 0, err
		}
		switch {
		case r.StatusCode == http.StatusOK:
			if off > 0 {
				opt.warn("server ignored the Range request; downloading %s from the beginning", name)
				if err := restart(); err != nil {
					r.Body.Close()
					return false, err
				}
			}
			resp, total = r, r.ContentLength
		case r.StatusCode == http.StatusPartialContent && off > 0:
			start, size, ok := parseContentRange(r.Header.Get("Content-Range"))
			if ok && start == off {
				resp, total = r, size
				break
			}
			r.Body.Close()
			if err := restart(); err != nil {
				return false, err
			}
		case r.StatusCode == http.StatusRequestedRangeNotSatisfiable && off > 0:
			r.Body.Close()
			// The partial may already be whole (interrupted between verification and rename).
			if got, err := hashFile(ctx, partial, -1); err == nil && got == want {
				return true, nil
			}
			if err := restart(); err != nil {
				return false, err
			}
		case r.StatusCode == http.StatusNotFound:
			r.Body.Close()
			return false, fmt.Errorf("%w: GET %s", ErrNotFound, src)
		default:
			r.Body.Close()
			return false, fmt.Errorf("%w: GET %s: %s", ErrHTTPStatus, src, r.Status)
		}
	}
	defer resp.Body.Close()
	resumed = off > 0
	if fs.limit > 0 && total > fs.limit {
		_ = f.Truncate(0)
		return resumed, fmt.Errorf("registry: %s is %d bytes, above the limit of %d", src, total, fs.limit)
	}
	body := io.Reader(resp.Body)
	if fs.limit > 0 {
		body = io.LimitReader(resp.Body, fs.limit-off+1) // one byte over tells a file above the limit
	}

	// The hash covers the kept prefix too, so the file is read once more only when resuming.
	h := sha256.New()
	if off > 0 {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return resumed, err
		}
		if _, err := io.CopyN(h, ctxReader{ctx, f}, off); err != nil {
			return resumed, fmt.Errorf("registry: rereading %s: %w", partial, err)
		}
	}
	fw := &fileWriter{f: f}
	dst := []io.Writer{fw, h}
	bar := newBar(opt.Progress, name, off, total, time.Now)
	if bar != nil {
		dst = append(dst, bar)
	}
	n, err := io.Copy(io.MultiWriter(dst...), body)
	got := off + n
	bar.finish()
	switch {
	case fs.limit > 0 && got > fs.limit:
		_ = f.Truncate(0)
		return resumed, fmt.Errorf("registry: %s is larger than the limit of %d bytes", src, fs.limit)
	case fw.err != nil:
		return resumed, fmt.Errorf("registry: writing %s: %w", partial, fw.err)
	case err != nil && ctx.Err() != nil:
		return resumed, fmt.Errorf("registry: download of %s interrupted, %d bytes kept in %s for the next Fetch to resume: %w",
			name, got, partial, ctx.Err())
	case err != nil:
		return resumed, fmt.Errorf("%w after %d of %s bytes (%v); %s is kept and the next Fetch resumes from there",
			ErrTruncated, got, sizeString(total), err, partial)
	case total >= 0 && got != total:
		return resumed, fmt.Errorf("%w: got %d of %d bytes; %s is kept and the next Fetch resumes from there",
			ErrTruncated, got, total, partial)
	}
	if err := f.Sync(); err != nil {
		return resumed, fmt.Errorf("registry: %w", err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return resumed, fmt.Errorf("registry: %w", err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); want != "" && sum != want {
		_ = os.Remove(partial)
		return resumed, &ChecksumError{File: name, Source: src, Expected: want, Actual: sum}
	}
	return resumed, nil
}

func get(ctx context.Context, client *http.Client, src string, off int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	// Offsets and the hash must be of the file itself, not of a compressed stream.
	req.Header.Set("Accept-Encoding", "identity")
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("registry: GET %s: %w", src, ctx.Err())
		}
		return nil, fmt.Errorf("%w: GET %s: %v", ErrNetwork, src, err)
	}
	return resp, nil
}

// parseContentRange reads "bytes <start>-<end>/<size>"; size is -1 for "*".
func parseContentRange(v string) (start, size int64, ok bool) {
	rest, found := strings.CutPrefix(v, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, sz, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	s, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if sz == "*" {
		return start, -1, true
	}
	size, err = strconv.ParseInt(sz, 10, 64)
	return start, size, err == nil
}

// fileWriter remembers a write error so it is not mistaken for a network failure.
type fileWriter struct {
	f   *os.File
	err error
}

func (w *fileWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// pathLocks serialises Fetch per final path inside this process. A file lock alone is not enough:
// on some systems (fcntl locks) it does not exclude goroutines of the same process.
var pathLocks sync.Map // absolute path → chan struct{} with capacity 1

// lockPath takes the in-process lock, then an advisory file lock on <final>.lock against other
// processes. The OS drops the file lock if a process dies, so no stale lock survives a crash; the
// empty .lock file itself is left in place (deleting it would race with the next locker).
func lockPath(ctx context.Context, final string) (unlock func(), err error) {
	return lockFile(ctx, final, final+".lock")
}

// lockFile is lockPath with the lock file named apart from the guarded path (the hub cache keeps its
// locks in .locks/, where Python's huggingface_hub takes the same flock).
func lockFile(ctx context.Context, guarded, lock string) (unlock func(), err error) {
	abs, err := filepath.Abs(guarded)
	if err != nil {
		return nil, err
	}
	v, _ := pathLocks.LoadOrStore(abs, make(chan struct{}, 1))
	sem := v.(chan struct{})
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	fl := flock.New(lock)
	ok, err := fl.TryLockContext(ctx, 100*time.Millisecond)
	if err != nil || !ok {
		<-sem
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("registry: waiting for lock %s: %w", fl.Path(), err)
	}
	return func() { _ = fl.Unlock(); <-sem }, nil
}

func sizeString(n int64) string {
	if n < 0 {
		return "unknown"
	}
	return strconv.FormatInt(n, 10)
}
