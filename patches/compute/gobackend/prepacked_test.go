// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

package gobackend_test

import (
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/compute/support/testutil"
)

// Patch (clipsurgery): FusedDense on weights packed by PackDenseWeight gives what it gives on
// the plain [in, out] weights, for row counts on both sides of the small-matrix threshold and
// sizes that leave partial panels; Unpack restores the weights.
func TestPackedDenseWeight(t *testing.T) {
	b, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	if !gobackend.CanPackDenseWeight(compute.DensePackedStrip) {
		t.Skip("no kernel reads packed weights here (needs AVX-512)")
	}
	if gobackend.CanPackDenseWeight(compute.DensePackedStrip + 1) {
		t.Fatal("CanPackDenseWeight accepts a width that is not a multiple of the strip")
	}
	rng := rand.New(rand.NewSource(1))
	random := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	for _, c := range []struct{ m, in, out int }{{1, 64, 32}, {3, 200, 96}, {8, 768, 3072}, {197, 768, 544}, {40, 3072, 768}} {
		x, w, bias := random(c.m*c.in), random(c.in*c.out), random(c.out)
		packed := make([]float32, len(w))
		if !gobackend.PackDenseWeight(packed, w, c.in, c.out) {
			t.Fatalf("%+v: PackDenseWeight refused", c)
		}
		fromPanels := make([]float32, len(w))
		for _, pn := range gobackend.DensePackedPanels(c.in, c.out) {
			for s := 0; s < pn.Cols/compute.DensePackedStrip; s++ {
				for r := range pn.Rows {
					for j := range compute.DensePackedStrip {
						col := pn.C0 + s*compute.DensePackedStrip + j
						fromPanels[pn.Offset+(s*pn.Rows+r)*compute.DensePackedStrip+j] = w[(pn.K0+r)*c.out+col]
					}
				}
			}
		}
		if !slices.Equal(fromPanels, packed) {
			t.Fatalf("%+v: DensePackedPanels does not describe PackDenseWeight's layout", c)
		}
		back := make([]float32, len(w))
		if !gobackend.UnpackDenseWeight(back, packed, c.in, c.out) || !slices.Equal(back, w) {
			t.Fatalf("%+v: UnpackDenseWeight does not restore the weights", c)
		}
		run := func(weight any, layout compute.DenseLayout) []float32 {
			got, err := testutil.Exec1(b, []any{reshape2(x, c.m, c.in), weight, bias}, func(f compute.Function, p []compute.Value) (compute.Value, error) {
				return f.FusedDense(p[0], p[1], p[2], compute.DenseConfig{WeightLayout: layout})
			})
			if err != nil {
				t.Fatalf("%+v, layout %s: %+v", c, layout, err)
			}
			return slices.Concat(got.([][]float32)...)
		}
		want := run(reshape2(w, c.in, c.out), compute.DenseLayoutInputOutputs)
		got := run(reshape3(packed, c.in, c.out/compute.DensePackedStrip, compute.DensePackedStrip), compute.DenseLayoutPacked)
		for i := range want {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
				t.Fatalf("%+v: output %d is %g, want %g", c, i, got[i], want[i])
			}
		}
	}
}

func reshape2(v []float32, a, b int) [][]float32 {
	out := make([][]float32, a)
	for i := range out {
		out[i] = v[i*b : (i+1)*b]
	}
	return out
}

func reshape3(v []float32, a, b, c int) [][][]float32 {
	out := make([][][]float32, a)
	for i := range out {
		out[i] = reshape2(v[i*b*c:(i+1)*b*c], b, c)
	}
	return out
}
