package surgery

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"
)

// Point is a SAM point prompt on the original image: (X, Y) pixel coordinates and its Label
// (1 positive, 0 negative). It is sam.Point too, so points go from Explain to SAM as they are.
type Point = modelkit.Point

// SimilarityMapToPoints is the reference's similarity_map_to_points: it turns one class's patch
// similarities sm (N−1 values, row-major side×side; raw or normalised, it is min-maxed here) into
// point prompts for SAM on an h×w image.
//
//  1. bilinear resize side×side → ds×ds with ds = side / downSample (PyTorch's contiguous NCHW
//     kernel, bit-exact; smooths the map);
//  2. flatten row-major and min-max normalise;
//  3. rank = indices sorted by ascending value; num = min(#(v ≥ t), ds·ds / 2);
//  4. positives = the last num of rank (ascending: the best point is the LAST positive),
//     negatives = the first num (lowest first);
//  5. index i → x = min((i mod ds + 0.5)·float32(w/ds), w−1), y likewise with i div ds and h,
//     in float32, truncated to int.
//
// The result holds the num positives (label 1) then the num negatives (label 0).
// The reference sorts with torch.sort, which is not stable; the stored maps have no ties. Here
// ties keep index order (stable sort), so equal values give the lower index first.
//
// Errors: t outside (0, 1] (t > 1 selects nothing, and the reference then returns every index as
// a positive with no labels: rank[-0:] is the whole list), downSample < 1, a non-square or too
// small map (ds·ds < 2 gives no point), non-finite values, and a constant map (0/0 in the
// reference).
func SimilarityMapToPoints(sm []float32, h, w int, t float32, downSample int) ([]Point, error) {
	v, ds, err := downNorm(sm, downSample)
	if err != nil {
		return nil, err
	}
	if !(t > 0 && t <= 1) {
		return nil, fmt.Errorf("surgery: threshold t=%v must be in (0, 1]", t)
	}
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("surgery: image size %d×%d", h, w)
	}
	rank := make([]int, len(v))
	for i := range rank {
		rank[i] = i
	}
	sort.SliceStable(rank, func(a, b int) bool { return v[rank[a]] < v[rank[b]] })
	above := 0
	for _, x := range v {
		if x >= t {
			above++
		}
	}
	num := min(above, len(v)/2)
	scaleW := float32(float64(w) / float64(ds))
	scaleH := float32(float64(h) / float64(ds))
	point := func(i, label int) Point {
		x := float32(float32(i%ds)+0.5) * scaleW
		y := float32(float32(i/ds)+0.5) * scaleH
		return Point{X: float64(min(int(x), w-1)), Y: float64(min(int(y), h-1)), Label: label}
	}
	points := make([]Point, 0, 2*num)
	for _, i := range rank[len(rank)-num:] {
		points = append(points, point(i, 1))
	}
	for _, i := range rank[:num] {
		points = append(points, point(i, 0))
	}
	return points, nil
}

// downNorm is steps 1–2 of SimilarityMapToPoints: the ds×ds down-sampled, min-max normalised map
// (the goldens' points_*_downnorm).
func downNorm(sm []float32, downSample int) ([]float32, int, error) {
	if downSample < 1 {
		return nil, 0, fmt.Errorf("surgery: downSample %d must be >= 1", downSample)
	}
	side, ok := squareSide(len(sm))
	if !ok {
		return nil, 0, fmt.Errorf("surgery: %d patch values do not form a square grid", len(sm))
	}
	ds := side / downSample
	if ds*ds < 2 {
		return nil, 0, fmt.Errorf("surgery: %d×%d grid down-sampled by %d leaves %d cells, too few for a point pair", side, side, downSample, ds*ds)
	}
	for _, x := range sm {
		if x != x || math.IsInf(float64(x), 0) {
			return nil, 0, errors.New("surgery: " + errNonFinite.Error())
		}
	}
	v := resizeNCHW(sm, side, side, ds, ds)
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	if hi == lo {
		return nil, 0, errors.New("surgery: constant similarity map: no point can be ranked")
	}
	if err := minMaxInPlace(v); err != nil {
		return nil, 0, err
	}
	return v, ds, nil
}

// CombinedTargetPoints is demo.py's multi-target prompt ("person" + "bench"): sm is [N−1, K], the
// patch similarities of the K targets (e.g. feature surgery with redundant features, class token
// dropped). Negatives come from the mean of the per-column min-max maps (points where no target is),
// positives from each target's own map:
//
//	sm_mean = mean_k minmax_column(sm)            (float32, sum then /K as torch.mean)
//	points  = negatives(sm_mean) + positives(sm[:,0]) + … + positives(sm[:,K−1])
//
// all with SimilarityMapToPoints(·, h, w, t, 2), so the labels are zeros, then ones per target.
// Errors as SimilarityMapToPoints, plus K == 0; a constant target column is an error (the
// reference would produce NaN).
func CombinedTargetPoints(sm Matrix, h, w int, t float32) ([]Point, error) {
	mean, err := normalizedColumnMean(sm)
	if err != nil {
		return nil, err
	}
	p, err := SimilarityMapToPoints(mean, h, w, t, 2)
	if err != nil {
		return nil, fmt.Errorf("surgery: mean map: %w", err)
	}
	points := append([]Point(nil), p[len(p)/2:]...)
	for k := 0; k < sm.Cols; k++ {
		p, err := SimilarityMapToPoints(sm.Column(k), h, w, t, 2)
		if err != nil {
			return nil, fmt.Errorf("surgery: target %d: %w", k, err)
		}
		points = append(points, p[:len(p)/2]...)
	}
	return points, nil
}

// normalizedColumnMean min-maxes every column of sm and averages them per row.
func normalizedColumnMean(sm Matrix) ([]float32, error) {
	if err := sm.check("CombinedTargetPoints sm"); err != nil {
		return nil, err
	}
	if sm.Cols == 0 || sm.Rows == 0 {
		return nil, errors.New("surgery: CombinedTargetPoints needs at least one target and one patch")
	}
	sum := make([]float32, sm.Rows)
	for k := 0; k < sm.Cols; k++ {
		col := sm.Column(k)
		if err := minMaxInPlace(col); err != nil {
			return nil, fmt.Errorf("surgery: target %d: %w", k, err)
		}
		for i, v := range col {
			sum[i] += v
		}
	}
	for i := range sum {
		sum[i] /= float32(sm.Cols)
	}
	return sum, nil
}
