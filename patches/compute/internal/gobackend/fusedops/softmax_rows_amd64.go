// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

//go:build amd64 && goexperiment.simd

package fusedops

// Patch (clipsurgery, see patches/README.md): softmax rows in AVX-512 only.
//
// fusedSoftmaxRowFloat32 mixes vector code with scalar float code (the reductions, the tail and
// the broadcasts of the max and the sum) that the Go compiler emits as legacy-SSE instructions;
// after AVX-512 instructions have dirtied the vectors' upper halves, each such instruction pays
// a transition penalty on Intel CPUs: 5-10 CPU-ns per element for a ViT's attention softmax.
// softmaxRowsAVX512 keeps every step in 512-bit vectors (masked loads and stores for the tail,
// the reductions by permutes, the exponential inlined) and clears the upper halves on return.

import (
	"math"
	"simd/archsimd"

	"github.com/gomlx/compute/internal/gobackend"
)

// softmaxConsts are the vectors softmaxRowsAVX512 needs, broadcast once per call.
type softmaxConsts struct {
	negInf, one, half, log2E, ln2Hi, ln2Lo, minX, maxX archsimd.Float32x16
	p2, p3, p4, p5, p6, p7                             archsimd.Float32x16
	bias                                               archsimd.Int32x16
	swap                                               [4]archsimd.Uint32x16  // lane i ↔ i^8, i^4, i^2, i^1
	lane                                               [16]archsimd.Uint32x16 // every lane ← lane i
}

// softmaxRowsAVX512 computes the softmax of rows [start, end) of in (rows of n elements) into
// out, returning false (nothing done) when AVX-512 is not available or not allowed.
func softmaxRowsAVX512(in, out []float32, n, start, end int) bool {
	if !gobackend.IsAVX512Allowed || n < 1 {
		return false
	}
	c := newSoftmaxConsts()
	for r := start; r < end; r++ {
		softmaxRowAVX512(in[r*n:(r+1)*n], out[r*n:(r+1)*n], &c)
	}
	archsimd.ClearAVXUpperBits()
	return true
}

func newSoftmaxConsts() softmaxConsts {
	var c softmaxConsts
	c.negInf = archsimd.BroadcastFloat32x16(float32(math.Inf(-1)))
	c.one = archsimd.BroadcastFloat32x16(1)
	c.half = archsimd.BroadcastFloat32x16(0.5)
	c.log2E = archsimd.BroadcastFloat32x16(1.44269504088896341)
	c.ln2Hi = archsimd.BroadcastFloat32x16(0.693359375)
	c.ln2Lo = archsimd.BroadcastFloat32x16(-2.12194440e-4)
	c.minX = archsimd.BroadcastFloat32x16(-88.02969187150841)
	c.maxX = archsimd.BroadcastFloat32x16(88.02969187150841)
	c.p2 = archsimd.BroadcastFloat32x16(5.0000001201e-1)
	c.p3 = archsimd.BroadcastFloat32x16(1.6666665459e-1)
	c.p4 = archsimd.BroadcastFloat32x16(4.1665795894e-2)
	c.p5 = archsimd.BroadcastFloat32x16(8.3334519073e-3)
	c.p6 = archsimd.BroadcastFloat32x16(1.3981999507e-3)
	c.p7 = archsimd.BroadcastFloat32x16(1.9875691500e-4)
	c.bias = archsimd.BroadcastInt32x16(127)
	for s, k := range [4]uint32{8, 4, 2, 1} {
		var idx [16]uint32
		for i := range idx {
			idx[i] = uint32(i) ^ k
		}
		c.swap[s] = archsimd.LoadUint32x16Array(&idx)
	}
	for i := range c.lane {
		var idx [16]uint32
		for j := range idx {
			idx[j] = uint32(i)
		}
		c.lane[i] = archsimd.LoadUint32x16Array(&idx)
	}
	return c
}

