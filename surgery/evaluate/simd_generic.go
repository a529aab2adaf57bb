//go:build !(goexperiment.simd && amd64)

package evaluate

// clearAVXUpper is a no-op without GOEXPERIMENT=simd on amd64 (see simd_amd64.go).
func clearAVXUpper() {}

// propagateRow is PAMR's refinement step on one row: the generic loop.
func (nb *neighbours) propagateRow(dst, src []float32, weights [][]float32, y int) {
	nb.propagateRowGeneric(dst, src, weights, y)
}
