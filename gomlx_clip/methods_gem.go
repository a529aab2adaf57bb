package clip

import (
	"cmp"
	"fmt"
	"math"

	"github.com/clipsurgery/clipsurgery/internal/bicubic"
	. "github.com/gomlx/gomlx/core/graph"
)

// GEM, the Grounding Everything Module, as a method of the method table: a second path over
// the last blocks beside the original one, like CLIP Surgery's, whose attention is the
// iterated self-self attention of q, k and v ensembled. It is a method, not a modifier: it
// replaces the blocks' new path wholesale and is an explainability method beside CLIP Surgery.
// Read from WalBouss/GEM gem/gem_utils.py (SelfSelfAttention, GEMResidualBlock,
// modified_vit_forward, resample_abs_pos_embed) and gem/gem_wrapper.py (GEMWrapper.apply_gem)
// at commit 5fa677ca1dcf10d39ceceadacf3e3cff414d7c27.

// GEMOptions tune MethodGEM (ignored otherwise); ImageOptions.Depth is its number of blocks
// (gem_depth − 1; 0 = 6, the authors' gem_depth 7).
type GEMOptions struct {
	// Iterations of the self-self attention before the final one (ss_attn_iter; 0 = 1).
	Iterations int
	// Temperature multiplies the cosine similarities of the self-self attention (ss_attn_temp,
	// which the authors use as an inverse temperature); 0 = adaptive, as the authors' default:
	// per image and block, the mean L2 norm of the block's ln_1 tokens times 1/√d.
	Temperature float64
}

// DefaultGEMIterations is GEM's ss_attn_iter.
const DefaultGEMIterations = 1

// settleGEM keeps the path's depth, the iterations and the temperature, with their defaults.
func settleGEM(o, s ImageOptions) ImageOptions {
	s.Depth = cmp.Or(o.Depth, DefaultSurgeryDepth)
	s.GEM = GEMOptions{Iterations: cmp.Or(o.GEM.Iterations, DefaultGEMIterations), Temperature: o.GEM.Temperature}
	return s
}

// validateGEM refuses negative iterations and a negative or non-finite temperature.
func validateGEM(o GEMOptions) error {
	if o.Iterations < 0 || o.Iterations > 100 {
		return fmt.Errorf("clip: gem iterations %d: want 0..100 (0 = %d)", o.Iterations, DefaultGEMIterations)
	}
	if t := o.Temperature; t < 0 || math.IsNaN(t) || math.IsInf(t, 0) {
		return fmt.Errorf("clip: gem temperature %v must be positive and finite (0 = adaptive)", t)
	}
	return nil
}

// gemTail is GEM's two paths over the blocks from t.first on: the original blocks, and the GEM
// path that accumulates GEMAttention through each block's out_proj without FFN. Every token of
// the output is the GEM path's (modified_vit_forward returns x_gem, class token included); the
// original path's last block is not needed.
func gemTail(x *Node, t vitTail) *Node {
	xGem, xOri := x, x
	for i := t.first; i < t.layers; i++ {
		prefix := visualBlock(i)
		h := LayerNorm(xOri, t.p, prefix+".ln_1", t.tower.Eps)
		q, k, v := SplitQKVHeads(h, t.p, prefix+".attn", t.tower.Heads)
		xGem = Add(xGem, Linear(GEMAttention(q, k, v, h, t.opt.GEM), t.p, prefix+".attn.out_proj"))
		if i < t.layers-1 {
			xOri = FinishBlock(xOri, AttendHeads(q, k, v, false, nil, t.tower.Budget), t.p, prefix, t.tower)
		}
	}
	return xGem
}

// GEMAttention is SelfSelfAttention's GEM output for heads-major q, k, v of the block input h
// [B, N, W]: for each of v, k and q, Iterations times x ← softmax(τ·x̂ x̂ᵀ) x̂ (x̂ = x/‖x‖ per
// token and head), then the weights softmax(τ·x̂ x̂ᵀ) of the result applied to v; the three
// outputs averaged (v, k, q in that order), heads merged, [B, N, W]. τ is o.Temperature or, at
// 0, mean_n ‖h_n‖ / √d per image.
func GEMAttention(q, k, v, h *Node, o GEMOptions) *Node {
	d := q.Shape().Dimensions[3]
	var temp *Node
	if o.Temperature == 0 {
		norms := Sqrt(ReduceSum(Square(h), -1)) // [B, N]
		temp = MulScalar(Reshape(ReduceMean(norms, -1), -1, 1, 1, 1), float32(1/math.Sqrt(float64(d))))
	} else {
		temp = Scalar(q.Graph(), q.DType(), o.Temperature)
	}
	weights := func(x *Node) *Node {
		x = l2Normalize(x)
		return Softmax(Mul(Einsum("bhqd,bhkd->bhqk", x, x), temp), -1)
	}
	var sum *Node
	for _, x := range []*Node{v, k, q} {
		for range o.Iterations {
			x = Einsum("bhqk,bhkd->bhqd", weights(x), l2Normalize(x))
		}
		out := Einsum("bhqk,bhkd->bhqd", weights(x), v)
		if sum == nil {
			sum = out
		} else {
			sum = Add(sum, out)
		}
	}
	return MergeHeads(DivScalar(sum, 3))
}

// l2Normalize is F.normalize over the last axis: x / max(‖x‖, 1e-12).
func l2Normalize(x *Node) *Node {
	return Div(x, MaxScalar(Sqrt(ReduceAndKeep(Square(x), ReduceSum, -1)), float32(1e-12)))
}

// ResizePositionalEmbeddingAntialiased is GEM's resample_abs_pos_embed: F.interpolate(size=grid,
// mode='bicubic', antialias=True, align_corners=False), PyTorch's antialiased bicubic
// (bicubic.AntialiasMatrix).
func ResizePositionalEmbeddingAntialiased(pos *Node, native, gh, gw int) *Node {
	return resizeGrid(pos, native, gh, gw, bicubic.AntialiasMatrix(native, gh, 0), bicubic.AntialiasMatrix(native, gw, 0))
}