// expAVX512 is e^x for x ≤ 0 down to the clamp (the softmax's shifted logits), with the
// polynomial of simdmath.ExpFloat32 (Cephes' expf): x = n·ln2 + g, e^x = 2^n · P(g).
func expAVX512(x archsimd.Float32x16, c *softmaxConsts) archsimd.Float32x16 {
	x = x.Max(c.minX).Min(c.maxX)
	fn := x.MulAdd(c.log2E, c.half).FloorScaled(0) // floor(x·log2(e) + 1/2)
	g := x.Sub(fn.Mul(c.ln2Hi)).Sub(fn.Mul(c.ln2Lo))
	p := c.p7.MulAdd(g, c.p6).MulAdd(g, c.p5).MulAdd(g, c.p4).MulAdd(g, c.p3).MulAdd(g, c.p2)
	p = p.Mul(g).Mul(g).Add(g).Add(c.one)
	pow := fn.ConvertToInt32().Add(c.bias).ShiftAllLeft(23).AsFloat32x16() // 2^n
	return p.Mul(pow)
}

// reduceMax folds the 16 lanes with max; every lane of the result holds it. (Written out: a loop
// over c.swap copies it with SSE moves.)
func reduceMax(v archsimd.Float32x16, c *softmaxConsts) archsimd.Float32x16 {
	v = v.Max(v.Permute(c.swap[0]))
	v = v.Max(v.Permute(c.swap[1]))
	v = v.Max(v.Permute(c.swap[2]))
	return v.Max(v.Permute(c.swap[3]))
}

// sumInOrder adds, from zero, the lanes of v in lane order and then the first rem lanes of t:
// the order in which fusedSoftmaxRowFloat32 adds a row's exponentials, so that the two give
// bit-identical probabilities (a tree of adds rounds differently, and thresholds downstream,
// such as SC-CLIP's, can tell). Every lane of the result holds the sum.
func sumInOrder(v, t archsimd.Float32x16, rem int, c *softmaxConsts) archsimd.Float32x16 {
	s := v.Permute(c.lane[0])
	for i := 1; i < 16; i++ {
		s = s.Add(v.Permute(c.lane[i]))
	}
	for j := 0; j < rem; j++ {
		s = s.Add(t.Permute(c.lane[j]))
	}
	return s
}

func softmaxRowAVX512(in, out []float32, c *softmaxConsts) {
	n := len(in)
	full := n &^ 15
	var tail archsimd.Mask32x16
	if rem := n - full; rem > 0 {
		tail = archsimd.Mask32x16FromBits(uint16(0xffff >> (16 - rem)))
	}
	// Pass 1: max.
	m := c.negInf
	for i := 0; i < full; i += 16 {
		m = m.Max(archsimd.LoadFloat32x16Array((*[16]float32)(in[i : i+16])))
	}
	var t archsimd.Float32x16
	if full < n {
		t, _ = archsimd.LoadFloat32x16Part(in[full:])
		m = m.Max(t.IfElse(tail, c.negInf))
	}
	m = reduceMax(m, c)
	// Pass 2: e^(x - max) into out, and their sum.
	sum := c.one.Sub(c.one)
	for i := 0; i < full; i += 16 {
		e := expAVX512(archsimd.LoadFloat32x16Array((*[16]float32)(in[i:i+16])).Sub(m), c)
		e.StoreArray((*[16]float32)(out[i : i+16]))
		sum = sum.Add(e)
	}
	var et archsimd.Float32x16
	if full < n {
		et = expAVX512(t.Sub(m), c)
		et.StorePart(out[full:])
	}
	inv := c.one.Div(sumInOrder(sum, et, n-full, c))
	// Pass 3: normalize.
	for i := 0; i < full; i += 16 {
		o := (*[16]float32)(out[i : i+16])
		archsimd.LoadFloat32x16Array(o).Mul(inv).StoreArray(o)
	}
	if full < n {
		v, _ := archsimd.LoadFloat32x16Part(out[full:])
		v.Mul(inv).StorePart(out[full:])
	}
}
