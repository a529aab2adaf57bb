package sam

import (
	"fmt"
	"math"
)

// PostprocessMasks is Sam.postprocess_masks for one low-res logit map (s×s): bilinear
// (align_corners=False) to imageSize², crop to the resized input (H, W) = input, bilinear to
// the original (H, W) = orig. Returns orig H×W logits, row-major. It is plain Go rather than a
// graph so that it can follow torch's CPU index arithmetic exactly (see bilinearTaps); only the
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
	rows := bilinearTaps(s, imageSize)[:input[0]]
	cols := bilinearTaps(s, imageSize)[:input[1]]
	cropped := bilinearApply(low, s, rows, cols)
	return bilinearApply(cropped, input[1], bilinearTaps(input[0], orig[0]), bilinearTaps(input[1], orig[1])), nil
}

// lerpTap is one output index of a bilinear resize: two source indices and their weights.
type lerpTap struct {
	i0, i1 int
	l0, l1 float32
}

// bilinearTaps reproduces torch 1.13's CPU upsample_bilinear2d (align_corners=False) index
// math for one axis, which mixes precisions: the scale in/out is a float32 division, the
// source position scale·(i+0.5) − 0.5 is computed in float64 and clamped at 0, and the weights
// are rounded to float32. Doing all of it in float32 or all in float64 moves logits by up to
// 7e-5 and flips pixels on the golden data (golden README, postprocess).
func bilinearTaps(in, out int) []lerpTap {
	scale := float64(float32(in) / float32(out))
	taps := make([]lerpTap, out)
	for i := range taps {
		src := max(scale*(float64(i)+0.5)-0.5, 0)
		i0 := int(math.Floor(src))
		frac := src - float64(i0)
		taps[i] = lerpTap{i0: i0, i1: min(i0+1, in-1), l0: float32(1 - frac), l1: float32(frac)}
	}
	return taps
}

// bilinearApply resizes the row-major plane src (width inW) to len(rows)×len(cols): blend along
// the width first, then the height, each product and sum rounded to float32 (the explicit
// conversions keep the compiler from fusing them into FMAs, which torch's kernel does not use).
func bilinearApply(src []float32, inW int, rows, cols []lerpTap) []float32 {
	out := make([]float32, len(rows)*len(cols))
	for y, r := range rows {
		top := src[r.i0*inW : (r.i0+1)*inW]
		bot := src[r.i1*inW : (r.i1+1)*inW]
		dst := out[y*len(cols) : (y+1)*len(cols)]
		for x, c := range cols {
			t := float32(c.l0*top[c.i0]) + float32(c.l1*top[c.i1])
			b := float32(c.l0*bot[c.i0]) + float32(c.l1*bot[c.i1])
			dst[x] = float32(r.l0*t) + float32(r.l1*b)
		}
	}
	return out
}
