package surgery_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/surgery"
)

// Bad-input matrix of the post-processing functions through the public API: every malformed
// argument is an error naming the problem, never a panic or a NaN map. (Explainer's option and
// target errors are in explain_test.go's TestExplainErrors.)

func mat(rows, cols int, f func(r, c int) float32) surgery.Matrix {
	m := surgery.NewMatrix(rows, cols)
	for r := range rows {
		for c := range cols {
			m.Data[r*cols+c] = f(r, c)
		}
	}
	return m
}

func ramp(r, c int) float32 { return float32(math.Sin(float64(r*7+c*3) + 0.5)) }

func noPanic(t *testing.T, f func() error) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("panic: %v", p)
		}
	}()
	return f()
}

func TestBadSurgeryInputs(t *testing.T) {
	img := surgery.Normalize(mat(1+4*4, 8, ramp)) // 4×4 grid + class token, 8 channels
	text3 := surgery.Normalize(mat(3, 8, func(r, c int) float32 { return ramp(c, r+5) }))
	text1 := surgery.Normalize(mat(1, 8, ramp))
	red := surgery.Normalize(mat(1, 8, func(r, c int) float32 { return 1 }))
	red2 := mat(2, 8, ramp)
	sim, _, err := surgery.FeatureSurgery(img, text3, nil)
	if err != nil {
		t.Fatal(err)
	}
	patches := surgery.NewMatrix(16, 3) // sim without the class token: CombinedTargetPoints' input
	copy(patches.Data, sim.Data[3:])
	col := sim.Column(0)[1:]
	nan := append([]float32(nil), col...)
	nan[5] = float32(math.NaN())
	flat := make([]float32, 16)
	rgb := make([]uint8, 4*5*3)
	m := make([]float32, 4*5)

	cases := []struct {
		name string
		run  func() error
		is   error
		msg  string
	}{
		{"one class without redundant", func() error { _, _, err := surgery.FeatureSurgery(img, text1, nil); return err }, surgery.ErrSingleClass, "single class"},
		{"no classes", func() error { _, _, err := surgery.FeatureSurgery(img, surgery.NewMatrix(0, 8), nil); return err }, nil, "class"},
		{"channel mismatch", func() error { _, _, err := surgery.FeatureSurgery(img, mat(3, 7, ramp), nil); return err }, nil, "7"},
		{"redundant of 2 rows", func() error { _, _, err := surgery.FeatureSurgery(img, text3, &red2); return err }, nil, "redundant"},
		{"one class with redundant is fine", func() error { _, _, err := surgery.FeatureSurgery(img, text1, &red); return err }, nil, ""},
		{"map: class out of range", func() error { _, err := surgery.SimilarityMap(sim, []int{3}, 10, 10); return err }, nil, "class"},
		{"map: negative class", func() error { _, err := surgery.SimilarityMap(sim, []int{-1}, 10, 10); return err }, nil, "class"},
		{"map: non-square tokens", func() error { _, err := surgery.SimilarityMap(mat(1+15, 2, ramp), []int{0}, 10, 10); return err }, nil, "square"},
		{"map: NaN similarity", func() error {
			s := mat(17, 2, ramp)
			s.Data[8] = float32(math.NaN()) // row 4, class 0
			_, err := surgery.SimilarityMap(s, []int{0}, 10, 10)
			return err
		}, nil, "finite"},
		{"map: zero output size", func() error { _, err := surgery.SimilarityMap(sim, []int{0}, 0, 10); return err }, nil, ""},
		{"points: t = 0", func() error { _, err := surgery.SimilarityMapToPoints(col, 64, 64, 0, 2); return err }, nil, "(0, 1]"},
		{"points: t = 1.5", func() error { _, err := surgery.SimilarityMapToPoints(col, 64, 64, 1.5, 2); return err }, nil, "(0, 1]"},
		{"points: t = -0.2", func() error { _, err := surgery.SimilarityMapToPoints(col, 64, 64, -0.2, 2); return err }, nil, "(0, 1]"},
		{"points: t = NaN", func() error {
			_, err := surgery.SimilarityMapToPoints(col, 64, 64, float32(math.NaN()), 2)
			return err
		}, nil, "(0, 1]"},
		{"points: downSample 0", func() error { _, err := surgery.SimilarityMapToPoints(col, 64, 64, 0.8, 0); return err }, nil, ""},
		{"points: downSample too large", func() error { _, err := surgery.SimilarityMapToPoints(col, 64, 64, 0.8, 4); return err }, nil, ""},
		{"points: non-square", func() error { _, err := surgery.SimilarityMapToPoints(col[:15], 64, 64, 0.8, 2); return err }, nil, "square"},
		{"points: constant map", func() error { _, err := surgery.SimilarityMapToPoints(flat, 64, 64, 0.8, 2); return err }, nil, "constant"},
		{"points: NaN", func() error { _, err := surgery.SimilarityMapToPoints(nan, 64, 64, 0.8, 2); return err }, nil, "finite"},
		{"points: empty image", func() error { _, err := surgery.SimilarityMapToPoints(col, 0, 64, 0.8, 2); return err }, nil, ""},
		{"combined: no targets", func() error {
			_, err := surgery.CombinedTargetPoints(surgery.NewMatrix(16, 0), 64, 64, 0.8)
			return err
		}, nil, ""},
		{"combined: t = 2", func() error { _, err := surgery.CombinedTargetPoints(patches, 64, 64, 2); return err }, nil, "(0, 1]"},
		{"combined map: non-square", func() error { _, err := surgery.CombinedTargetMap(mat(15, 2, ramp), 10, 10); return err }, nil, ""},
		{"overlay: short image", func() error { _, err := surgery.Overlay(rgb[:10], 4, 5, m); return err }, nil, ""},
		{"overlay: short map", func() error { _, err := surgery.Overlay(rgb, 4, 5, m[:3]); return err }, nil, ""},
		{"overlay: negative size", func() error { _, err := surgery.Overlay(nil, -4, 5, nil); return err }, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := noPanic(t, tc.run)
			if strings.HasSuffix(tc.name, "is fine") {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "surgery") {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			t.Logf("%.200s", err)
		})
	}
}

// TestBadWritePNG: a failed write leaves neither the target nor a temporary file behind.
func TestBadWritePNG(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, path string
		rgb        []uint8
		h, w       int
	}{
		{"missing folder", filepath.Join(dir, "no", "such", "dir", "x.png"), make([]uint8, 12), 2, 2},
		{"short pixels", filepath.Join(dir, "short.png"), make([]uint8, 11), 2, 2},
		{"zero size", filepath.Join(dir, "zero.png"), nil, 0, 0},
		{"folder as target", dir, make([]uint8, 12), 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := noPanic(t, func() error { return surgery.WritePNG(tc.path, tc.rgb, tc.h, tc.w) })
			if err == nil {
				t.Fatal("no error")
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 0 {
				names := []string{}
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("left behind: %v", names)
			}
			t.Log(err)
		})
	}
}
