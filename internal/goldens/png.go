package goldens

import (
	"image"
	"image/png"
	"os"
	"testing"
)

// DecodePNG decodes a PNG file; any failure fails the test.
func DecodePNG(t testing.TB, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// ReadPNGRGB decodes a PNG file to packed RGB bytes (row-major, 3 per pixel). PNG is lossless, so
// Go's decoder gives exactly the pixels the reference wrote.
func ReadPNGRGB(t testing.TB, path string) []uint8 {
	t.Helper()
	img := DecodePNG(t, path)
	b := img.Bounds()
	out := make([]uint8, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			out = append(out, uint8(r>>8), uint8(g>>8), uint8(bl>>8))
		}
	}
	return out
}
