package modelkit

import "testing"

// BenchmarkTransposeRows times the dense-weight transpose on ViT-B/16's MLP shape into a
// destination already in memory (no page faults).
func BenchmarkTransposeRows(b *testing.B) {
	rows, cols := 3072, 768
	src, dst := make([]float32, rows*cols), make([]float32, rows*cols)
	for i := range src {
		src[i] = float32(i)
	}
	b.SetBytes(int64(4 * len(src)))
	for b.Loop() {
		transposeRows(dst, src, rows, cols, 0)
	}
}

// BenchmarkTransposeRowsFresh is BenchmarkTransposeRows into newly allocated memory, as when
// loading a checkpoint.
func BenchmarkTransposeRowsFresh(b *testing.B) {
	rows, cols := 3072, 768
	src := make([]float32, rows*cols)
	b.SetBytes(int64(4 * len(src)))
	for b.Loop() {
		transposeRows(make([]float32, rows*cols), src, rows, cols, 0)
	}
}
