//go:build goexperiment.simd && amd64

package surgery

import "simd/archsimd"

// hasFMA selects the vector kernels: AVX2 + FMA give correctly rounded float32 FMAs and exact
// float32↔float64 conversions per lane, identical to the pure-Go kernels, several times faster.
var hasFMA = archsimd.X86.AVX2() && archsimd.X86.FMA()

// lerpVecRow is lerpVecRowGeneric with 8-lane AVX2 FMAs (bit-identical: the same float32
// products and the same correctly rounded fused operations, lane by lane).
func lerpVecRow(a, b, c, d, lx0, lx1 []float32, ly0, ly1 float32, out []float32) {
	if !hasFMA {
		lerpVecRowGeneric(a, b, c, d, lx0, lx1, ly0, ly1, out)
		return
	}
	n := len(out)
	vy0, vy1 := archsimd.BroadcastFloat32x8(ly0), archsimd.BroadcastFloat32x8(ly1)
	x := 0
	for ; x+8 <= n; x += 8 {
		l0 := archsimd.LoadFloat32x8(lx0[x:])
		l1 := archsimd.LoadFloat32x8(lx1[x:])
		w00, w01 := vy0.Mul(l0), vy0.Mul(l1)
		w10, w11 := vy1.Mul(l0), vy1.Mul(l1)
		r := archsimd.LoadFloat32x8(c[x:]).Mul(w10)
		r = archsimd.LoadFloat32x8(d[x:]).MulAdd(w11, r)
		r = archsimd.LoadFloat32x8(b[x:]).MulAdd(w01, r)
		r = archsimd.LoadFloat32x8(a[x:]).MulAdd(w00, r)
		r.Store(out[x:])
	}
	if x < n {
		lerpVecRowGeneric(a[x:], b[x:], c[x:], d[x:], lx0[x:], lx1[x:], ly0, ly1, out[x:])
	}
}

// lerpTailRow is lerpTailRowGeneric on 4 lanes of float64 (bit-identical: float32 weights,
// exact widening, separate double multiplies and adds in the same order, one final rounding).
func lerpTailRow(a, b, c, d, lx0, lx1 []float32, ly0, ly1 float32, out []float32) {
	if !hasFMA {
		lerpTailRowGeneric(a, b, c, d, lx0, lx1, ly0, ly1, out)
		return
	}
	n := len(out)
	vy0, vy1 := archsimd.BroadcastFloat32x4(ly0), archsimd.BroadcastFloat32x4(ly1)
	wide := func(s []float32) archsimd.Float64x4 { return archsimd.LoadFloat32x4(s).ConvertToFloat64() }
	x := 0
	for ; x+4 <= n; x += 4 {
		l0 := archsimd.LoadFloat32x4(lx0[x:])
		l1 := archsimd.LoadFloat32x4(lx1[x:])
		w00, w01 := vy0.Mul(l0).ConvertToFloat64(), vy0.Mul(l1).ConvertToFloat64()
		w10, w11 := vy1.Mul(l0).ConvertToFloat64(), vy1.Mul(l1).ConvertToFloat64()
		s := wide(a[x:]).Mul(w00).Add(wide(b[x:]).Mul(w01))
		s = s.Add(wide(c[x:]).Mul(w10))
		s = s.Add(wide(d[x:]).Mul(w11))
		s.ConvertToFloat32().Store(out[x:])
	}
	if x < n {
		lerpTailRowGeneric(a[x:], b[x:], c[x:], d[x:], lx0[x:], lx1[x:], ly0, ly1, out[x:])
	}
}

// dot64 is the float64-accumulated dot product of float32 vectors on four 4-lane double FMA
// accumulators (16 elements per step; float32 products are exact in float64), reduced in a fixed
// order. It equals dot64Generic to within double rounding, far below float32 resolution.
func dot64(a, b []float32) float64 {
	if !hasFMA || len(a) < 16 {
		return dot64Generic(a, b)
	}
	b = b[:len(a)]
	wide := func(s []float32) archsimd.Float64x4 { return archsimd.LoadFloat32x4(s).ConvertToFloat64() }
	var s0, s1, s2, s3 archsimd.Float64x4
	i := 0
	for ; i+16 <= len(a); i += 16 {
		s0 = wide(a[i:]).MulAdd(wide(b[i:]), s0)
		s1 = wide(a[i+4:]).MulAdd(wide(b[i+4:]), s1)
		s2 = wide(a[i+8:]).MulAdd(wide(b[i+8:]), s2)
		s3 = wide(a[i+12:]).MulAdd(wide(b[i+12:]), s3)
	}
	var lanes [4]float64
	s0.Add(s1).Add(s2.Add(s3)).Store(lanes[:])
	sum := (lanes[0] + lanes[1]) + (lanes[2] + lanes[3])
	for ; i < len(a); i++ {
		sum += float64(a[i]) * float64(b[i])
	}
	return sum
}
