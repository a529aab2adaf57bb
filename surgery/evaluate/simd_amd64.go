//go:build goexperiment.simd && amd64

package evaluate

import "simd/archsimd"

// clearAVXUpper runs VZEROUPPER. Built with GOEXPERIMENT=simd, a goroutine resumed after an
// asynchronous preemption can run with the upper halves of the vector registers dirty; math.Exp's
// assembly, which mixes VEX (FMA) and legacy SSE instructions, then pays an AVX–SSE transition on
// each of them: 1–3 µs a call instead of 10 ns on the project's Xeon (GODEBUG=asyncpreemptoff=1
// removes it too). The loops that call math.Exp per pixel clear the state first.
func clearAVXUpper() { archsimd.ClearAVXUpperBits() }

// hasAVX2 selects propagateRowVec: AVX2 lanes of float64, bit-identical to the generic loop.
var hasAVX2 = archsimd.X86.AVX2()

// propagateRow is PAMR's refinement step on one row (propagateRowGeneric), on AVX2 when present.
func (nb *neighbours) propagateRow(dst, src []float32, weights [][]float32, y int) {
	if !hasAVX2 {
		nb.propagateRowGeneric(dst, src, weights, y)
		return
	}
	nb.propagateRowVec(dst, src, weights, y)
}

// propagateRowVec is propagateRowGeneric on four float64x4 accumulators: each lane widens its
// float32 value exactly, multiplies by the float64 weight and adds, in the same order, as the
// generic loop does (no fused multiply-add), so the results are the same bits.
func (nb *neighbours) propagateRowVec(dst, src []float32, weights [][]float32, y int) {
	w := nb.w
	rows := nb.sourceRows(y)
	for x := range w {
		i := y*w + x
		var a0, a1, a2, a3 archsimd.Float64x4
		for j, wj := range weights {
			// Widened in a vector register: a scalar (SSE) conversion between the VEX
			// instructions would pay the transition penalty described at clearAVXUpper.
			wt := archsimd.BroadcastFloat32x4(wj[i]).ConvertToFloat64()
			q := (rows[j] + nb.col[j][x]) * pamrBlock
			s := src[q : q+pamrBlock]
			a0 = a0.Add(archsimd.LoadFloat32x4(s[0:4]).ConvertToFloat64().Mul(wt))
			a1 = a1.Add(archsimd.LoadFloat32x4(s[4:8]).ConvertToFloat64().Mul(wt))
			a2 = a2.Add(archsimd.LoadFloat32x4(s[8:12]).ConvertToFloat64().Mul(wt))
			a3 = a3.Add(archsimd.LoadFloat32x4(s[12:16]).ConvertToFloat64().Mul(wt))
		}
		d := dst[i*pamrBlock : (i+1)*pamrBlock]
		a0.ConvertToFloat32().Store(d[0:4])
		a1.ConvertToFloat32().Store(d[4:8])
		a2.ConvertToFloat32().Store(d[8:12])
		a3.ConvertToFloat32().Store(d[12:16])
	}
	archsimd.ClearAVXUpperBits()
}
