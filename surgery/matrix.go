package surgery

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
)

// Matrix is a row-major float32 matrix: features [N, C], text features [K, C], similarities [N, K].
// Element (r, c) is Data[r*Cols+c].
type Matrix struct {
	Rows, Cols int
	Data       []float32
}

// FeatureMatrix views model features (clip.Features: image tokens [1, N, C] of one image, text
// features [K, C]) as the matrix of their rows [N or K, C], without copying: the one conversion
// from the models' host arrays to surgery's.
func FeatureMatrix(f *clip.Features) Matrix {
	cols := f.Shape[len(f.Shape)-1]
	return Matrix{Rows: len(f.Data) / max(cols, 1), Cols: cols, Data: f.Data}
}

// NewMatrix allocates a zero rows×cols matrix.
func NewMatrix(rows, cols int) Matrix {
	return Matrix{Rows: rows, Cols: cols, Data: make([]float32, rows*cols)}
}

// Row returns row r as a sub-slice (no copy).
func (m Matrix) Row(r int) []float32 { return m.Data[r*m.Cols : (r+1)*m.Cols] }

// At returns element (r, c).
func (m Matrix) At(r, c int) float32 { return m.Data[r*m.Cols+c] }

// Column returns a copy of column c.
func (m Matrix) Column(c int) []float32 {
	out := make([]float32, m.Rows)
	for r := range out {
		out[r] = m.Data[r*m.Cols+c]
	}
	return out
}

// check reports a Matrix whose Data does not match its shape: every public function checks its
// inputs, so a malformed Matrix gives an error instead of an index panic deep in a loop.
func (m Matrix) check(name string) error {
	if m.Rows < 0 || m.Cols < 0 || len(m.Data) != m.Rows*m.Cols {
		return fmt.Errorf("surgery: %s: %d×%d matrix with %d values", name, m.Rows, m.Cols, len(m.Data))
	}
	return nil
}

// Normalize divides every row by its L2 norm: demo.py's `image_features /= image_features.norm(dim=-1)`
// (also used for text features). The sum of squares is accumulated in float64 and the norm rounded to
// float32 before the float32 division, which matches PyTorch's float32 result to an ulp.
// A zero row stays zero (PyTorch would produce NaN from 0/0; a NaN row would poison every min-max
// afterwards, and a zero feature carries no direction anyway). Malformed matrices panic.
func Normalize(m Matrix) Matrix {
	if err := m.check("Normalize"); err != nil {
		panic(err)
	}
	out := NewMatrix(m.Rows, m.Cols)
	for r := 0; r < m.Rows; r++ {
		src, dst := m.Row(r), out.Row(r)
		var ss float64
		for _, v := range src {
			ss += float64(v) * float64(v)
		}
		if ss == 0 {
			continue
		}
		n := float32(math.Sqrt(ss))
		for i, v := range src {
			dst[i] = v / n
		}
	}
	return out
}

// RawSimilarity is the original CLIP similarity img @ text^T ([N, C] × [K, C] → [N, K]); demo.py
// uses it for the "raw CLIP" maps that the paper contrasts with feature surgery. Panics on a channel
// mismatch or malformed input (programming errors).
func RawSimilarity(img, text Matrix) Matrix {
	if err := img.check("RawSimilarity img"); err != nil {
		panic(err)
	}
	if err := text.check("RawSimilarity text"); err != nil {
		panic(err)
	}
	if img.Cols != text.Cols {
		panic(fmt.Errorf("surgery: RawSimilarity: image has %d channels, text %d", img.Cols, text.Cols))
	}
	out := NewMatrix(img.Rows, text.Rows)
	parallelRows(img.Rows, func(lo, hi int) {
		for n := lo; n < hi; n++ {
			f, o := img.Row(n), out.Row(n)
			for k := range o {
				o[k] = float32(dot64(f, text.Row(k)))
			}
		}
	})
	return out
}

// dot64Generic is the dot product of two float32 vectors accumulated in float64 (the float32
// products are exact in float64) with four independent accumulators. Accumulating in double makes
// our similarities the correctly rounded value of the formula; PyTorch's float32 sums then differ
// from ours only by their own rounding (~1e-7 on unit vectors), which is as close as an
// implementation that does not replay PyTorch's BLAS and SIMD summation order can get.
func dot64Generic(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += float64(a[i]) * float64(b[i])
		s1 += float64(a[i+1]) * float64(b[i+1])
		s2 += float64(a[i+2]) * float64(b[i+2])
		s3 += float64(a[i+3]) * float64(b[i+3])
	}
	for ; i < len(a); i++ {
		s0 += float64(a[i]) * float64(b[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// parallelRows splits [0, n) into contiguous chunks, one per CPU, and runs fn on each. Small inputs
// run inline: a goroutine costs more than a few rows of work.
func parallelRows(n int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 || n < 16 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
