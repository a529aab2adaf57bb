package imageprep

import (
	"bytes"
	"testing"
)

// FuzzResizeModes resizes fuzzed pixels in the three Pillow modes and checks the identities that
// hold exactly in Pillow's fixed-point arithmetic:
//   - an RGBA image whose alpha is 255 everywhere resizes to the same colours as the RGB image
//     (premultiplying by 255 and dividing back are the identity), with alpha 255 kept;
//   - a gray (L) image resizes, channel by channel, to the same bytes as the RGB image with three
//     equal channels;
//   - PreprocessPixels never fails for a valid array and gives 3·n·n finite values.
//
// Sizes are kept small (≤ 48 pixels a side) so each run is fast.
func FuzzResizeModes(f *testing.F) {
	f.Add([]byte{0, 255, 128, 7, 9, 200}, uint8(3), uint8(5), uint8(4))
	f.Add(bytes.Repeat([]byte{10, 250}, 64), uint8(11), uint8(2), uint8(17))
	f.Fuzz(func(t *testing.T, data []byte, sw, dw, dh uint8) {
		w := 1 + int(sw)%48
		if len(data) < w {
			return
		}
		h := min(len(data)/w, 48)
		gray := data[:w*h]
		ow, oh := 1+int(dw)%48, 1+int(dh)%48

		rgb := make([]uint8, 3*w*h)
		rgba := make([]uint8, 4*w*h)
		for i, v := range gray {
			// colours differ per channel so that a channel mix-up would show
			r, g, b := v, v^0x5a, 255-v
			rgb[3*i], rgb[3*i+1], rgb[3*i+2] = r, g, b
			rgba[4*i], rgba[4*i+1], rgba[4*i+2], rgba[4*i+3] = r, g, b, 255
		}
		pRGB, err := PixelsFromArray(h, w, 3, rgb)
		if err != nil {
			t.Fatal(err)
		}
		pRGBA, _ := PixelsFromArray(h, w, 4, rgba)
		a := ResizePixels(pRGB, ow, oh)
		b := ResizePixels(pRGBA, ow, oh)
		if a.W != ow || a.H != oh || a.C != 3 || b.C != 4 || len(b.Pix) != 4*ow*oh {
			t.Fatalf("resized shapes %dx%dx%d and %dx%dx%d for %dx%d", a.W, a.H, a.C, b.W, b.H, b.C, ow, oh)
		}
		for i := range ow * oh {
			if b.Pix[4*i+3] != 255 || !bytes.Equal(a.Pix[3*i:3*i+3], b.Pix[4*i:4*i+3]) {
				t.Fatalf("pixel %d: RGB %v, opaque RGBA %v", i, a.Pix[3*i:3*i+3], b.Pix[4*i:4*i+4])
			}
		}

		same := make([]uint8, 3*w*h)
		for i, v := range gray {
			same[3*i], same[3*i+1], same[3*i+2] = v, v, v
		}
		pL, _ := PixelsFromArray(h, w, 1, gray)
		pS, _ := PixelsFromArray(h, w, 3, same)
		l, s := ResizePixels(pL, ow, oh), ResizePixels(pS, ow, oh)
		for i := range ow * oh {
			if v := l.Pix[i]; s.Pix[3*i] != v || s.Pix[3*i+1] != v || s.Pix[3*i+2] != v {
				t.Fatalf("pixel %d: L %d, gray RGB %v", i, v, s.Pix[3*i:3*i+3])
			}
		}

		// Alpha below 255 somewhere: no identity to check, but no failure and finite output.
		for i := range w * h {
			rgba[4*i+3] = data[(i*7)%len(data)]
		}
		n := ow
		out, err := PreprocessPixels(pRGBA, n)
		if err != nil || len(out) != 3*n*n {
			t.Fatalf("PreprocessPixels(%dx%d RGBA, %d): %d values, %v", w, h, n, len(out), err)
		}
		for i, v := range out {
			if v != v || v > 10 || v < -10 {
				t.Fatalf("value %d is %v", i, v)
			}
		}
	})
}
