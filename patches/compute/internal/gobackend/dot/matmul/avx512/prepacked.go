// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

//go:build amd64 && goexperiment.simd

package avx512

// Patch (clipsurgery, see patches/README.md): float32 dense weights packed once, at load, in the
// layout avx512PrepackRHSFloat32 gives a constant right-hand side (panels of
// PanelContractingSize rows × RHSPanelCrossSize columns, column panels outer, each panel strips
// of RHSL1KernelCols columns), so that avx512LargeFloat32 reads them in place
// (dot.NodeData.RHSPrepacked) instead of packing the weights on every call.

import "github.com/gomlx/compute/internal/gobackend/dot"

var float32DensePacker = &dot.DensePacker{Pack: packDenseFloat32, Unpack: unpackDenseFloat32,
	Panels: func(k, n int, f func(k0, kw, c0, cw, off int)) {
		forEachPanelFloat32(k, n, func(_, k0, kw, c0, cw, off int) { f(k0, kw, c0, cw, off) })
	}}

// forEachPanelFloat32 calls f for each panel of a packed [k, n] float32 matrix in storage order,
// with its index in the panels' list (kPanel·numColPanels + colPanel), its place in the matrix
// and its span in the packed storage. n must be a multiple of RHSL1KernelCols.
func forEachPanelFloat32(k, n int, f func(idx, k0, kw, c0, cw, off int)) {
	p := AVX512ParamsFloat32
	numKPanels := (k + p.PanelContractingSize - 1) / p.PanelContractingSize
	numColPanels := (n + p.RHSPanelCrossSize - 1) / p.RHSPanelCrossSize
	off := 0
	for cp := range numColPanels {
		c0 := cp * p.RHSPanelCrossSize
		cw := min(p.RHSPanelCrossSize, n-c0)
		for kp := range numKPanels {
			k0 := kp * p.PanelContractingSize
			kw := min(p.PanelContractingSize, k-k0)
			f(kp*numColPanels+cp, k0, kw, c0, cw, off)
			off += kw * cw
		}
	}
}

// packDenseFloat32 packs src [k, n] into dst.
func packDenseFloat32(dst, src []float32, k, n int) {
	forEachPanelFloat32(k, n, func(_, k0, kw, c0, cw, off int) {
		avx512PackRHSNonTransposed(src, dst[off:off+kw*cw], k0, c0, n, kw, cw, AVX512ParamsFloat32.RHSL1KernelCols)
	})
}

// unpackDenseFloat32 is the inverse of packDenseFloat32.
func unpackDenseFloat32(dst, src []float32, k, n int) {
	nr := AVX512ParamsFloat32.RHSL1KernelCols
	forEachPanelFloat32(k, n, func(_, k0, kw, c0, cw, off int) {
		for s := 0; s < cw/nr; s++ {
			strip := src[off+s*kw*nr : off+(s+1)*kw*nr]
			for r := range kw {
				copy(dst[(k0+r)*n+c0+s*nr:][:nr], strip[r*nr:(r+1)*nr])
			}
		}
	})
}

// prepackedPanelsFloat32 lists the panels of a packed [k, n] matrix, as avx512PrepackRHSFloat32
// returns them for a constant one.
func prepackedPanelsFloat32(rhs []float32, k, n int) [][]float32 {
	p := AVX512ParamsFloat32
	numKPanels := (k + p.PanelContractingSize - 1) / p.PanelContractingSize
	numColPanels := (n + p.RHSPanelCrossSize - 1) / p.RHSPanelCrossSize
	panels := make([][]float32, numKPanels*numColPanels)
	forEachPanelFloat32(k, n, func(idx, _, kw, _, cw, off int) { panels[idx] = rhs[off : off+kw*cw] })
	return panels
}
