package imageprep

import (
	"fmt"
	"image"
)

// RGB is an 8-bit RGB image, H×W×3 row-major: the bytes numpy holds for an [H,W,3] uint8 array.
type RGB struct {
	W, H int
	Pix  []uint8
}

// Pixels is an 8-bit image in one of the Pillow modes the preprocessing distinguishes:
// C = 1 is "L", C = 3 is "RGB", C = 4 is "RGBA" with straight (not premultiplied) alpha.
// Pix is H×W×C row-major, like numpy's np.array(Image.open(file)).
type Pixels struct {
	W, H, C int
	Pix     []uint8
}

// RGB is Pillow's convert("RGB"): gray replicated, alpha dropped. For C = 3 it shares Pix.
func (p *Pixels) RGB() *RGB {
	if p.C == 3 {
		return &RGB{W: p.W, H: p.H, Pix: p.Pix}
	}
	n := p.W * p.H
	out := make([]uint8, 3*n)
	switch p.C {
	case 1:
		for i, v := range p.Pix[:n] {
			out[3*i], out[3*i+1], out[3*i+2] = v, v, v
		}
	case 4:
		for i := range n {
			copy(out[3*i:3*i+3], p.Pix[4*i:4*i+3])
		}
	}
	return &RGB{W: p.W, H: p.H, Pix: out}
}

// Image copies the RGB bytes into an opaque *image.RGBA, for drawing and for the image encoders.
// r must be well-formed (len(Pix) = W·H·3), as every constructor of this package makes it.
func (r *RGB) Image() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, r.W, r.H))
	for p := 0; p < r.W*r.H; p++ {
		copy(img.Pix[p*4:p*4+3], r.Pix[p*3:p*3+3])
		img.Pix[p*4+3] = 255
	}
	return img
}

// PixelsFromArray wraps a numpy-like [H,W,C] uint8 array (C = 1, 3 or 4; not copied).
func PixelsFromArray(h, w, c int, pix []uint8) (*Pixels, error) {
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("imageprep: array of %dx%d pixels has no pixels", w, h)
	}
	if c != 1 && c != 3 && c != 4 {
		return nil, fmt.Errorf("imageprep: array with %d channels (want 1, 3 or 4)", c)
	}
	if int64(h) > DefaultMaxPixels/int64(w) { // not h*w: that can overflow
		return nil, fmt.Errorf("imageprep: %w: array of %dx%d pixels is above MaxPixels (%d)", ErrTooLarge, w, h, DefaultMaxPixels)
	}
	if int64(h)*int64(w)*int64(c) != int64(len(pix)) {
		return nil, fmt.Errorf("imageprep: [%d,%d,%d] array needs %d bytes, got %d", h, w, c,
			int64(h)*int64(w)*int64(c), len(pix))
	}
	return &Pixels{W: w, H: h, C: c, Pix: pix}, nil
}

// FromArray converts a numpy-like [H,W,C] uint8 array to RGB with the rules of ToRGB.
func FromArray(h, w, c int, pix []uint8) (*RGB, error) {
	p, err := PixelsFromArray(h, w, c, pix)
	if err != nil {
		return nil, err
	}
	return p.RGB(), nil
}

// ToPixels copies img into the mode Pillow would have opened it in (see the package doc).
func ToPixels(img image.Image) *Pixels {
	return materialize(sourceOf(img))
}

// ToRGB converts img to 8-bit RGB: gray replicated, 16-bit >> 8, alpha dropped (straight colour
// kept; see the package doc), YCbCr/CMYK through Go's standard conversions.
func ToRGB(img image.Image) *RGB {
	return ToPixels(img).RGB()
}
