package textmask

import (
	"math"
	"slices"
	"strings"
	"testing"

	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
)

// flatImage is an h×w RGB image of one colour.
func flatImage(h, w int, c [3]uint8) []uint8 {
	img := make([]uint8, h*w*3)
	for i := 0; i < len(img); i += 3 {
		copy(img[i:], c[:])
	}
	return img
}

func pixelAt(img []uint8, w, x, y int) [3]uint8 {
	i := 3 * (y*w + x)
	return [3]uint8{img[i], img[i+1], img[i+2]}
}

func TestDrawMaskDemoStyle(t *testing.T) {
	const h, w = 20, 20
	bg := [3]uint8{100, 50, 21}
	img := flatImage(h, w, bg)
	mask := make([]bool, h*w)
	mask[0] = true
	demo := DemoStyle()
	out, err := DrawMask(img, h, w, mask, []sam.Point{{X: 10, Y: 10, Label: 1}, {X: -2, Y: 19, Label: 0}}, demo)
	if err != nil {
		t.Fatal(err)
	}
	// demo.py: pixel//2 + (153,255,255)BGR//2 = + (127,127,76) RGB.
	if got, want := pixelAt(out, w, 0, 0), [3]uint8{100/2 + 127, 50/2 + 127, 21/2 + 76}; got != want {
		t.Errorf("masked pixel %v, want %v", got, want)
	}
	if got := pixelAt(out, w, 5, 5); got != bg {
		t.Errorf("unmasked pixel changed to %v", got)
	}
	// Ring 1.5 ≤ d ≤ 4.5 around (10, 10) in the positive colour; centre and far pixels untouched.
	for _, c := range []struct {
		x, y int
		want [3]uint8
	}{{13, 10, demo.Positive}, {10, 6, demo.Positive}, {12, 12, demo.Positive}, {10, 10, bg}, {15, 10, bg}, {0, 18, demo.Negative}} {
		if got := pixelAt(out, w, c.x, c.y); got != c.want {
			t.Errorf("pixel (%d, %d) = %v, want %v", c.x, c.y, got, c.want)
		}
	}
	if pixelAt(img, w, 0, 0) != bg {
		t.Error("DrawMask modified its input")
	}
}

func TestDrawMaskNotebookStyle(t *testing.T) {
	const h, w = 40, 40
	img := flatImage(h, w, [3]uint8{100, 50, 20})
	mask := make([]bool, h*w)
	mask[w*39] = true
	nb := NotebookStyle()
	out, err := DrawMask(img, h, w, mask, []sam.Point{{X: 20, Y: 20, Label: 0}}, nb)
	if err != nil {
		t.Fatal(err)
	}
	// round(0.4·pixel + 0.6·(30,144,255)).
	if got, want := pixelAt(out, w, 0, 39), [3]uint8{58, 106, 161}; got != want {
		t.Errorf("masked pixel %v, want %v", got, want)
	}
	if got := pixelAt(out, w, 20, 20); got != nb.Negative {
		t.Errorf("disc centre %v, want the negative colour", got)
	}
	if got := pixelAt(out, w, 20+14, 20); got != *nb.Outline {
		t.Errorf("outline pixel %v, want white", got)
	}
}

// The styles are values made afresh by each call: changing one (its Outline too) changes no
// other caller's.
func TestStylesAreCopies(t *testing.T) {
	d := DemoStyle()
	d.Positive = [3]uint8{1, 2, 3}
	n := NotebookStyle()
	*n.Outline = [3]uint8{1, 2, 3}
	if DemoStyle().Positive == d.Positive || *NotebookStyle().Outline == *n.Outline {
		t.Error("a change to a returned style reached the next call")
	}
}

func TestDrawMaskErrors(t *testing.T) {
	img := flatImage(4, 4, [3]uint8{})
	for _, c := range []struct {
		name   string
		run    func() error
		substr string
	}{
		{"short image", func() error { _, err := DrawMask(img[:5], 4, 4, nil, nil, DemoStyle()); return err }, "not 4x4 RGB"},
		{"mask size", func() error { _, err := DrawMask(img, 4, 4, make([]bool, 3), nil, DemoStyle()); return err }, "mask of 3 pixels"},
	} {
		if err := c.run(); err == nil || !strings.Contains(err.Error(), c.substr) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.substr)
		}
	}
}

// A SAM point between pixel centres is drawn around the pixel that holds it; a point with no
// finite position draws nothing.
func TestDrawMaskFractionalPoints(t *testing.T) {
	const h, w = 20, 20
	img := flatImage(h, w, [3]uint8{100, 50, 21})
	whole, err := DrawMask(img, h, w, nil, []sam.Point{{X: 10, Y: 10, Label: 1}}, DemoStyle())
	if err != nil {
		t.Fatal(err)
	}
	frac, err := DrawMask(img, h, w, nil, []sam.Point{{X: 10.7, Y: 10.2, Label: 1}, {X: math.NaN(), Y: 3, Label: 0}, {X: 5, Y: math.Inf(-1), Label: 0}}, DemoStyle())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(frac, whole) {
		t.Error("point (10.7, 10.2) is not drawn as (10, 10), or a non-finite point was drawn")
	}
}
