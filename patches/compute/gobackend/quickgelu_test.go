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

// Patch (clipsurgery): FusedDense with ActivationQuickGelu is x·sigmoid(1.702·x) of the product
// plus bias, row lengths with and without a partial vector at the end.
func TestFusedDenseQuickGelu(t *testing.T) {
	b, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(2))
	for _, c := range []struct{ m, in, out int }{{5, 16, 64}, {3, 40, 37}, {197, 64, 3072}} {
		x, w, bias := make([]float32, c.m*c.in), make([]float32, c.in*c.out), make([]float32, c.out)
		for _, v := range [][]float32{x, w, bias} {
			for i := range v {
				v[i] = float32(rng.NormFloat64())
			}
		}
		got, err := testutil.Exec1(b, []any{reshape2(x, c.m, c.in), reshape2(w, c.in, c.out), bias}, func(f compute.Function, p []compute.Value) (compute.Value, error) {
			return f.FusedDense(p[0], p[1], p[2], compute.DenseConfig{Activation: compute.ActivationConfig{Type: compute.ActivationQuickGelu}})
		})
		if err != nil {
			t.Fatalf("%+v: %+v", c, err)
		}
		flat := slices.Concat(got.([][]float32)...)
		for r := range c.m {
			for o := range c.out {
				h := float64(bias[o])
				for k := range c.in {
					h += float64(x[r*c.in+k]) * float64(w[k*c.out+o])
				}
				want := h / (1 + math.Exp(-1.702*h))
				if g := float64(flat[r*c.out+o]); math.Abs(g-want) > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("%+v: [%d,%d] = %g, want %g", c, r, o, g, want)
				}
			}
		}
	}
}
