package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/safefile"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/tools/internal/explaincli"
)

// processImage explains one image and writes its files (explaincli.ExplainImage) into the output
// folder; each written path is printed on stdout. base is the output name stem of the image (see
// explaincli.OutputBases). pix is the image if already read (nil: read path).
func processImage(ctx context.Context, ex *surgery.Explainer, pred *sam.Predictor, c *config, path string,
	pix *imageprep.Pixels, base string, stdout io.Writer) (err error) {
	if pix == nil {
		if pix, err = explaincli.ReadImage(path); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return explaincli.ExplainImage(ctx, ex, pred, &c.Config, path, pix, base, folderSink{dir: c.Out, stdout: stdout})
}

// folderSink writes the outputs into a local folder atomically (writeAtomicFunc) and prints each
// written path.
type folderSink struct {
	dir    string
	stdout io.Writer
}

func (s folderSink) Write(name string, write func(io.Writer) error) error {
	p := filepath.Join(s.dir, name)
	if err := writeAtomicFunc(p, write); err != nil {
		return err
	}
	fmt.Fprintln(s.stdout, p)
	return nil
}

// tempMarker names the temporary files of writeAtomic: ".<final name>.clipsurgery-tmp<random>"
// beside the final file, recognisably the command's (a run killed by SIGKILL can leave one; the
// next run writing the same output removes it, see removeStaleTemps).
const tempMarker = ".clipsurgery-tmp"

// writeAtomicFunc writes path through a temporary file renamed into place (no half-written
// outputs, even when the run is interrupted), with the content streamed by write; the temporary
// file is tracked in temps.
func writeAtomicFunc(path string, write func(io.Writer) error) error {
	return safefile.Atomic{Create: temps.create, Commit: temps.commit, Discard: temps.discard}.Write(path, write)
}

// tempFiles tracks the temporary files being written, so that a signal can remove them before
// the command exits (abort), and no output is renamed into place after that.
type tempFiles struct {
	mu      sync.Mutex
	live    map[string]bool
	aborted bool
}

var temps = &tempFiles{live: map[string]bool{}}

var errAborted = errors.New("interrupted")

func (t *tempFiles) create(path string) (*os.File, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.aborted {
		return nil, errAborted
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+tempMarker+"*")
	if err != nil {
		return nil, err
	}
	t.live[f.Name()] = true
	return f, nil
}

func (t *tempFiles) commit(tmp, path string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.live, tmp)
	if t.aborted {
		os.Remove(tmp)
		return errAborted
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func (t *tempFiles) discard(tmp string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.live, tmp)
	os.Remove(tmp)
}

// abort removes every temporary file and stops any later rename: what is left are complete outputs.
func (t *tempFiles) abort() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.aborted = true
	for tmp := range t.live {
		os.Remove(tmp)
	}
	clear(t.live)
}

// removeStaleTemps deletes temporary files a killed run left for the outputs this run writes
// (".<output>.clipsurgery-tmp<digits>" in the output folder); other files are left alone.
func removeStaleTemps(dir string, outputs map[string]string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		i := strings.LastIndex(name, tempMarker)
		if !strings.HasPrefix(name, ".") || i < 0 || !e.Type().IsRegular() {
			continue
		}
		if _, ours := outputs[name[1:i]]; ours && strings.Trim(name[i+len(tempMarker):], "0123456789") == "" {
			os.Remove(filepath.Join(dir, name))
		}
	}
}
