package surgery

import (
	"math"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/npy"
)

// The demo image size (demo.jpg is 500×375).
const demoH, demoW = 375, 500

// targets are demo.py's target classes in all_texts order: bench, building, ground, person.
var (
	targetIdx   = []int{4, 10, 29, 36}
	targetNames = []string{"bench", "building", "ground", "person"}
)

// loadMatrix loads a float32 golden whose trailing two dimensions form the matrix (leading 1s dropped).
func loadMatrix(t testing.TB, rel string) Matrix {
	t.Helper()
	a := goldens.Load(t, rel)
	if a.F32 == nil || len(a.Shape) < 1 {
		t.Fatalf("%s: not a float32 array (%s %v)", rel, a.DType, a.Shape)
	}
	rows, cols := 1, a.Shape[len(a.Shape)-1]
	if len(a.Shape) >= 2 {
		rows = a.Shape[len(a.Shape)-2]
	}
	for _, d := range a.Shape[:max(len(a.Shape)-2, 0)] {
		if d != 1 {
			t.Fatalf("%s: shape %v has a leading dimension != 1", rel, a.Shape)
		}
	}
	return Matrix{Rows: rows, Cols: cols, Data: a.F32}
}

func loadF32(t testing.TB, rel string) []float32 {
	t.Helper()
	a := goldens.Load(t, rel)
	if a.F32 == nil {
		t.Fatalf("%s: not float32 (%s)", rel, a.DType)
	}
	return a.F32
}

func loadArray(t testing.TB, rel string) *npy.Array {
	t.Helper()
	return goldens.Load(t, rel)
}

// maxAbsDiff returns the largest |a−b| (NaN or length mismatch → +Inf, so the test fails).
func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		if d != d {
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m
}

// assertClose fails when max|got−want| > atol.
func assertClose(t testing.TB, name string, got, want []float32, atol float64) float64 {
	t.Helper()
	d := maxAbsDiff(got, want)
	if d > atol {
		t.Errorf("%s: max abs diff %.3g > %.1g (len %d vs %d)", name, d, atol, len(got), len(want))
	}
	return d
}

// dropClassToken returns rows 1.. of m.
func dropClassToken(m Matrix) Matrix {
	return Matrix{Rows: m.Rows - 1, Cols: m.Cols, Data: m.Data[m.Cols:]}
}

func nan() float64 { return math.NaN() }
