package imageprep

import (
	"fmt"
	"math"
)

// ResizeLinearOpenCV is OpenCV 4's cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR) of an
// 8-bit image (any channel count), as mmcv's imresize calls it (the peers' Resize transform with
// backend 'cv2'): no antialiasing; per axis, for destination index d,
//
//	f  = float32((d + 0.5)·(in/out) − 0.5)   (scale in float64, 1/(out/in), as cv::resize computes it)
//	s  = floor(f), f −= s                       (float32)
//	w0 = round(float32(1 − f)·2048), w1 = round(f·2048)   (saturate_cast<short>, ties to even)
//
// columns before 0 or at/after the last take the edge column with weights (2048, 0); rows are
// clamped to the image but keep their weights. The horizontal pass is exact in int32; the vertical
// one is the SIMD kernel (VResizeLinearVec_32s8u):
// ((((S0>>4)·w0)>>16) + (((S1>>4)·w1)>>16) + 2) >> 2, saturated to 0..255, checked against
// the protocol goldens' resized inputs (every byte equal).
func ResizeLinearOpenCV(src *Pixels, w, h int) *Pixels {
	checkSize(w, h)
	if src.W <= 0 || src.H <= 0 || src.C <= 0 || len(src.Pix) != src.W*src.H*src.C {
		panic(fmt.Sprintf("imageprep: ResizeLinearOpenCV of a %dx%dx%d image with %d bytes", src.W, src.H, src.C, len(src.Pix)))
	}
	c := src.C
	xs := openCVTaps(src.W, w, true)
	ys := openCVTaps(src.H, h, false)
	// The horizontal pass of every source row is computed once, as OpenCV keeps a ring of rows.
	rows := make([][]int32, src.H)
	hrow := func(sy int) []int32 {
		if rows[sy] == nil {
			r := make([]int32, w*c)
			s := src.Pix[sy*src.W*c : (sy+1)*src.W*c]
			for dx, t := range xs {
				for k := range c {
					r[dx*c+k] = int32(s[t.i0*c+k])*t.w0 + int32(s[t.i1*c+k])*t.w1
				}
			}
			rows[sy] = r
		}
		return rows[sy]
	}
	out := &Pixels{W: w, H: h, C: c, Pix: make([]uint8, w*h*c)}
	for dy, t := range ys {
		r0, r1 := hrow(t.i0), hrow(t.i1)
		dst := out.Pix[dy*w*c : (dy+1)*w*c]
		for x := range dst {
			v := ((((r0[x] >> 4) * t.w0) >> 16) + (((r1[x] >> 4) * t.w1) >> 16) + 2) >> 2
			dst[x] = uint8(min(max(v, 0), 255))
		}
	}
	return out
}

// cvTap is one destination index of an OpenCV linear resize: source indices and fixed-point weights.
type cvTap struct {
	i0, i1 int
	w0, w1 int32
}

// openCVTaps are cv::resize's INTER_LINEAR offsets and weights of an axis of in → out samples
// (resizeGeneric's xofs/alpha or yofs/beta). Columns (clampWeights) out of range get the edge
// sample with weights (2048, 0); rows are clamped to the image with their weights unchanged.
func openCVTaps(in, out int, clampWeights bool) []cvTap {
	scale := 1 / (float64(out) / float64(in))
	taps := make([]cvTap, out)
	for d := range taps {
		f := float32((float64(d)+0.5)*scale - 0.5)
		s := int(math.Floor(float64(f)))
		f -= float32(s)
		if clampWeights && s < 0 {
			s, f = 0, 0
		}
		if clampWeights && s >= in-1 {
			s, f = in-1, 0
		}
		w0 := int32(math.RoundToEven(float64((1 - f) * 2048)))
		w1 := int32(math.RoundToEven(float64(f * 2048)))
		i0 := min(max(s, 0), in-1)
		i1 := min(max(s+1, 0), in-1)
		taps[d] = cvTap{i0: i0, i1: i1, w0: w0, w1: w1}
	}
	return taps
}

// RescaleSize is mmcv's keep-ratio size rule (mmcv.rescale_size with a (long, short) scale
// tuple, as Resize(scale=(2048, 336), keep_ratio=True) applies it): the factor
// f = min(max(scale)/max(h, w), min(scale)/min(h, w)) and the new size (int(w·f + 0.5),
// int(h·f + 0.5)), in float64 as Python computes it.
func RescaleSize(w, h, long, short int) (nw, nh int, f float64) {
	f = math.Min(float64(max(long, short))/float64(max(h, w)), float64(min(long, short))/float64(min(h, w)))
	return int(float64(w)*f + 0.5), int(float64(h)*f + 0.5), f
}
