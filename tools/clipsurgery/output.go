package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/npy"
	"github.com/clipsurgery/clipsurgery/internal/safefile"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// loadExplainer loads -weights (offline) or -model (cache, else download with a progress bar).
func loadExplainer(ctx context.Context, c *config, stderr io.Writer) (*surgery.Explainer, error) {
	m, err := c.ckpt.Load(ctx, clip.LoadOptions{Progress: stderr, TextTower: c.textWeights, Backend: c.backend})
	if err != nil {
		return nil, err
	}
	tc := c.textCache(stderr)
	return surgery.NewExplainerWith(m, surgery.ExplainerOptions{TextCache: tc, NoTextCache: tc == nil})
}

// processImage explains one image and writes its files; each written path is printed on stdout.
// base is the output name stem of the image (see outputBases).
// pix is the image if already read (nil: read path). ctx is checked between the steps.
func processImage(ctx context.Context, ex *surgery.Explainer, pred *sam.Predictor, c *config, path string,
	pix *imageprep.Pixels, base string, stdout io.Writer) (err error) {
	if pix == nil {
		if pix, err = readImage(path); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	res, err := ex.ExplainPixelsContext(ctx, pix, c.targets, c.options())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	report := pointsReport{Image: path, Width: res.Width, Height: res.Height, Size: res.Size,
		Method: string(res.Method), Redundant: res.Redundant}
	for _, t := range res.Targets {
		if err := ctx.Err(); err != nil {
			return err
		}
		stem := filepath.Join(c.out, base+"_"+fileSafe(t.Text))
		var overlay image.Image = t.Overlay
		if t.Overlay == nil {
			if overlay, err = rgbImage(t.OverlayRGB, res.Height, res.Width); err != nil {
				return err
			}
		}
		if err := writePNG(stem+".png", overlay); err != nil {
			return err
		}
		fmt.Fprintln(stdout, stem+".png")
		if c.writeNpy {
			err := writeAtomicFunc(stem+".npy", func(w io.Writer) error {
				bw := bufio.NewWriter(w)
				if err := npy.WriteFloat32(bw, []int{res.Height, res.Width}, t.Map); err != nil {
					return err
				}
				return bw.Flush()
			})
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, stem+".npy")
		}
		points, labels := pointsJSON(t.Points)
		tr := targetReport{Text: t.Text, Parts: t.Parts, Overlay: filepath.Base(stem + ".png"), Points: points,
			Labels: labels, Absent: t.Absent}
		if !math.IsNaN(float64(t.Presence)) {
			tr.Presence = &t.Presence
		}
		if c.autoTemplates {
			for _, part := range t.Parts {
				tr.Templates = append(tr.Templates, c.classTemplates[part])
			}
		}
		report.Targets = append(report.Targets, tr)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if pred != nil {
		if err := writeSAM(pred, c, pix, res, base, stdout); err != nil {
			return fmt.Errorf("%s: sam: %w", path, err)
		}
	}
	if c.writeJSON {
		data, err := json.Marshal(report)
		if err != nil {
			return err
		}
		p := filepath.Join(c.out, base+"_points.json")
		if err := writeAtomic(p, append(data, '\n')); err != nil {
			return err
		}
		fmt.Fprintln(stdout, p)
	}
	return nil
}

// outputBases names each image's outputs after its file name without extension ("dog.jpg" → "dog"),
// or with the extension kept ("dog_jpg") when two images of a folder share a stem, so that no output
// overwrites another.
func outputBases(images []string) []string {
	stem := func(p string) string { return strings.TrimSuffix(filepath.Base(p), filepath.Ext(p)) }
	count := map[string]int{}
	for _, p := range images {
		count[stem(p)]++
	}
	out := make([]string, len(images))
	for i, p := range images {
		out[i] = stem(p)
		if count[out[i]] > 1 {
			out[i] = strings.ReplaceAll(filepath.Base(p), ".", "_")
		}
	}
	return out
}

// pointsReport is the -json file: the SAM point prompts of every target of one image.
type pointsReport struct {
	Image     string         `json:"image"`
	Width     int            `json:"width"`
	Height    int            `json:"height"`
	Size      int            `json:"input_size"`
	Method    string         `json:"method"`
	Redundant bool           `json:"redundant_features"`
	Targets   []targetReport `json:"targets"`
}

type targetReport struct {
	Text    string   `json:"text"`
	Parts   []string `json:"parts"`
	Overlay string   `json:"overlay"`
	Points  [][2]int `json:"points"` // (x, y) on the original image
	Labels  []int    `json:"labels"` // 1 positive, 0 negative
	// Presence is CLIP's probability of the target among the labels (surgery.Target.Presence),
	// when computed: always with -presence, and for free with the surgery and raw methods.
	Presence *float32 `json:"presence,omitempty"`
	Absent   bool     `json:"absent,omitempty"` // below -presence: no points, no SAM mask
	// Templates are each part's templates chosen by -templates auto.
	Templates [][]string `json:"templates,omitempty"`
}

// pointsJSON splits points into the file's two arrays: [x, y] pairs (CLIP Surgery's points are
// whole pixels) and their labels.
func pointsJSON(points []surgery.Point) ([][2]int, []int) {
	xy, labels := make([][2]int, len(points)), make([]int, len(points))
	for i, p := range points {
		xy[i], labels[i] = [2]int{int(p.X), int(p.Y)}, p.Label
	}
	return xy, labels
}

// fileSafe turns a target text into a file-name part: letters, digits, '+', '-' and '.' kept,
// anything else (spaces, slashes) becomes '_'.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '+', r == '-', r == '.':
			return r
		case r > 127 && r != '/' && r != '\\':
			return r
		}
		return '_'
	}, s)
}

// tempMarker names the temporary files of writeAtomic: ".<final name>.clipsurgery-tmp<random>"
// beside the final file, recognisably the command's (a run killed by SIGKILL can leave one; the
// next run writing the same output removes it, see removeStaleTemps).
const tempMarker = ".clipsurgery-tmp"

// writeAtomic writes data to path through a temporary file renamed into place: no half-written
// outputs, even when the run is interrupted (see temps). The file gets the PNGs' permissions
// (0644), not CreateTemp's 0600.
func writeAtomic(path string, data []byte) error {
	return writeAtomicFunc(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeAtomicFunc is writeAtomic with the content streamed by write; its temporary file is
// tracked in temps.
func writeAtomicFunc(path string, write func(io.Writer) error) error {
	return safefile.Atomic{Create: temps.create, Commit: temps.commit, Discard: temps.discard}.Write(path, write)
}

// writePNG writes an H×W×3 RGB image as a PNG file (atomically).
func writePNG(path string, img image.Image) error {
	return writeAtomicFunc(path, func(w io.Writer) error { return png.Encode(w, img) })
}

// rgbImage wraps H×W×3 RGB bytes as an opaque image for png.Encode.
func rgbImage(rgb []uint8, h, w int) (*image.RGBA, error) {
	if h <= 0 || w <= 0 || len(rgb) != h*w*3 {
		return nil, fmt.Errorf("image of %d×%d needs %d bytes, got %d", h, w, h*w*3, len(rgb))
	}
	return (&imageprep.RGB{W: w, H: h, Pix: rgb}).Image(), nil
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
