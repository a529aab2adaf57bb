package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/internal/npy"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// loadExplainer loads -weights (offline) or -model (cache, else download with a progress bar).
func loadExplainer(ctx context.Context, c *config, stderr io.Writer) (*surgery.Explainer, error) {
	opt := clip.LoadOptions{CacheDir: c.cacheDir, Offline: c.offline, Progress: stderr, TextTower: c.textWeights}
	src := c.model
	if c.weights != "" {
		src = c.weights
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("-weights: %w", err)
		}
	}
	m, _, err := clip.Load(ctx, src, opt)
	if err != nil {
		return nil, err
	}
	tc := c.textCache(stderr)
	return surgery.NewExplainerWith(m, surgery.ExplainerOptions{TextCache: tc, NoTextCache: tc == nil})
}

// processImage explains one image and writes its files; each written path is printed on stdout.
// base is the output name stem of the image (see outputBases).
func processImage(ex *surgery.Explainer, pred *sam.Predictor, c *config, path, base string, stdout io.Writer) error {
	pix, err := readImage(path)
	if err != nil {
		return err
	}
	res, err := ex.ExplainPixels(pix, c.targets, c.options())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	report := pointsReport{Image: path, Width: res.Width, Height: res.Height, Size: res.Size,
		Method: string(res.Method), Redundant: res.Redundant}
	for _, t := range res.Targets {
		stem := filepath.Join(c.out, base+"_"+fileSafe(t.Text))
		if err := surgery.WritePNG(stem+".png", t.OverlayRGB, res.Height, res.Width); err != nil {
			return err
		}
		fmt.Fprintln(stdout, stem+".png")
		if c.writeNpy {
			var buf bytes.Buffer
			if err := npy.WriteFloat32(&buf, []int{res.Height, res.Width}, t.Map); err != nil {
				return err
			}
			if err := writeAtomic(stem+".npy", buf.Bytes()); err != nil {
				return err
			}
			fmt.Fprintln(stdout, stem+".npy")
		}
		report.Targets = append(report.Targets, targetReport{Text: t.Text, Parts: t.Parts,
			Overlay: filepath.Base(stem + ".png"), Points: t.Points, Labels: labelsInts(t.Labels)})
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
}

// labelsInts keeps JSON labels as numbers ([]uint8 would marshal as base64).
func labelsInts(l []uint8) []int {
	out := make([]int, len(l))
	for i, v := range l {
		out[i] = int(v)
	}
	return out
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

// writeAtomic writes a temporary file beside path and renames it: no half-written outputs. The
// file gets the PNGs' permissions (surgery.WritePNG: 0644), not CreateTemp's 0600.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
