package surgery

import (
	"math"
	"testing"
)

var surgeryCases = []string{"vit16/surgery/demo_224", "vit16/surgery/demo_512", "rn/surgery/demo_224"}

// TestSimilarityGrid: per-class min-max over the patch tokens equals get_similarity_map's internal grid.
func TestSimilarityGrid(t *testing.T) {
	for _, c := range append(surgeryCases, "vit16/clip/demo_224") {
		t.Run(c, func(t *testing.T) {
			simFile := c + "/similarity_all59.f32.npy"
			if c == "vit16/clip/demo_224" {
				simFile = c + "/features_all59.f32.npy" // raw CLIP: norm @ T^T
			}
			sim := loadMatrix(t, simFile)
			want := loadF32(t, c+"/simgrid_minmax_targets.f32.npy")
			for j, k := range targetIdx {
				g, side, err := SimilarityGrid(sim, k)
				if err != nil {
					t.Fatal(err)
				}
				if side*side != sim.Rows-1 {
					t.Fatalf("side %d for %d tokens", side, sim.Rows)
				}
				n := side * side
				assertClose(t, targetNames[j], g, want[j*n:(j+1)*n], 1e-6)
			}
		})
	}
}

// TestSimilarityMapGolden: the 375×500 maps of the four targets; atol 1e-5 is the contract, and the
// PyTorch formulas in bilinear.go in fact reproduce every value bit for bit.
func TestSimilarityMapGolden(t *testing.T) {
	for _, c := range surgeryCases[:2] {
		t.Run(c, func(t *testing.T) {
			sim := loadMatrix(t, c+"/similarity_all59.f32.npy")
			want := loadF32(t, c+"/simmap_targets.f32.npy") // [1,H,W,4]
			maps, err := SimilarityMap(sim, targetIdx, demoH, demoW)
			if err != nil {
				t.Fatal(err)
			}
			// The pure-Go FMA kernel (used without AVX2/FMA or GOEXPERIMENT=simd) must agree too.
			pure, err := similarityMap(sim, targetIdx, demoH, demoW, genericKernels)
			if err != nil {
				t.Fatal(err)
			}
			for j := range targetIdx {
				if n := countDiff(maps[j], pure[j]); n != 0 {
					t.Errorf("%s: pure-Go kernel differs from the SIMD kernel in %d values", targetNames[j], n)
				}
				col := make([]float32, demoH*demoW)
				for p := range col {
					col[p] = want[p*4+j]
				}
				assertClose(t, targetNames[j], maps[j], col, 1e-5)
				if n := countDiff(maps[j], col); n != 0 {
					t.Errorf("%s: %d values not bit-identical to PyTorch", targetNames[j], n)
				}
			}
		})
	}
}

// TestSimilarityMapSingleClass covers the channels-last scalar-tail formula (a one-class map).
func TestSimilarityMapSingleClass(t *testing.T) {
	sim := loadMatrix(t, "vit16/surgery/demo_512_shoes/similarity.f32.npy")
	want := loadF32(t, "vit16/surgery/demo_512_shoes/simmap.f32.npy")
	maps, err := SimilarityMap(sim, []int{0}, demoH, demoW)
	if err != nil {
		t.Fatal(err)
	}
	pure, err := similarityMap(sim, []int{0}, demoH, demoW, genericKernels)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "shoes", maps[0], want, 1e-5)
	if n := countDiff(maps[0], want); n != 0 {
		t.Errorf("shoes: %d values not bit-identical to PyTorch", n)
	}
	if n := countDiff(pure[0], want); n != 0 {
		t.Errorf("shoes, pure-Go kernel: %d values not bit-identical to PyTorch", n)
	}
}

func countDiff(a, b []float32) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// TestSimilarityMapSelection: the map of a class does not depend on which other classes are
// requested, and the order of the result follows the request.
func TestSimilarityMapSelection(t *testing.T) {
	sim := loadMatrix(t, "vit16/surgery/demo_224/similarity_all59.f32.npy")
	all, err := SimilarityMap(sim, []int{36, 4, 58}, 60, 80)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []int{36, 4, 58} {
		one, err := SimilarityMap(sim, []int{c}, 60, 80)
		if err != nil {
			t.Fatal(err)
		}
		if countDiff(one[0], all[i]) != 0 {
			t.Errorf("class %d differs when requested alone", c)
		}
	}
}

