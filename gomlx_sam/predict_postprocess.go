package sam

import (
	"fmt"

	"github.com/clipsurgery/clipsurgery/internal/bilinear"
)

// PostprocessMasks is Sam.postprocess_masks for one low-res logit map (s×s): bilinear
// (align_corners=False) to imageSize², crop to the resized input (H, W) = input, bilinear to
// the original (H, W) = orig. Returns orig H×W logits, row-major. It is plain Go rather than a
// graph so that it can follow torch's CPU index arithmetic exactly (internal/bilinear); only the
// cropped part of the imageSize² map is computed, which is the same values.
func PostprocessMasks(low []float32, s, imageSize int, input, orig [2]int) ([]float32, error) {
	switch {
	case s <= 0 || len(low) != s*s:
		return nil, fmt.Errorf("sam: postprocess: %d logits for a %d×%d map", len(low), s, s)
	case input[0] <= 0 || input[1] <= 0 || input[0] > imageSize || input[1] > imageSize:
		return nil, fmt.Errorf("sam: postprocess: input size %v does not fit the %d×%d model input", input, imageSize, imageSize)
	case orig[0] <= 0 || orig[1] <= 0:
		return nil, fmt.Errorf("sam: postprocess: original size %v", orig)
	}
	rows := bilinear.Taps(s, imageSize)[:input[0]]
	cols := bilinear.Taps(s, imageSize)[:input[1]]
	cropped := bilinearApply(low, s, rows, cols)
	return bilinearApply(cropped, input[1], bilinear.Taps(input[0], orig[0]), bilinear.Taps(input[1], orig[1])), nil
}

// bilinearApply resizes the row-major plane src (width inW) to len(rows)×len(cols): blend along
// the width first, then the height, each product and sum rounded to float32 (the explicit
// conversions keep the compiler from fusing them into FMAs, which torch's kernel does not use).
func bilinearApply(src []float32, inW int, rows, cols []bilinear.Tap) []float32 {
	out := make([]float32, len(rows)*len(cols))
	for y, r := range rows {
		top := src[r.I0*inW : (r.I0+1)*inW]
		bot := src[r.I1*inW : (r.I1+1)*inW]
		dst := out[y*len(cols) : (y+1)*len(cols)]
		for x, c := range cols {
			t := float32(c.L0*top[c.I0]) + float32(c.L1*top[c.I1])
			b := float32(c.L0*bot[c.I0]) + float32(c.L1*bot[c.I1])
			dst[x] = float32(r.L0*t) + float32(r.L1*b)
		}
	}
	return out
}
