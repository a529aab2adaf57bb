package surgery

import (
	"errors"
	"fmt"
	"math"

	"github.com/clipsurgery/clipsurgery/internal/bilinear"
)

// SimilarityGrid returns the min-max normalised map of one class over the patch tokens, as a
// side×side row-major grid (the internal step of the reference's get_similarity_map before the
// bilinear resize). sim is [N, K] with token 0 = class token, which is dropped; side = sqrt(N−1).
//
// min-max is (s − min) / (max − min) in float32 like the reference. Deviation: a constant column
// (max == min) gives zeros instead of the reference's NaN (0/0), so a class without contrast draws
// as all-blue instead of garbage. Errors: class out of range, N−1 not a positive square, non-finite
// similarities.
func SimilarityGrid(sim Matrix, class int) (grid []float32, side int, err error) {
	side, err = gridSide(sim)
	if err != nil {
		return nil, 0, err
	}
	if class < 0 || class >= sim.Cols {
		return nil, 0, fmt.Errorf("surgery: class %d out of range [0, %d)", class, sim.Cols)
	}
	grid = make([]float32, side*side)
	for i := range grid {
		grid[i] = sim.Data[(i+1)*sim.Cols+class]
	}
	if err := minMaxInPlace(grid); err != nil {
		return nil, 0, fmt.Errorf("surgery: class %d: %w", class, err)
	}
	return grid, side, nil
}

// gridSide checks sim and returns the side of its square patch grid.
func gridSide(sim Matrix) (int, error) {
	if err := sim.check("similarity"); err != nil {
		return 0, err
	}
	side, ok := squareSide(sim.Rows - 1)
	if !ok {
		return 0, fmt.Errorf("surgery: similarity has %d tokens: expected 1 class token + a square number of patches", sim.Rows)
	}
	return side, nil
}

// squareSide returns sqrt(n) when n is a positive perfect square.
func squareSide(n int) (int, bool) {
	if n <= 0 {
		return 0, false
	}
	s := int(math.Sqrt(float64(n)))
	for s*s > n {
		s--
	}
	for (s+1)*(s+1) <= n {
		s++
	}
	return s, s*s == n
}

var errNonFinite = errors.New("non-finite similarity value")

// MinMaxNormalize maps v to (v − min) / (max − min) in place, in float32 (constant input →
// zeros), the min-max every map of the package gets; a NaN or ±Inf is an error.
func MinMaxNormalize(v []float32) error { return minMaxInPlace(v) }

// minMaxInPlace maps v to (v − min) / (max − min) in float32 (constant input → zeros).
func minMaxInPlace(v []float32) error {
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, x := range v {
		if x != x || math.IsInf(float64(x), 0) {
			return errNonFinite
		}
		lo, hi = min(lo, x), max(hi, x)
	}
	den := hi - lo
	if den == 0 {
		clear(v)
		return nil
	}
	for i, x := range v {
		v[i] = (x - lo) / den
	}
	return nil
}

// SimilarityMap is the reference's get_similarity_map for the requested classes: per class, min-max
// over the patch tokens (SimilarityGrid), then PyTorch's bilinear resize (align_corners=false, see
// bilinear.go) to h×w, the ORIGINAL image size in demo.py. It returns one row-major h×w slice per
// requested class, in the order of classes. The values are bit-identical to PyTorch 1.13 on CPU.
//
// Only the requested classes are resized (the reference resizes all K and then picks): at 480×640 a
// full 59-class map is 72 MB that the demo mostly ignores. The work is split over CPUs by class
// and by band of rows.
func SimilarityMap(sim Matrix, classes []int, h, w int) ([][]float32, error) {
	return similarityMap(sim, classes, h, w, simdKernels)
}

// rowKernel writes one output row from the gathered source rows a, b (row y0 at x0, x1) and c, d
// (row y1 at x0, x1).
type rowKernel func(a, b, c, d, lx0, lx1 []float32, ly0, ly1 float32, out []float32)

// mapKernels are the two PyTorch formulas (vector part, scalar tail); the tests run the pure-Go
// pair on the goldens too.
type mapKernels struct{ vec, tail rowKernel }

var (
	simdKernels    = mapKernels{lerpVecRow, lerpTailRow}
	genericKernels = mapKernels{lerpVecRowGeneric, lerpTailRowGeneric}
)

func similarityMap(sim Matrix, classes []int, h, w int, k mapKernels) ([][]float32, error) {
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("surgery: map size %d×%d", h, w)
	}
	grids := make([][]float32, len(classes))
	side := 0
	for i, c := range classes {
		g, s, err := SimilarityGrid(sim, c)
		if err != nil {
			return nil, err
		}
		grids[i], side = g, s
	}
	out := make([][]float32, len(classes))
	if len(classes) == 0 {
		return out, nil
	}
	// PyTorch resizes the K channels of the channels-last map together; which formula a channel
	// gets depends on its index among all K (vector part or scalar tail), not on the selection.
	vecEnd := sim.Cols - sim.Cols%torchVecWidth
	ys, xs := bilinear.Taps(side, h), bilinear.Taps(side, w)
	lx0, lx1 := make([]float32, w), make([]float32, w)
	for x, t := range xs {
		lx0[x], lx1[x] = t.L0, t.L1
	}
	// Gather every source row at the x0 and x1 of every output column once per class, so that
	// each output row is four contiguous slices (vectorisable) instead of per-pixel gathers.
	g0 := make([][]float32, len(classes))
	g1 := make([][]float32, len(classes))
	parallelFor(len(classes), func(i int) {
		g0[i], g1[i] = make([]float32, side*w), make([]float32, side*w)
		for r := 0; r < side; r++ {
			row := grids[i][r*side : (r+1)*side]
			for x, t := range xs {
				g0[i][r*w+x], g1[i][r*w+x] = row[t.I0], row[t.I1]
			}
		}
	})
	buf := make([]float32, len(classes)*h*w)
	for i := range out {
		out[i] = buf[i*h*w : (i+1)*h*w : (i+1)*h*w]
	}
	const band = 32 // rows per work item: enough work to amortise scheduling, enough items to balance
	bands := (h + band - 1) / band
	parallelFor(len(classes)*bands, func(job int) {
		i, b := job/bands, job%bands
		lerp := k.vec
		if classes[i] >= vecEnd {
			lerp = k.tail
		}
		for y := b * band; y < min((b+1)*band, h); y++ {
			t := ys[y]
			r0, r1 := t.I0*w, t.I1*w
			lerp(g0[i][r0:r0+w], g1[i][r0:r0+w], g0[i][r1:r1+w], g1[i][r1:r1+w], lx0, lx1, t.L0, t.L1, out[i][y*w:(y+1)*w])
		}
	})
	return out, nil
}
