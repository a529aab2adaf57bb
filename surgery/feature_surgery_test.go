package surgery

import (
	"errors"
	"math"
	"testing"
)

// featureCases are the stored surgery runs: image_features_norm + text_features_all59 →
// similarity_all59 and feature_surgery_w (vit32 is kept back from this folder).
var featureCases = []string{"vit16/surgery/demo_224", "vit16/surgery/demo_512", "rn/surgery/demo_224", "rn/surgery/demo_512"}

func TestFeatureSurgeryGolden(t *testing.T) {
	text := loadMatrix(t, "text/text_features_all59.f32.npy")
	for _, c := range featureCases {
		t.Run(c, func(t *testing.T) {
			img := loadMatrix(t, c+"/image_features_norm.f32.npy")
			sim, w, err := FeatureSurgery(img, text, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sim.Rows != img.Rows || sim.Cols != text.Rows {
				t.Fatalf("sim is %d×%d", sim.Rows, sim.Cols)
			}
			wantW := loadF32(t, c+"/feature_surgery_w.f32.npy")
			// w = p/mean(p) is O(1..K); compare relatively.
			for k := range w {
				if d := math.Abs(float64(w[k]-wantW[k])) / max(1, math.Abs(float64(wantW[k]))); d > 1e-5 {
					t.Errorf("w[%d] = %v, want %v", k, w[k], wantW[k])
				}
			}
			want := loadF32(t, c+"/similarity_all59.f32.npy")
			// The algebraic form must stay within 1e-6 of the reference order (contract 1e-5).
			d := assertClose(t, "similarity", sim.Data, want, 1e-6)
			t.Logf("max |sim - golden| = %.2g", d)
			// And the literal reference order, with the golden w, for comparison.
			ref := featureSurgeryReference(img, text, wantW)
			t.Logf("reference order: max |sim - golden| = %.2g", maxAbsDiff(ref.Data, want))
		})
	}
}

// TestNormalizeGolden: raw / ||raw|| of the encoder output.
func TestNormalizeGolden(t *testing.T) {
	for _, c := range append(featureCases, "vit16/clip/demo_224", "rn/clip/demo_224") {
		raw := loadMatrix(t, c+"/image_features_raw.f32.npy")
		want := loadF32(t, c+"/image_features_norm.f32.npy")
		assertClose(t, c, Normalize(raw).Data, want, 1e-6)
	}
	z := Normalize(Matrix{Rows: 2, Cols: 2, Data: []float32{0, 0, 3, 4}})
	if z.Data[0] != 0 || z.Data[1] != 0 || z.Data[2] != 0.6 || z.Data[3] != 0.8 {
		t.Errorf("Normalize zero row / 3-4-5: %v", z.Data)
	}
}

// TestRawSimilarityGolden: the original CLIP similarity norm @ T^T, and its maps' grid.
func TestRawSimilarityGolden(t *testing.T) {
	text := loadMatrix(t, "text/text_features_all59.f32.npy")
	for _, c := range []string{"vit16/clip/demo_224", "rn/clip/demo_224"} {
		img := loadMatrix(t, c+"/image_features_norm.f32.npy")
		want := loadF32(t, c+"/features_all59.f32.npy")
		sim := RawSimilarity(img, text)
		assertClose(t, c, sim.Data, want, 1e-6)
		if c != "vit16/clip/demo_224" {
			continue
		}
		grids := loadF32(t, c+"/simgrid_minmax_targets.f32.npy")
		for j, k := range targetIdx {
			g, side, err := SimilarityGrid(sim, k)
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, c+" grid "+targetNames[j], g, grids[j*side*side:(j+1)*side*side], 1e-5)
		}
	}
}

// TestFeatureSurgeryRedundant: demo.py's single-class surgery with the "" ensemble as redundant
// features (shoes, bench) and the two-target one (person+bench).
func TestFeatureSurgeryRedundant(t *testing.T) {
	img := loadMatrix(t, "vit16/surgery/demo_512/image_features_norm.f32.npy")
	red := loadMatrix(t, "text/redundant_empty.f32.npy")
	for _, tc := range []struct{ text, want string }{
		{"text/text_features_shoes.f32.npy", "vit16/surgery/demo_512_shoes/similarity.f32.npy"},
		{"text/text_features_bench.f32.npy", "vit16/surgery/demo_512_bench_single/similarity.f32.npy"},
	} {
		sim, w, err := FeatureSurgery(img, loadMatrix(t, tc.text), &red)
		if err != nil {
			t.Fatal(err)
		}
		if w != nil {
			t.Errorf("w = %v with redundant features, want nil", w)
		}
		assertClose(t, tc.want, sim.Data, loadF32(t, tc.want), 1e-5)
	}
	sim, _, err := FeatureSurgery(img, loadMatrix(t, "text/text_features_person_bench.f32.npy"), &red)
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "person_plus_bench sm", dropClassToken(sim).Data, loadF32(t, "vit16/surgery/demo_512_person_plus_bench/sm.f32.npy"), 1e-5)
}

func TestFeatureSurgeryErrors(t *testing.T) {
	img := NewMatrix(5, 4)
	if _, _, err := FeatureSurgery(img, NewMatrix(0, 4), nil); err == nil {
		t.Error("K=0 accepted")
	}
	if _, _, err := FeatureSurgery(img, NewMatrix(1, 4), nil); !errors.Is(err, ErrSingleClass) {
		t.Errorf("K=1 without redundant: %v, want ErrSingleClass", err)
	}
	red := NewMatrix(1, 4)
	if _, _, err := FeatureSurgery(img, NewMatrix(1, 4), &red); err != nil {
		t.Errorf("K=1 with redundant: %v", err)
	}
	if _, _, err := FeatureSurgery(img, NewMatrix(3, 5), nil); err == nil {
		t.Error("channel mismatch accepted")
	}
	bad := NewMatrix(2, 4)
	if _, _, err := FeatureSurgery(img, NewMatrix(3, 4), &bad); err == nil {
		t.Error("[2,C] redundant accepted")
	}
	if _, _, err := FeatureSurgery(Matrix{Rows: 5, Cols: 4, Data: make([]float32, 3)}, NewMatrix(3, 4), nil); err == nil {
		t.Error("malformed matrix accepted")
	}
}