// TestLerpKernelsAgree: the AVX2 kernels and the pure-Go ones give identical bits, also on lengths
// that leave a scalar remainder (dot products only agree to rounding).
func TestLerpKernelsAgree(t *testing.T) {
	for _, n := range []int{1, 7, 8, 9, 500, 643} {
		v := func(seed int) []float32 {
			s := make([]float32, n)
			for i := range s {
				s[i] = float32(math.Mod(float64(i*seed)*0.7548776662, 1))
			}
			return s
		}
		a, b, c, d, l1 := v(3), v(5), v(7), v(11), v(13)
		l0 := make([]float32, n)
		for i := range l0 {
			l0[i] = 1 - l1[i]
		}
		for _, k := range []struct {
			name          string
			simd, generic rowKernel
		}{{"vector", lerpVecRow, lerpVecRowGeneric}, {"tail", lerpTailRow, lerpTailRowGeneric}} {
			got, want := make([]float32, n), make([]float32, n)
			k.simd(a, b, c, d, l0, l1, 0.3, 0.7, got)
			k.generic(a, b, c, d, l0, l1, 0.3, 0.7, want)
			if diff := countDiff(got, want); diff != 0 {
				t.Errorf("%s n=%d: %d lanes differ", k.name, n, diff)
			}
		}
		if d1, d2 := dot64(a, b), dot64Generic(a, b); math.Abs(d1-d2) > 1e-12*float64(n) {
			t.Errorf("dot n=%d: %v vs %v", n, d1, d2)
		}
	}
}

// TestFMA32 checks the emulated float32 FMA on cases where a naive float32(math.FMA(...)) double
// rounds: the exact value lies just above a float32 midpoint.
func TestFMA32(t *testing.T) {
	// a·b = 1 + 2^-24 + 2^-48 … chosen so that a·b + c is a hair above the midpoint between 1 and
	// 1 + 2^-23: correct rounding goes up.
	a := float32(1 + 1.0/(1<<12))
	b := float32(1 + 1.0/(1<<12))
	c := float32(-1.0 / (1 << 11))
	// exact: 1 + 2^-11 + 2^-24 − 2^-11 = 1 + 2^-24 (a tie) → even → 1
	if got := fma32(a, b, c); got != 1 {
		t.Errorf("tie: fma32 = %v, want 1", got)
	}
	for i, tc := range []struct{ a, b, c float32 }{
		{1.5, 2.25, -0.1}, {0.1, 0.2, 0.3}, {-3, 7, 1e-10}, {1e-3, 1e-3, -1e-6},
	} {
		want := float32(math.FMA(float64(tc.a), float64(tc.b), float64(tc.c)))
		if got := fma32(tc.a, tc.b, tc.c); got != want {
			t.Errorf("case %d: %v != %v", i, got, want)
		}
	}
	// A double-rounding case: a·b = 1 + 2^-11 + 2^-24 is exactly halfway between two float32
	// neighbours; a tiny c = 2^-80 puts the exact sum above the midpoint, so correct rounding goes
	// up. float64 loses the 2^-80 and the float32 tie then rounds to even, i.e. down.
	x := float32(1 + 1.0/(1<<12))
	z := float32(math.Ldexp(1, -80))
	up := float32(1 + 1.0/(1<<11) + 1.0/(1<<23))
	if got := fma32(x, x, z); got != up {
		t.Errorf("round-to-odd case: got %v, want %v", got, up)
	}
	if naive := float32(math.FMA(float64(x), float64(x), float64(z))); naive == up {
		t.Error("the double-rounding case does not double round: the test lost its point")
	}
}

// TestSimilarityMapErrors: bad sizes, classes and non-square token counts are errors.
func TestSimilarityMapErrors(t *testing.T) {
	sim := NewMatrix(1+16, 3)
	if _, err := SimilarityMap(sim, []int{3}, 10, 10); err == nil {
		t.Error("class out of range accepted")
	}
	if _, err := SimilarityMap(sim, []int{0}, 0, 10); err == nil {
		t.Error("zero height accepted")
	}
	if _, err := SimilarityMap(NewMatrix(1+15, 3), []int{0}, 10, 10); err == nil {
		t.Error("15 patches (not square) accepted")
	}
	if _, _, err := SimilarityGrid(NewMatrix(1, 3), 0); err == nil {
		t.Error("no patches accepted")
	}
	bad := NewMatrix(1+4, 1)
	bad.Data[2] = float32(math.NaN())
	if _, _, err := SimilarityGrid(bad, 0); err == nil {
		t.Error("NaN similarity accepted")
	}
	// A constant class is documented to give zeros (the reference would give NaN).
	g, _, err := SimilarityGrid(NewMatrix(1+4, 1), 0)
	if err != nil || g[0] != 0 || g[3] != 0 {
		t.Errorf("constant class: %v %v", g, err)
	}
}
