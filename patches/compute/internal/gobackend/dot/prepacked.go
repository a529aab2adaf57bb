// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package dot

// Patch (clipsurgery, see patches/README.md): dense weights packed once, at load, for the
// float32 kernel, instead of on every call (compute.DenseLayoutPacked).

// DensePacker packs a float32 matrix [k, n] (row-major, the right-hand side of a product in
// LayoutNonTransposed) into the panel layout its kernel reads (Pack), and back (Unpack). dst and
// src have k·n elements; n must be a multiple of compute.DensePackedStrip.
type DensePacker struct {
	Pack, Unpack func(dst, src []float32, k, n int)
	// Panels calls f for each panel of the packed [k, n] matrix in storage order: rows
	// [k0, k0+kw) and columns [c0, c0+cw) stored from off as cw/DensePackedStrip strips, each
	// kw × DensePackedStrip row-major.
	Panels func(k, n int, f func(k0, kw, c0, cw, off int))
}

// Float32DensePacker is the packer of the registered float32 kernel that reads packed weights
// (compute.DenseLayoutPacked); nil when there is none (no AVX-512, or it is disabled), and then
// FusedDense refuses that layout.
var Float32DensePacker *DensePacker
