package surgery

import (
	"fmt"
	"image/png"
	"io"
	"math"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/safefile"
)

// Overlay is demo.py's heat-map drawing: the map coloured with OpenCV's JET, blended 60 % over
// the image. rgb is the ORIGINAL image, h×w×3 row-major RGB; m is an h×w map in 0..1 (one slice of
// SimilarityMap). Per pixel and channel, exactly as numpy/OpenCV compute it:
//
//	v   = uint8(trunc(float32(m·255)))       float32 product, truncated (not rounded)
//	out = uint8(trunc(float64(img)·0.4 + float64(JET(v))·0.6))   float64, truncated
//
// The reference blends in BGR and converts to RGB afterwards; per channel that is the same.
// Map values outside 0..1 are clamped (a map from SimilarityMap never has them): NaN and values
// ≤ 0 draw as v = 0, values ≥ 1 and +Inf as v = 255, so no NaN ever reaches the colour table
// (numpy's NaN→uint8 cast is undefined).
func Overlay(rgb []uint8, h, w int, m []float32) ([]uint8, error) {
	if h <= 0 || w <= 0 || len(rgb) != h*w*3 || len(m) != h*w {
		return nil, fmt.Errorf("surgery: overlay of %d×%d needs %d image bytes and %d map values, got %d and %d", h, w, h*w*3, h*w, len(rgb), len(m))
	}
	out := make([]uint8, len(rgb))
	parallelRows(h, func(lo, hi int) {
		for p := lo * w; p < hi*w; p++ {
			c := JET(mapLevel(m[p]))
			for ch := 0; ch < 3; ch++ {
				// The explicit float64 conversions round each product separately, as numpy does,
				// and forbid Go from fusing them into an FMA.
				out[p*3+ch] = uint8(float64(float64(rgb[p*3+ch])*0.4) + float64(float64(c[ch])*0.6))
			}
		}
	})
	return out, nil
}

// mapLevel is uint8(trunc(float32(v·255))) with the clamping rule of Overlay.
func mapLevel(v float32) uint8 {
	s := float32(v * 255)
	switch {
	case !(s > 0): // NaN, negative, zero
		return 0
	case s >= 255 || math.IsInf(float64(s), 1):
		return 255
	}
	return uint8(s) // truncation toward zero
}

// WritePNG writes an h×w×3 RGB image as PNG. It writes a temporary file beside path and renames
// it, so that a reader never sees a half-written image.
func WritePNG(path string, rgb []uint8, h, w int) error {
	if h <= 0 || w <= 0 || len(rgb) != h*w*3 {
		return fmt.Errorf("surgery: PNG of %d×%d needs %d bytes, got %d", h, w, h*w*3, len(rgb))
	}
	img := (&imageprep.RGB{W: w, H: h, Pix: rgb}).Image()
	return safefile.WriteAtomic(path, func(f io.Writer) error { return png.Encode(f, img) })
}
