// Package bicubic is PyTorch's bicubic resize along one axis (F.interpolate(mode="bicubic",
// align_corners=False) on CPU, float32, PyTorch 1.13) as an [out][in] matrix, for graphs that
// resize a positional-embedding table with two products by constants: the one copy CLIP's methods
// (MaskCLIP, SCLIP, ClearCLIP, NACLIP, ProxyCLIP) and DINO / DINOv2 share.
//
// Two kernels, as PyTorch has them:
//
//   - Matrix, antialias=False (upsample_bicubic2d): src = scale·(d+0.5) − 0.5, taps i−1..i+2
//     around i = floor(src), clamped to the edge, weighted by the cubic convolution kernel with
//     A = −0.75;
//   - AntialiasMatrix, antialias=True (_upsample_bicubic2d_aa, Pillow's filter): every source
//     sample within 2·max(scale, 1) of the centre scale·(d+0.5), weighted by the cubic kernel with
//     A = −0.5 stretched by max(scale, 1) and normalised to sum 1; samples outside the axis are
//     dropped, not clamped.
//
// scale is the step between output samples in input samples: in/out for F.interpolate(size=...),
// 1/scale_factor for F.interpolate(scale_factor=...) (PyTorch uses the given factor, not the size
// ratio); 0 means in/out.
package bicubic

import "math"

// A is the cubic convolution coefficient of PyTorch's plain bicubic resize.
const A = -0.75

// AntialiasA is the coefficient of its antialiased resize (Pillow's).
const AntialiasA = -0.5

// Matrix is the plain (not antialiased) resize: i = floor(src) clamped to in−1, t = src − i
// clamped to [0, 1], taps i−1..i+2 clamped to the edge. Computed in float32 with PyTorch's
// formulas; PyTorch's vectorised CPU build fuses some of their multiply-adds, so weights agree to
// about 1e-6 (testdata/dino/resize), far inside the features' tolerance.
func Matrix(in, out int, scale float32) [][]float32 {
	if scale == 0 {
		scale = float32(in) / float32(out)
	}
	m := make([][]float32, out)
	for d := range m {
		m[d] = make([]float32, in)
		src := scale*(float32(d)+0.5) - 0.5
		i := min(int(math.Floor(float64(src))), in-1)
		t := min(max(src-float32(i), 0), 1)
		for j, w := range cubicWeights(t) {
			m[d][min(max(i-1+j, 0), in-1)] += w
		}
	}
	return m
}

// cubicWeights are the four taps' weights for fraction t (PyTorch's
// get_cubic_upsample_coefficients, A = −0.75).
func cubicWeights(t float32) [4]float32 {
	return [4]float32{cubicFar(t+1, A), cubicNear(t, A), cubicNear(1-t, A), cubicFar(2-t, A)}
}

// cubicNear is the cubic convolution kernel for |x| ≤ 1, cubicFar for 1 < |x| < 2.
func cubicNear(x, a float32) float32 { return ((a+2)*x-(a+3))*x*x + 1 }
func cubicFar(x, a float32) float32  { return ((a*x-5*a)*x+8*a)*x - 4*a }

// AntialiasMatrix is the antialiased resize (PyTorch's _compute_weights_aa with the bicubic
// aa_filter): support = 2·scale when downscaling (scale ≥ 1), else 2; the taps of output d are
// the source samples from trunc(centre − support + 0.5) (at least 0) to trunc(centre + support +
// 0.5) (at most in), each weighted by the filter at (j − centre + 0.5)/max(scale, 1), then divided
// by their sum. PyTorch computes the weights in float32 with fused multiply-adds in its vector
// builds; this computes them in float64, so weights agree to a few float32 ulps (≤ 2e-7 on the
// goldens).
func AntialiasMatrix(in, out int, scale float32) [][]float32 {
	if scale == 0 {
		scale = float32(in) / float32(out)
	}
	s := float64(scale)
	support, inv := 2.0, 1.0
	if s >= 1 {
		support, inv = 2*s, 1/s
	}
	m := make([][]float32, out)
	for d := range m {
		m[d] = make([]float32, in)
		center := s * (float64(d) + 0.5)
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), in)
		w := make([]float64, max(hi-lo, 0))
		total := 0.0
		for j := range w {
			w[j] = antialiasFilter((float64(lo+j) - center + 0.5) * inv)
			total += w[j]
		}
		for j, v := range w {
			if total != 0 {
				v /= total
			}
			m[d][lo+j] = float32(v)
		}
	}
	return m
}

// antialiasFilter is the cubic kernel with A = −0.5 (PyTorch's aa_filter for bicubic).
func antialiasFilter(x float64) float64 {
	const a = AntialiasA
	x = math.Abs(x)
	switch {
	case x < 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return ((a*x-5*a)*x+8*a)*x - 4*a
	}
	return 0
}
