package bicubic

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/npy"
)

// testdata is the DINO golden folder: torch's own resize matrices (testdata/dino/gen_goldens.py
// interpolates an identity).
const testdata = "../../testdata/dino"

// TestMatricesMatchTorch: both kernels against the matrices PyTorch 1.13 produced for the
// resizes DINO and DINOv2 make of their position tables (up, down, odd ratios), antialiased with a
// size and plain with a scale factor (n+0.1)/in.
func TestMatricesMatchTorch(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testdata, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var man struct {
		Resize map[string]struct {
			In, Out     int
			Antialias   bool
			ScaleFactor *float64 `json:"scale_factor"`
		}
	}
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	if len(man.Resize) < 10 {
		t.Fatalf("manifest lists %d resize cases", len(man.Resize))
	}
	for name, c := range man.Resize {
		want, err := npy.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			t.Fatal(err)
		}
		var got [][]float32
		tol := 1e-6 // weights in float64 here, float32 with fused multiply-adds in torch
		if c.Antialias {
			got = AntialiasMatrix(c.In, c.Out, 0)
		} else {
			got = Matrix(c.In, c.Out, float32(1 / *c.ScaleFactor))
			tol = 2e-6 // torch's formulas in float32, some multiply-adds fused there
		}
		worst := 0.0
		for d := range c.Out {
			for i := range c.In {
				worst = max(worst, math.Abs(float64(got[d][i]-want.F32[d*c.In+i])))
			}
		}
		if worst > tol {
			t.Errorf("%s: max |Δ| = %g, want ≤ %g", name, worst, tol)
		}
	}
}

// TestRowsSumToOne: both kernels are partitions of unity, at any ratio.
func TestRowsSumToOne(t *testing.T) {
	for _, c := range [][2]int{{37, 16}, {16, 37}, {4, 4}, {1, 5}, {5, 1}, {64, 3}} {
		for name, m := range map[string][][]float32{"plain": Matrix(c[0], c[1], 0), "antialias": AntialiasMatrix(c[0], c[1], 0)} {
			for d, row := range m {
				s := 0.0
				for _, v := range row {
					s += float64(v)
				}
				if math.Abs(s-1) > 1e-6 {
					t.Errorf("%s %d→%d row %d sums to %v", name, c[0], c[1], d, s)
				}
			}
		}
	}
}
