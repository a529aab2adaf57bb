//go:build !(goexperiment.simd && amd64)

package surgery

// Without GOEXPERIMENT=simd on amd64 the pure-Go kernels run; they give the same bits for the
// maps (correctly rounded FMA emulation) and results equal to double rounding for the dot products.

func lerpVecRow(a, b, c, d, lx0, lx1 []float32, ly0, ly1 float32, out []float32) {
	lerpVecRowGeneric(a, b, c, d, lx0, lx1, ly0, ly1, out)
}

func lerpTailRow(a, b, c, d, lx0, lx1 []float32, ly0, ly1 float32, out []float32) {
	lerpTailRowGeneric(a, b, c, d, lx0, lx1, ly0, ly1, out)
}

func dot64(a, b []float32) float64 { return dot64Generic(a, b) }
