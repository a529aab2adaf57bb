// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package gobackend

import (
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/internal/gobackend/dot"
)

// Patch (clipsurgery, see patches/README.md): dense weights packed once, at load.

// CanPackDenseWeight reports whether PackDenseWeight packs a float32 weight of out output
// features: the go backend's AVX-512 float32 kernel is registered and out is a multiple of
// compute.DensePackedStrip.
func CanPackDenseWeight(out int) bool {
	return dot.Float32DensePacker != nil && out > 0 && out%compute.DensePackedStrip == 0
}

// PackDenseWeight writes the float32 weight w [in, out] (row-major, the layout of
// compute.DenseLayoutInputOutputs) into dst (in·out elements) packed for the go backend's
// AVX-512 kernel: a FusedDense reads dst, shaped [in, out/compute.DensePackedStrip,
// compute.DensePackedStrip], with compute.DenseLayoutPacked, without packing it on every call.
// It returns false, writing nothing, when CanPackDenseWeight(out) is false. The layout depends
// on the kernel's blocking (GOMLX_GO_AVX512_KC/_NC), fixed for the process: packed weights are
// not meant to be stored.
func PackDenseWeight(dst, w []float32, in, out int) bool {
	if !CanPackDenseWeight(out) || len(dst) != in*out || len(w) != in*out {
		return false
	}
	dot.Float32DensePacker.Pack(dst, w, in, out)
	return true
}

// DensePanel is one panel of a weight [in, out] packed by PackDenseWeight: rows [K0, K0+Rows)
// and columns [C0, C0+Cols) of the weight, stored from Offset as Cols/compute.DensePackedStrip
// strips of Rows × compute.DensePackedStrip values, each row-major.
type DensePanel struct{ K0, Rows, C0, Cols, Offset int }

// DensePackedPanels lists the panels of a weight [in, out] packed by PackDenseWeight, in storage
// order, for a loader that writes the packed layout itself (say, straight from a checkpoint's
// [out, in] rows); nil when CanPackDenseWeight(out) is false.
func DensePackedPanels(in, out int) []DensePanel {
	if !CanPackDenseWeight(out) {
		return nil
	}
	var panels []DensePanel
	dot.Float32DensePacker.Panels(in, out, func(k0, kw, c0, cw, off int) {
		panels = append(panels, DensePanel{K0: k0, Rows: kw, C0: c0, Cols: cw, Offset: off})
	})
	return panels
}

// UnpackDenseWeight is the inverse of PackDenseWeight: packed (in·out elements) back into dst
// [in, out].
func UnpackDenseWeight(dst, packed []float32, in, out int) bool {
	if !CanPackDenseWeight(out) || len(dst) != in*out || len(packed) != in*out {
		return false
	}
	dot.Float32DensePacker.Unpack(dst, packed, in, out)
	return true
}
