package surgery

import (
	"fmt"
	"slices"
	"testing"
)

// pointCases hold points for the four targets at t = 0.8 (vit32 is kept back).
var pointCases = []string{"vit16/surgery/demo_224", "vit16/surgery/demo_512", "rn/surgery/demo_224"}

// checkPoints compares points with the stored points [2*num, 2] (x, y) and labels exactly.
func checkPoints(t *testing.T, name string, points []Point, wantP []int32, wantL []uint8) {
	t.Helper()
	if len(points)*2 != len(wantP) || len(points) != len(wantL) {
		t.Errorf("%s: %d points, want %d points / %d labels", name, len(points), len(wantP)/2, len(wantL))
		return
	}
	for i, p := range points {
		if p.X != float64(wantP[2*i]) || p.Y != float64(wantP[2*i+1]) || p.Label != int(wantL[i]) {
			t.Errorf("%s: point %d = %+v, want (%d,%d) label %d", name, i, p, wantP[2*i], wantP[2*i+1], wantL[i])
			return
		}
	}
}

func TestSimilarityMapToPointsGolden(t *testing.T) {
	for _, c := range pointCases {
		sim := loadMatrix(t, c+"/similarity_all59.f32.npy")
		for j, k := range targetIdx {
			name := fmt.Sprintf("%s/%s", c, targetNames[j])
			sm := sim.Column(k)[1:]
			down, _, err := downNorm(sm, 2)
			if err != nil {
				t.Fatal(err)
			}
			wantDown := loadF32(t, c+"/points_"+targetNames[j]+"_downnorm.f32.npy")
			assertClose(t, name+" downnorm", down, wantDown, 1e-6)
			if n := countDiff(down, wantDown); n != 0 {
				t.Errorf("%s: downnorm not bit-identical in %d values", name, n)
			}
			p, err := SimilarityMapToPoints(sm, demoH, demoW, 0.8, 2)
			if err != nil {
				t.Fatal(err)
			}
			checkPoints(t, name, p, loadArray(t, c+"/points_"+targetNames[j]+".int32.npy").I32, loadArray(t, c+"/labels_"+targetNames[j]+".uint8.npy").U8)
		}
	}
}

// TestPointsFromOwnSurgery: the whole chain from the normalised features (not the golden
// similarity) must still give the exact points.
func TestPointsFromOwnSurgery(t *testing.T) {
	text := loadMatrix(t, "text/text_features_all59.f32.npy")
	for _, c := range pointCases {
		sim, _, err := FeatureSurgery(loadMatrix(t, c+"/image_features_norm.f32.npy"), text, nil)
		if err != nil {
			t.Fatal(err)
		}
		for j, k := range targetIdx {
			p, err := SimilarityMapToPoints(sim.Column(k)[1:], demoH, demoW, 0.8, 2)
			if err != nil {
				t.Fatal(err)
			}
			checkPoints(t, c+"/"+targetNames[j], p, loadArray(t, c+"/points_"+targetNames[j]+".int32.npy").I32, loadArray(t, c+"/labels_"+targetNames[j]+".uint8.npy").U8)
		}
	}
}

func TestBenchSinglePoints(t *testing.T) {
	const dir = "vit16/surgery/demo_512_bench_single/"
	wantP, wantL := loadArray(t, dir+"points.int32.npy").I32, loadArray(t, dir+"labels.uint8.npy").U8
	golden := loadMatrix(t, dir+"similarity.f32.npy")
	p, err := SimilarityMapToPoints(golden.Column(0)[1:], demoH, demoW, 0.8, 2)
	if err != nil {
		t.Fatal(err)
	}
	checkPoints(t, "bench_single (golden similarity)", p, wantP, wantL)

	red := loadMatrix(t, "text/redundant_empty.f32.npy")
	sim, _, err := FeatureSurgery(loadMatrix(t, "vit16/surgery/demo_512/image_features_norm.f32.npy"), loadMatrix(t, "text/text_features_bench.f32.npy"), &red)
	if err != nil {
		t.Fatal(err)
	}
	p, err = SimilarityMapToPoints(sim.Column(0)[1:], demoH, demoW, 0.8, 2)
	if err != nil {
		t.Fatal(err)
	}
	checkPoints(t, "bench_single (own surgery)", p, wantP, wantL)
}

