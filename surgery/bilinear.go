package surgery

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/clipsurgery/clipsurgery/internal/bilinear"
)

// PyTorch 1.13's CPU bilinear interpolation (F.interpolate(mode='bilinear', align_corners=False),
// no antialias), reproduced bit for bit: the goldens were made with it, and an overlay pixel flips
// a level whenever the map moves by one ulp across an integer of map·255. The per-axis source
// indices and weights are internal/bilinear's (precision stated there).
//
// PyTorch then combines the four neighbours a=(y0,x0) b=(y0,x1) c=(y1,x0) d=(y1,x1) in one of
// three ways, depending on the memory layout of the input and on the channel:
//
//   - channels-last input (get_similarity_map permutes [1,H,W,K] → [1,K,H,W] without copying),
//     channels in the AVX2 vector part (all but the last K mod 8): float32 weights
//     w00 = ly0·lx0 … w11 = ly1·lx1 and fma(a,w00, fma(b,w01, fma(d,w11, c·w10))) — the FMAs
//     that GCC contracts Vectorized<float>'s a·w + (…) into;
//   - channels-last, the scalar tail (the last K mod 8 channels, e.g. the single channel of a
//     one-class map): the same float32 weights, summed in double, ((a·w00 + b·w01) + c·w10) + d·w11;
//   - contiguous NCHW input (the [1,1,s,s] map of similarity_map_to_points): the nested form
//     fma(fma(a,lx0, b·lx1), ly0, fma(c,lx0, d·lx1)·ly1).
//
// These were identified against the goldens (all stored maps and down-sampled point maps match
// bit-exactly). torchVecWidth assumes the AVX2 kernels; on an AVX-512 machine PyTorch's boundary
// would be K − K mod 16, which changes only the last ulp of the affected classes.
const torchVecWidth = 8

// fma32 is a correctly rounded float32 fused multiply-add a·b + c, as the hardware FMA PyTorch
// runs. The product is exact in float64; the sum is rounded to odd (round to nearest, then, if it
// was inexact, forced to an odd last bit), and 53 ≥ 2·24 + 2 bits make the final rounding to
// float32 equal to a single rounding of the exact value (no double-rounding error).
func fma32(a, b, c float32) float32 {
	p := float64(float64(a) * float64(b)) // exact
	cc := float64(c)
	s := p + cc
	// TwoSum: e is the exact rounding error of s.
	bb := s - p
	e := (p - (s - bb)) + (cc - bb)
	if e != 0 {
		bits := math.Float64bits(s)
		if bits&1 == 0 {
			if (e > 0) == (s > 0) {
				bits++
			} else {
				bits--
			}
			s = math.Float64frombits(bits)
		}
	}
	return float32(s)
}

// lerpVecRowGeneric writes one output row of the channels-last vector formula. a, b are the source row
// y0 already gathered at x0/x1 of every output column, c, d the same for row y1.
func lerpVecRowGeneric(a, b, c, d, lx0, lx1 []float32, ly0, ly1 float32, out []float32) {
	n := len(out)
	a, b, c, d, lx0, lx1 = a[:n], b[:n], c[:n], d[:n], lx0[:n], lx1[:n]
	for x := range out {
		w00, w01 := ly0*lx0[x], ly0*lx1[x]
		w10, w11 := ly1*lx0[x], ly1*lx1[x]
		out[x] = fma32(a[x], w00, fma32(b[x], w01, fma32(d[x], w11, c[x]*w10)))
	}
}

// lerpTailRowGeneric is the channels-last scalar-tail formula: float32 weights, double sum. The
// explicit float64 conversions keep Go from fusing the products into FMAs on architectures that
// have them.
func lerpTailRowGeneric(a, b, c, d, lx0, lx1 []float32, ly0, ly1 float32, out []float32) {
	n := len(out)
	a, b, c, d, lx0, lx1 = a[:n], b[:n], c[:n], d[:n], lx0[:n], lx1[:n]
	for x := range out {
		w00, w01 := ly0*lx0[x], ly0*lx1[x]
		w10, w11 := ly1*lx0[x], ly1*lx1[x]
		s := float64(float64(a[x])*float64(w00)) + float64(float64(b[x])*float64(w01))
		s += float64(float64(c[x]) * float64(w10))
		s += float64(float64(d[x]) * float64(w11))
		out[x] = float32(s)
	}
}

// resizeNCHW is PyTorch's bilinear resize of one contiguous inH×inW plane (the generic kernel):
// fma(fma(a,lx0, b·lx1), ly0, fma(c,lx0, d·lx1)·ly1). Used for the small point maps.
func resizeNCHW(src []float32, inH, inW, outH, outW int) []float32 {
	ys, xs := bilinear.Taps(inH, outH), bilinear.Taps(inW, outW)
	out := make([]float32, outH*outW)
	for y, ty := range ys {
		r0, r1 := src[ty.I0*inW:(ty.I0+1)*inW], src[ty.I1*inW:(ty.I1+1)*inW]
		for x, tx := range xs {
			t0 := fma32(r0[tx.I0], tx.L0, r0[tx.I1]*tx.L1)
			t1 := fma32(r1[tx.I0], tx.L0, r1[tx.I1]*tx.L1)
			out[y*outW+x] = fma32(t0, ty.L0, t1*ty.L1)
		}
	}
	return out
}

// parallelFor runs fn(0..n-1) on up to GOMAXPROCS goroutines that pull indices from a shared
// counter, so uneven items still balance.
func parallelFor(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}
