package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
)

// This file writes outputs through Beam's filesystems (local paths, gs://, and s3:// with -tags
// cloud): each file goes to a temporary name beside its final one and is renamed into place once
// complete, so a bundle that fails or is retried leaves no half-written file, and a retry writes
// the same bytes under the same deterministic name.

// hasScheme says whether path names a Beam filesystem other than the local one ("gs://b/x").
func hasScheme(path string) bool {
	i := strings.Index(path, "://")
	return i > 0
}

// joinPath is dir/name on dir's filesystem.
func joinPath(dir, name string) string {
	if hasScheme(dir) {
		return strings.TrimSuffix(dir, "/") + "/" + name
	}
	return filepath.Join(dir, name)
}

// splitPath is (dir, base) of a path on its filesystem.
func splitPath(path string) (string, string) {
	if hasScheme(path) {
		i := strings.LastIndex(path, "/")
		return path[:i], path[i+1:]
	}
	return filepath.Dir(path), filepath.Base(path)
}

// tempMarker marks the temporary files: ".<final name>.pipeline-tmp<hex>" beside the final file.
const tempMarker = ".pipeline-tmp"

// writeAtomic writes path on fsys (the filesystem of path) with the content streamed by write:
// a temporary file, then a rename (copy and delete where the filesystem cannot rename).
func writeAtomic(ctx context.Context, fsys filesystem.Interface, path string, write func(io.Writer) error) (err error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	dir, base := splitPath(path)
	tmp := joinPath(dir, "."+base+tempMarker+hex.EncodeToString(rnd[:]))
	if err := temps.add(tmp, fsys); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			temps.discard(tmp)
		}
	}()
	w, err := fsys.OpenWrite(ctx, tmp)
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := write(w); err != nil {
		w.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return temps.commit(ctx, tmp, path)
}

// tempSet tracks the temporary files this process is writing, so that an interrupted in-process
// run removes them before it exits and renames nothing after that.
type tempSet struct {
	mu      sync.Mutex
	live    map[string]filesystem.Interface
	aborted bool
}

var temps = &tempSet{live: map[string]filesystem.Interface{}}

var errAborted = errors.New("interrupted")

func (t *tempSet) add(tmp string, fsys filesystem.Interface) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.aborted {
		return errAborted
	}
	t.live[tmp] = fsys
	return nil
}

func (t *tempSet) commit(ctx context.Context, tmp, path string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	fsys := t.live[tmp]
	delete(t.live, tmp)
	if t.aborted {
		remove(fsys, tmp)
		return errAborted
	}
	if err := filesystem.Rename(ctx, fsys, tmp, path); err != nil {
		remove(fsys, tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func (t *tempSet) discard(tmp string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fsys, ok := t.live[tmp]; ok {
		remove(fsys, tmp)
		delete(t.live, tmp)
	}
}

// abort removes every temporary file and refuses any later write.
func (t *tempSet) abort() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.aborted = true
	for tmp, fsys := range t.live {
		remove(fsys, tmp)
	}
	clear(t.live)
}

// remove deletes a temporary file where the filesystem can (a missing one is not an error).
func remove(fsys filesystem.Interface, path string) {
	if rm, ok := fsys.(filesystem.Remover); ok {
		rm.Remove(context.Background(), path)
	}
}

// beamSink is explaincli's Sink on a Beam filesystem folder.
type beamSink struct {
	ctx  context.Context
	fsys filesystem.Interface
	dir  string
}

func (s beamSink) Write(name string, write func(io.Writer) error) error {
	return writeAtomic(s.ctx, s.fsys, joinPath(s.dir, name), write)
}

// checkOutputFolder fails early when files cannot be written under dir: a local folder is created
// and probed; another filesystem must be registered in this binary.
func checkOutputFolder(ctx context.Context, dir string) error {
	fsys, err := filesystem.New(ctx, dir)
	if err != nil {
		return fmt.Errorf("output %s: %v", dir, cli.OneLine(err.Error()))
	}
	fsys.Close()
	if hasScheme(dir) {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	probe, err := os.CreateTemp(dir, ".pipeline-probe*")
	if err != nil {
		return fmt.Errorf("output folder %s is not writable", dir)
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// checkOutputFile fails early when path cannot be written: its filesystem registered and, for a
// local path, its folder existing (as tools/evaluate checks).
func checkOutputFile(ctx context.Context, path string) error {
	fsys, err := filesystem.New(ctx, path)
	if err != nil {
		return fmt.Errorf("output %s: %v", path, cli.OneLine(err.Error()))
	}
	fsys.Close()
	if dir, _ := splitPath(path); !hasScheme(path) {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("output %s: folder %s does not exist", path, dir)
		}
	}
	return nil
}

// checkWorkerPaths refuses relative local paths when the workers are other processes: they would
// resolve them against their own working folders.
func checkWorkerPaths(ro *runOptions, flags map[string]string) error {
	if ro.inProcess() {
		return nil
	}
	for name, p := range flags {
		if p != "" && !hasScheme(p) && !filepath.IsAbs(strings.TrimPrefix(p, "@")) {
			return fmt.Errorf("-%s %s: with --runner %s give an absolute path (the same on every worker) or a filesystem URL", name, p, ro.runner)
		}
	}
	return nil
}
