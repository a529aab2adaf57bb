package explaincli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
	"path/filepath"
	"strings"

	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/npy"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/surgery/textmask"
)

// Sink stores a command's output files. Write creates the file name (a bare file name, placed
// under the sink's output location) with the content write streams, atomically: the file is
// complete or absent, never half-written.
type Sink interface {
	Write(name string, write func(io.Writer) error) error
}

// ExplainImage explains one image and writes its files through sink: per target the overlay
// <base>_<text>.png, with -npy the map <base>_<text>.npy, with -sam the mask drawn on the image
// <base>_<text>_sam.png (and its .npy), with -json <base>_points.json. path names the image in
// the JSON; pred is the SAM predictor (nil without -sam). ctx is checked between the steps.
func ExplainImage(ctx context.Context, ex *surgery.Explainer, pred *sam.Predictor, c *Config, path string,
	pix *imageprep.Pixels, base string, sink Sink) error {
	res, err := ex.ExplainPixelsContext(ctx, pix, c.Targets, c.Options())
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	report := PointsReport{Image: path, Width: res.Width, Height: res.Height, Size: res.Size,
		Method: string(res.Method), Redundant: res.Redundant}
	for _, t := range res.Targets {
		if err := ctx.Err(); err != nil {
			return err
		}
		stem := base + "_" + FileSafe(t.Text)
		var overlay image.Image = t.Overlay
		if t.Overlay == nil {
			if overlay, err = rgbImage(t.OverlayRGB, res.Height, res.Width); err != nil {
				return err
			}
		}
		if err := writePNG(sink, stem+".png", overlay); err != nil {
			return err
		}
		if c.WriteNpy {
			err := sink.Write(stem+".npy", func(w io.Writer) error {
				bw := bufio.NewWriter(w)
				if err := npy.WriteFloat32(bw, []int{res.Height, res.Width}, t.Map); err != nil {
					return err
				}
				return bw.Flush()
			})
			if err != nil {
				return err
			}
		}
		points, labels := pointsJSON(t.Points)
		tr := TargetReport{Text: t.Text, Parts: t.Parts, Overlay: stem + ".png", Points: points,
			Labels: labels, Absent: t.Absent}
		if !math.IsNaN(float64(t.Presence)) {
			tr.Presence = &t.Presence
		}
		if c.AutoTemplates {
			for _, part := range t.Parts {
				tr.Templates = append(tr.Templates, c.ClassTemplates[part])
			}
		}
		report.Targets = append(report.Targets, tr)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if pred != nil {
		if err := writeSAM(pred, c, pix, res, base, sink); err != nil {
			return fmt.Errorf("%s: sam: %w", path, err)
		}
	}
	if c.WriteJSON {
		data, err := json.Marshal(report)
		if err != nil {
			return err
		}
		return writeBytes(sink, base+"_points.json", append(data, '\n'))
	}
	return nil
}

// OutputBases names each image's outputs after its file name without extension ("dog.jpg" → "dog"),
// or with the extension kept ("dog_jpg") when two images share a stem, so that no output
// overwrites another.
func OutputBases(images []string) []string {
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

// OutputNames lists the file names the run will write (name → what writes it) and refuses any
// name written twice: two targets that FileSafe maps to one name ("a b", "a_b", "a/b"), two
// images whose stems collide ("x_jpg.png" beside "x.jpg" and "x.png"), or an image/target pair
// that spells another's name ("a" + "b_c" and "a_b" + "c"). out only names the folder in errors.
func OutputNames(c *Config, images, bases []string, out string) (map[string]string, error) {
	outputs := map[string]string{}
	add := func(name, what string) error {
		if prev, ok := outputs[name]; ok {
			return fmt.Errorf("%s and %s would both write %s; rename one", prev, what, filepath.Join(out, name))
		}
		outputs[name] = what
		return nil
	}
	for i, img := range images {
		for _, t := range c.Targets {
			what := fmt.Sprintf("image %s with target %q", img, t)
			if len(images) == 1 {
				what = fmt.Sprintf("target %q", t)
			}
			stem := bases[i] + "_" + FileSafe(t)
			names := []string{stem + ".png"}
			if c.WriteNpy {
				names = append(names, stem+".npy")
			}
			if c.SAM != "" {
				names = append(names, stem+"_sam.png")
				if c.WriteNpy {
					names = append(names, stem+"_sam.npy")
				}
			}
			for _, n := range names {
				if err := add(n, what); err != nil {
					return nil, err
				}
			}
		}
		if c.WriteJSON {
			if err := add(bases[i]+"_points.json", "image "+img); err != nil {
				return nil, err
			}
		}
	}
	return outputs, nil
}

// PointsReport is the -json file: the SAM point prompts of every target of one image.
type PointsReport struct {
	Image     string         `json:"image"`
	Width     int            `json:"width"`
	Height    int            `json:"height"`
	Size      int            `json:"input_size"`
	Method    string         `json:"method"`
	Redundant bool           `json:"redundant_features"`
	Targets   []TargetReport `json:"targets"`
}

// TargetReport is one target of a PointsReport.
type TargetReport struct {
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

// FileSafe turns a target text into a file-name part: letters, digits, '+', '-' and '.' kept,
// anything else (spaces, slashes) becomes '_'.
func FileSafe(s string) string {
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

// writePNG writes an image as a PNG file through sink.
func writePNG(sink Sink, name string, img image.Image) error {
	return sink.Write(name, func(w io.Writer) error { return png.Encode(w, img) })
}

// writeBytes writes data as the file name through sink.
func writeBytes(sink Sink, name string, data []byte) error {
	return sink.Write(name, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// rgbImage wraps H×W×3 RGB bytes as an opaque image for png.Encode.
func rgbImage(rgb []uint8, h, w int) (*image.RGBA, error) {
	if h <= 0 || w <= 0 || len(rgb) != h*w*3 {
		return nil, fmt.Errorf("image of %d×%d needs %d bytes, got %d", h, w, h*w*3, len(rgb))
	}
	return (&imageprep.RGB{W: w, H: h, Pix: rgb}).Image(), nil
}

// writeSAM embeds the image once (SetImage), segments every target from its CLIP Surgery points
// (demo.py: multimask, best score) and writes <base>_<text>_sam.png, the mask and points drawn on
// the image in the demo's colours, and with -npy the mask as <base>_<text>_sam.npy (uint8 H×W, 0/1).
func writeSAM(pred *sam.Predictor, c *Config, pix *imageprep.Pixels, res *surgery.Result, base string, sink Sink) error {
	rgb := pix.RGB()
	if err := pred.SetImage(rgb); err != nil {
		return err
	}
	masks, err := textmask.TextMasks(pred, res)
	if err != nil {
		return err
	}
	for _, tm := range masks {
		stem := base + "_" + FileSafe(tm.Text) + "_sam"
		drawn, err := tm.Draw(rgb.Pix, rgb.H, rgb.W, textmask.DemoStyle())
		if err != nil {
			return err
		}
		img, err := rgbImage(drawn, rgb.H, rgb.W)
		if err != nil {
			return err
		}
		if err := writePNG(sink, stem+".png", img); err != nil {
			return err
		}
		if c.WriteNpy {
			var b bytes.Buffer
			if err := npy.WriteMask(&b, []int{rgb.H, rgb.W}, tm.Mask); err != nil {
				return err
			}
			if err := writeBytes(sink, stem+".npy", b.Bytes()); err != nil {
				return err
			}
		}
	}
	return nil
}
