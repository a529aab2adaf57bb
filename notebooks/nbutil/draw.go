package nbutil

import (
	"fmt"
	"html"
	"image"
	"image/color"
	"image/draw"
	"math"
	"strings"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/surgery/textmask"
)

// RGBA copies any image into a new *image.RGBA with its origin at (0, 0).
func RGBA(img image.Image) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	return out
}

// FromRGB turns H×W×3 RGB bytes (imageprep.RGB, surgery's overlays) into an image.
func FromRGB(pix []uint8, w, h int) (*image.RGBA, error) {
	if w <= 0 || h <= 0 || len(pix) != w*h*3 {
		return nil, fmt.Errorf("nbutil: %d bytes for a %d×%d RGB image", len(pix), w, h)
	}
	return (&imageprep.RGB{W: w, H: h, Pix: pix}).Image(), nil
}

// MapImage paints a map of values in 0..1 (row-major h×w) with surgery.JET, as demo.py's
// applyColorMap on uint8(map·255).
func MapImage(m []float32, w, h int) (*image.RGBA, error) {
	if w <= 0 || h <= 0 || len(m) != w*h {
		return nil, fmt.Errorf("nbutil: %d values for a %d×%d map", len(m), w, h)
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, v := range m {
		c := surgery.JET(toByte(v))
		copy(out.Pix[4*i:4*i+3], c[:])
		out.Pix[4*i+3] = 255
	}
	return out, nil
}

func toByte(v float32) uint8 {
	switch {
	case !(v > 0): // also NaN
		return 0
	case v >= 1:
		return 255
	}
	return uint8(v * 255)
}

// DrawSAM returns img as demo.py shows SAM's answer: the mask (row-major, the image's size; nil
// for none) blended half and half with the demo's colour, the point prompts on top as rings
// (orange positive, blue negative): textmask.DrawMask with textmask.DemoStyle().
func DrawSAM(img image.Image, mask []bool, points []surgery.Point) (*image.RGBA, error) {
	rgb := imageprep.ToRGB(img)
	drawn, err := textmask.DrawMask(rgb.Pix, rgb.H, rgb.W, mask, points, textmask.DemoStyle())
	if err != nil {
		return nil, err
	}
	return FromRGB(drawn, rgb.W, rgb.H)
}

// Bar is one bar of a chart.
type Bar struct {
	Label string
	Value float64
}

// BarChartSVG draws a horizontal bar chart as an SVG document (values may be negative; the zero
// line is drawn). It returns an error for no bars or a non-finite value.
func BarChartSVG(title string, bars []Bar) (string, error) {
	if len(bars) == 0 {
		return "", fmt.Errorf("nbutil: bar chart %q: %w", title, ErrEmpty)
	}
	lo, hi := 0.0, 0.0
	for _, b := range bars {
		if math.IsNaN(b.Value) || math.IsInf(b.Value, 0) {
			return "", fmt.Errorf("nbutil: bar chart %q: %s = %v", title, b.Label, b.Value)
		}
		lo, hi = math.Min(lo, b.Value), math.Max(hi, b.Value)
	}
	if hi == lo {
		hi = lo + 1
	}
	const (
		labelW, plotW, valueW = 170.0, 360.0, 80.0
		rowH, top             = 20.0, 30.0
	)
	width := labelW + plotW + valueW
	height := top + rowH*float64(len(bars)) + 10
	x := func(v float64) float64 { return labelW + (v-lo)/(hi-lo)*plotW }
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`, width, height)
	fmt.Fprintf(&s, `<text x="%.0f" y="18" font-weight="bold">%s</text>`, labelW, html.EscapeString(title))
	for i, b := range bars {
		y := top + rowH*float64(i)
		x0, x1 := x(math.Min(0, b.Value)), x(math.Max(0, b.Value))
		fmt.Fprintf(&s, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`, labelW-6, y+14, html.EscapeString(b.Label))
		fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4a7fc1"/>`, x0, y+3, math.Max(x1-x0, 0.5), rowH-6)
		fmt.Fprintf(&s, `<text x="%.0f" y="%.1f">%.4g</text>`, labelW+plotW+6, y+14, b.Value)
	}
	fmt.Fprintf(&s, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="black"/>`, x(0), top, x(0), height-10)
	s.WriteString(`</svg>`)
	return s.String(), nil
}

// HeatMapImage draws a rows×cols matrix as a JET picture, each value a cell×cell square, min-max
// scaled over the matrix (a constant matrix is drawn blue).
func HeatMapImage(values []float64, rows, cols, cell int) (*image.RGBA, error) {
	if rows <= 0 || cols <= 0 || cell <= 0 || len(values) != rows*cols {
		return nil, fmt.Errorf("nbutil: heat map of %d values as %d×%d (cell %d)", len(values), rows, cols, cell)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("nbutil: heat map value %v", v)
		}
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	out := image.NewRGBA(image.Rect(0, 0, cols*cell, rows*cell))
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			t := 0.0
			if hi > lo {
				t = (values[r*cols+c] - lo) / (hi - lo)
			}
			j := surgery.JET(uint8(t * 255))
			draw.Draw(out, image.Rect(c*cell, r*cell, (c+1)*cell, (r+1)*cell),
				&image.Uniform{color.RGBA{j[0], j[1], j[2], 255}}, image.Point{}, draw.Src)
		}
	}
	return out, nil
}

// Table renders a Markdown table (cells are escaped for '|').
func Table(header []string, rows [][]string) string {
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + esc(c) + " |")
		}
		b.WriteString("\n")
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
	return b.String()
}