func TestCombinedTargetPointsGolden(t *testing.T) {
	const dir = "vit16/surgery/demo_512_person_plus_bench/"
	sm := loadMatrix(t, dir+"sm.f32.npy")
	mean, err := normalizedColumnMean(sm)
	if err != nil {
		t.Fatal(err)
	}
	wantMean := loadF32(t, dir+"sm_mean.f32.npy")
	assertClose(t, "sm_mean", mean, wantMean, 1e-6)
	if n := countDiff(mean, wantMean); n != 0 {
		t.Errorf("sm_mean not bit-identical in %d values", n)
	}
	wantP, wantL := loadArray(t, dir+"points.int32.npy").I32, loadArray(t, dir+"labels.uint8.npy").U8
	p, err := CombinedTargetPoints(sm, demoH, demoW, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	checkPoints(t, "person_plus_bench (golden sm)", p, wantP, wantL)

	red := loadMatrix(t, "text/redundant_empty.f32.npy")
	sim, _, err := FeatureSurgery(loadMatrix(t, "vit16/surgery/demo_512/image_features_norm.f32.npy"), loadMatrix(t, "text/text_features_person_bench.f32.npy"), &red)
	if err != nil {
		t.Fatal(err)
	}
	p, err = CombinedTargetPoints(dropClassToken(sim), demoH, demoW, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	checkPoints(t, "person_plus_bench (own surgery)", p, wantP, wantL)
}

// TestPointsOrderAndTies pins the documented order on a hand-made map: positives ascending (best
// last), negatives lowest first, ties in index order, coordinates at cell centres.
func TestPointsOrderAndTies(t *testing.T) {
	// 4×4 grid, downSample 1 → no smoothing; values chosen with a tie (0.5 twice).
	sm := []float32{
		0, 1, 2, 3,
		4, 5, 6, 7,
		8, 9, 10, 11,
		12, 13, 14, 15,
	}
	p, err := SimilarityMapToPoints(sm, 40, 80, 0.8, 1)
	if err != nil {
		t.Fatal(err)
	}
	// normalised v = i/15; v >= 0.8 ⇔ i >= 12 → 4 positives (≤ 16/2): indices 12..15 ascending,
	// negatives 0..3. Cell (col, row) → x = (col+0.5)·20, y = (row+0.5)·10.
	var want []Point
	for i, x := range []float64{10, 30, 50, 70, 10, 30, 50, 70} {
		y, label := 35.0, 1
		if i >= 4 {
			y, label = 5, 0
		}
		want = append(want, Point{X: x, Y: y, Label: label})
	}
	if !slices.Equal(p, want) {
		t.Errorf("points %v, want %v", p, want)
	}
	tie := []float32{0, 1, 1, 0.5}
	p, err = SimilarityMapToPoints(tie, 2, 2, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	// num = min(2 values ≥ 1, 2) = 2: positives are the two 1s in index order (1 then 2).
	if fmt.Sprint(p[:2]) != "[{1 0 1} {0 1 1}]" {
		t.Errorf("tie order: %v", p)
	}
}

func TestPointsErrors(t *testing.T) {
	sm := make([]float32, 16)
	for i := range sm {
		sm[i] = float32(i)
	}
	for _, tc := range []struct {
		name string
		sm   []float32
		t    float32
		ds   int
	}{
		{"t=0", sm, 0, 2}, {"t>1", sm, 1.5, 2}, {"t NaN", sm, float32(nan()), 2},
		{"downSample 0", sm, 0.8, 0}, {"not square", sm[:15], 0.8, 2}, {"too small", sm[:4], 0.8, 2},
		{"constant", make([]float32, 16), 0.8, 2}, {"NaN", append([]float32{float32(nan())}, sm[1:]...), 0.8, 2},
	} {
		if _, err := SimilarityMapToPoints(tc.sm, 10, 10, tc.t, tc.ds); err == nil {
			t.Errorf("%s accepted", tc.name)
		}
	}
	if _, err := CombinedTargetPoints(NewMatrix(16, 0), 10, 10, 0.8); err == nil {
		t.Error("no targets accepted")
	}
}
