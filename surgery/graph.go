package surgery

import (
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// FeatureSurgeryGraph is FeatureSurgery inside a GoMLX graph, batched, for research code.
//
// img is [B, N, C] (normalised tokens, token 0 = class token), text [K, C]; redundant is [1, C] or
// nil. The result is [B, N, K]:
//
//   - redundant != nil: sim = img @ (text − redundant)^T;
//   - redundant == nil: w = softmax(2·img[:,0]·T^T) / mean(...) per image, and
//     sim[b,n,k] = s − mean_k s with s = w_k·(img[b,n]·T_k) (the algebraic form of the reference's
//     Σ_c(e − mean_k e), see FeatureSurgery).
//
// As every graph builder, it panics on invalid shapes (K == 1 without redundant features, channel
// mismatch); graph.Exec turns the panic into an error.
func FeatureSurgeryGraph(img, text, redundant *graph.Node) *graph.Node {
	if img.Rank() != 3 || text.Rank() != 2 || img.Shape().Dimensions[2] != text.Shape().Dimensions[1] {
		exceptions.Panicf("FeatureSurgeryGraph: img must be [B,N,C] and text [K,C], got %s and %s", img.Shape(), text.Shape())
	}
	K, C := text.Shape().Dimensions[0], text.Shape().Dimensions[1]
	if redundant != nil {
		if redundant.Rank() != 2 || redundant.Shape().Dimensions[0] != 1 || redundant.Shape().Dimensions[1] != C {
			exceptions.Panicf("FeatureSurgeryGraph: redundant must be [1,%d], got %s", C, redundant.Shape())
		}
		return graph.Einsum("bnc,kc->bnk", img, graph.Sub(text, graph.BroadcastToDims(redundant, K, C)))
	}
	if K < 2 {
		exceptions.Panicf("FeatureSurgeryGraph: %v", ErrSingleClass)
	}
	cls := graph.Slice(img, graph.AxisRange(), graph.AxisRange(0, 1)) // [B,1,C]
	p := graph.Softmax(graph.MulScalar(graph.Einsum("bnc,kc->bnk", cls, text), 2), -1)
	w := graph.Div(p, graph.ReduceAndKeep(p, graph.ReduceMean, -1)) // [B,1,K]
	s := graph.Mul(graph.Einsum("bnc,kc->bnk", img, text), w)       // [B,N,K]
	return graph.Sub(s, graph.ReduceAndKeep(s, graph.ReduceMean, -1))
}

// SimilarityGridGraph is SimilarityGrid for all classes at once: sim [B, N, K] (token 0 = class
// token) → [B, K, side, side], each class min-max normalised over its N−1 patch tokens (a constant
// class gives zeros, as SimilarityGrid). Panics when N−1 is not a square.
func SimilarityGridGraph(sim *graph.Node) *graph.Node {
	if sim.Rank() != 3 {
		exceptions.Panicf("SimilarityGridGraph: sim must be [B,N,K], got %s", sim.Shape())
	}
	dims := sim.Shape().Dimensions
	B, N, K := dims[0], dims[1], dims[2]
	side, ok := squareSide(N - 1)
	if !ok {
		exceptions.Panicf("SimilarityGridGraph: %d tokens is not 1 + a square number of patches", N)
	}
	patches := graph.Slice(sim, graph.AxisRange(), graph.AxisRangeToEnd(1)) // [B,N-1,K]
	lo := graph.ReduceAndKeep(patches, graph.ReduceMin, 1)
	den := graph.Sub(graph.ReduceAndKeep(patches, graph.ReduceMax, 1), lo)
	zero := graph.ZerosLike(den)
	safe := graph.Where(graph.Equal(den, zero), graph.OnesLike(den), den)
	norm := graph.Where(graph.Equal(den, zero), graph.ZerosLike(patches), graph.Div(graph.Sub(patches, lo), safe))
	return graph.Reshape(graph.TransposeAllDims(norm, 0, 2, 1), B, K, side, side)
}
