// Copyright 2023-2026 The GoMLX Authors. SPDX-License-Identifier: Apache-2.0

//go:build amd64 && goexperiment.simd

package fusedops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/gomlx/compute/internal/gobackend"
)

// Patch (clipsurgery): the AVX-512 softmax rows against a float64 softmax.
func TestSoftmaxRowsAVX512(t *testing.T) {
	if !gobackend.IsAVX512Allowed {
		t.Skip("AVX-512 is not supported or allowed on this machine")
	}
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{1, 2, 15, 16, 17, 31, 32, 33, 64, 77, 197, 1025} {
		for _, scale := range []float64{1, 10, 100} {
			const rows = 3
			in, out := make([]float32, rows*n), make([]float32, rows*n)
			for i := range in {
				in[i] = float32(rng.NormFloat64() * scale)
			}
			in[n/2] = float32(math.Inf(-1)) // a masked-out logit weighs 0
			if !softmaxRowsAVX512(in, out, n, 0, rows) {
				t.Fatal("softmaxRowsAVX512 refused with AVX-512 allowed")
			}
			for r := range rows {
				row, got := in[r*n:(r+1)*n], out[r*n:(r+1)*n]
				m := math.Inf(-1)
				for _, x := range row {
					m = max(m, float64(x))
				}
				var sum float64
				for _, x := range row {
					sum += math.Exp(float64(x) - m)
				}
				for i, x := range row {
					want := math.Exp(float64(x)-m) / sum
					if d := math.Abs(float64(got[i]) - want); d > 2e-7+2e-6*want {
						t.Fatalf("n=%d scale=%g row %d [%d]: got %g, want %g", n, scale, r, i, got[i], want)
					}
				}
			}
		}
	}
}

// Patch (clipsurgery): the AVX-512 rows give bit-identical probabilities to the rows they replace
// (fusedSoftmaxRowFloat32): same exponential, same order of the sum.
func TestSoftmaxRowsAVX512MatchUpstreamRows(t *testing.T) {
	if !gobackend.IsAVX512Allowed {
		t.Skip("AVX-512 is not supported or allowed on this machine")
	}
	rng := rand.New(rand.NewSource(2))
	for n := 2; n <= 70; n++ {
		for _, scale := range []float64{0.5, 5, 50} {
			in, got, want := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range in {
				in[i] = float32(rng.NormFloat64() * scale)
			}
			softmaxRowsAVX512(in, got, n, 0, 1)
			fusedSoftmaxRowFloat32(in, want)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d scale=%g [%d]: %g, the upstream rows give %g", n, scale, i, got[i], want[i])
				}
			}
		}
	}
}
