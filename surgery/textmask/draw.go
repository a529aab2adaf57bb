package textmask

import (
	"fmt"
	"math"

	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
)

// DrawStyle says how DrawMask paints a mask and its point prompts on an RGB image.
type DrawStyle struct {
	MaskColor [3]uint8 // RGB
	// MaskAlpha is the colour's weight over a masked pixel: round((1−α)·pixel + α·colour).
	// 0 selects demo.py's integer blend pixel/2 + colour/2 (both halves truncated).
	MaskAlpha float64
	Positive  [3]uint8 // colour of label-1 points (RGB)
	Negative  [3]uint8 // colour of label-0 points (RGB)
	// Radius and Thickness draw each point as the ring of pixels whose centre lies within
	// Thickness/2 of a circle of Radius around the point; Thickness 0 fills the disc.
	Radius, Thickness float64
	// Outline, when set, is drawn as a 1-pixel ring just outside each point marker.
	Outline *[3]uint8
}

// DemoStyle is CLIP Surgery's demo.py drawing, converted from its BGR constants to RGB:
// masked pixels become pixel//2 + (153,255,255)BGR//2, i.e. + (127, 127, 76) in RGB; points
// are cv2.circle(radius 3, thickness 3) in BGR (0,102,255) for positives = RGB orange
// (255,102,0) and BGR (255,102,51) for negatives = RGB blue (51,102,255). OpenCV's thick-circle
// rasterisation is approximated by the ring 1.5 ≤ distance ≤ 4.5 (not pixel-exact).
func DemoStyle() DrawStyle {
	return DrawStyle{
		MaskColor: [3]uint8{255, 255, 153},
		Positive:  [3]uint8{255, 102, 0},
		Negative:  [3]uint8{51, 102, 255},
		Radius:    3, Thickness: 3,
	}
}

// NotebookStyle is segment-anything's notebook look (show_mask, show_points): mask colour
// (30,144,255) at alpha 0.6, positive points green, negative red, white edge. Its star markers
// of size 375 pt² (√375 ≈ 19 pt across, ≈ 27 px at 100 dpi) become filled discs of radius 13
// image pixels; matplotlib sizes them in screen space, so this matches only at 1:1 display.
func NotebookStyle() DrawStyle {
	return DrawStyle{
		MaskColor: [3]uint8{30, 144, 255},
		MaskAlpha: 0.6,
		Positive:  [3]uint8{0, 255, 0},
		Negative:  [3]uint8{255, 0, 0},
		Radius:    13,
		Outline:   &[3]uint8{255, 255, 255},
	}
}

// DrawMask returns a copy of rgb (h×w×3, row-major) with the mask blended in and the points
// drawn on top in order (labels 1 positive, 0 negative, anything else in the negative colour),
// each centred on the pixel that holds it. Points may lie partly or wholly outside the image;
// only their visible pixels are drawn.
func DrawMask(rgb []uint8, h, w int, mask []bool, points []sam.Point, style DrawStyle) ([]uint8, error) {
	if h <= 0 || w <= 0 || len(rgb) != h*w*3 {
		return nil, fmt.Errorf("textmask: DrawMask: image of %d bytes is not %dx%d RGB", len(rgb), w, h)
	}
	if mask != nil && len(mask) != h*w {
		return nil, fmt.Errorf("textmask: DrawMask: mask of %d pixels for a %dx%d image", len(mask), w, h)
	}
	out := append([]uint8(nil), rgb...)
	for i, on := range mask {
		if on {
			blendPixel(out[3*i:3*i+3], style)
		}
	}
	for _, p := range points {
		col := style.Negative
		if p.Label == 1 {
			col = style.Positive
		}
		drawMarker(out, h, w, p, col, style)
	}
	return out, nil
}

// blendPixel paints one masked pixel.
func blendPixel(px []uint8, s DrawStyle) {
	for c := range 3 {
		if s.MaskAlpha == 0 {
			px[c] = px[c]/2 + s.MaskColor[c]/2
			continue
		}
		v := (1-s.MaskAlpha)*float64(px[c]) + s.MaskAlpha*float64(s.MaskColor[c])
		px[c] = uint8(min(max(math.Round(v), 0), 255))
	}
}

// drawMarker draws one point: the ring (or disc) of the style, then its outline.
func drawMarker(img []uint8, h, w int, p sam.Point, col [3]uint8, s DrawStyle) {
	px, py := pixelOf(p.X), pixelOf(p.Y)
	inner, outer := 0.0, s.Radius
	if s.Thickness > 0 {
		inner, outer = max(s.Radius-s.Thickness/2, 0), s.Radius+s.Thickness/2
	}
	reach := int(math.Ceil(outer)) + 1
	for dy := -reach; dy <= reach; dy++ {
		for dx := -reach; dx <= reach; dx++ {
			x, y := px+dx, py+dy
			if x < 0 || y < 0 || x >= w || y >= h {
				continue
			}
			d := math.Hypot(float64(dx), float64(dy))
			px := img[3*(y*w+x) : 3*(y*w+x)+3]
			switch {
			case d <= outer && (s.Thickness == 0 || d >= inner):
				copy(px, col[:])
			case s.Outline != nil && d > outer && d <= outer+1:
				copy(px, s.Outline[:])
			}
		}
	}
}

// Draw paints the text mask and its points on the original image (rgb h×w×3).
func (t *TextMask) Draw(rgb []uint8, h, w int, style DrawStyle) ([]uint8, error) {
	return DrawMask(rgb, h, w, t.Mask, t.Points, style)
}

// pixelOf is the pixel index holding coordinate v (pixel i covers [i, i+1)); CLIP Surgery's
// points are whole pixels already. Far-off or NaN coordinates map outside any image.
func pixelOf(v float64) int {
	if !(v > -1e9 && v < 1e9) {
		return -1 << 40
	}
	return int(math.Floor(v))
}
