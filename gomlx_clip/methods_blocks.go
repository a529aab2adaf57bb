package clip

import (
	"fmt"
	"math"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
)

// This file holds the defining step of each method of methods.go as one graph function, and
// LastBlock, which picks the changed last block of a ViT for a method. q, k, v are heads-major
// [B, heads, N, 64] (SplitQKVHeads); attention results are heads merged, [B, N, W].

// LastBlock is the ViT's last residual block as method m changes it (m normalised: not
// MethodDefault; MethodSurgery is built by encodeViTGraph's dual path, not here). gh×gw is the
// patch grid, needed by NACLIP's neighbourhood prior; t is the ViT's Tower (heads, eps,
// activation, score budget).
func LastBlock(x *Node, p Params, prefix string, t Tower, gh, gw int, opt ImageOptions) *Node {
	switch opt.Method {
	case MethodRaw:
		return ResidualBlock(x, p, prefix, t, false)
	case MethodMaskCLIP:
		// The class token from the unchanged block (MaskCLIP's x[:, 1:] = v[:, 1:]), its row only.
		q, k, v := SplitQKVHeads(LayerNorm(x, p, prefix+".ln_1", t.Eps), p, prefix+".attn", t.Heads)
		q0 := Slice(q, AxisRange(), AxisRange(), AxisRange(0, 1))
		cls := FinishBlock(Slice(x, AxisRange(), AxisRange(0, 1)), AttendHeads(q0, k, v, false, nil, t.Budget), p, prefix, t)
		patches := Slice(ValueEmbeddingBlock(x, v, p, prefix, t), AxisRange(), AxisRangeToEnd(1))
		return Concatenate([]*Node{cls, patches}, 1)
	case MethodSCLIP:
		q, k, v := SplitQKVHeads(LayerNorm(x, p, prefix+".ln_1", t.Eps), p, prefix+".attn", t.Heads)
		return FinishBlock(x, CorrelativeSelfAttention(q, k, v, t.Budget), p, prefix, t)
	case MethodClearCLIP:
		return ClearCLIPBlock(x, p, prefix, t)
	case MethodNACLIP:
		_, k, v := SplitQKVHeads(LayerNorm(x, p, prefix+".ln_1", t.Eps), p, prefix+".attn", t.Heads)
		prior := NeighbourhoodPrior(x.Graph(), gh, gw, opt.NeighbourhoodStd)
		return Linear(NeighbourhoodAttention(k, v, prior, t.Budget), p, prefix+".attn.out_proj")
	}
	panic(fmt.Errorf("clip: LastBlock: method %q has no changed last block", string(opt.Method)))
}

// ValueEmbeddingBlock is MaskCLIP's last block: every token attends only to itself, so the
// attention output is its value embedding v: x + out_proj(v), then the block's FFN with its
// residual. v is the block's heads-major value [B, heads, N, d] of ln_1(x).
func ValueEmbeddingBlock(x, v *Node, p Params, prefix string, t Tower) *Node {
	return FinishBlock(x, MergeHeads(v), p, prefix, t)
}

// CorrelativeSelfAttention is SCLIP's attention: (softmax(q qᵀ/√d) + softmax(k kᵀ/√d)) v,
// written as the sum of the two attentions (the same by distributivity).
func CorrelativeSelfAttention(q, k, v *Node, budget int) *Node {
	return Add(AttendHeads(q, q, v, false, nil, budget), AttendHeads(k, k, v, false, nil, budget))
}

// ClearCLIPBlock is ClearCLIP's last block: out_proj(softmax(q qᵀ/√d) v) alone, without the
// residual connection and without the FFN.
func ClearCLIPBlock(x *Node, p Params, prefix string, t Tower) *Node {
	q, _, v := SplitQKVHeads(LayerNorm(x, p, prefix+".ln_1", t.Eps), p, prefix+".attn", t.Heads)
	return Linear(AttendHeads(q, q, v, false, nil, t.Budget), p, prefix+".attn.out_proj")
}

// NeighbourhoodPrior is NACLIP's Ω for a gh×gw patch grid, [1+gh·gw, 1+gh·gw]: for patch
// tokens at grid cells (y, x) and (y', x'), exp(−((y−y')² + (x−x')²) / (2σ²)); 0 in the class
// token's row and column. (NACLIP builds it by convolving one-hot maps with a (2gh−1)×(2gw−1)
// Gaussian window: the same values.)
func NeighbourhoodPrior(g *Graph, gh, gw int, std float64) *Node {
	n := gh * gw
	ys, xs := make([]float32, n), make([]float32, n)
	for i := range n {
		ys[i], xs[i] = float32(i/gw), float32(i%gw)
	}
	diff := func(c []float32) *Node {
		v := Const(g, c)
		return Square(Sub(InsertAxes(v, 1), InsertAxes(v, 0)))
	}
	omega := Exp(MulScalar(Add(diff(ys), diff(xs)), -1/(2*std*std))) // [n, n]
	zero := ScalarZero(g, omega.DType())
	return Pad(omega, zero, compute.PadAxis{Start: 1}, compute.PadAxis{Start: 1})
}

// NeighbourhoodAttention is NACLIP's attention: softmax(k kᵀ/√d + Ω) v with the prior Ω
// [N, N] (NeighbourhoodPrior) added to every head's scores. Heads are attended in groups as
// AttendHeads does (budget is AttendHeads').
func NeighbourhoodAttention(k, v, prior *Node, budget int) *Node {
	d := k.Shape().Dimensions
	batch, heads, n := d[0], d[1], d[2]
	ks := MulScalar(k, 1/math.Sqrt(float64(d[3])))
	omega := Reshape(prior, 1, 1, n, n)
	out := modelkit.InHeadGroups(k.Graph(), heads, 4*batch*n*n, budget, func(h0, h1 int) *Node {
		a, b, c := ks, k, v
		if h1-h0 != heads {
			h := AxisRange(h0, h1)
			a, b, c = Slice(ks, AxisRange(), h), Slice(k, AxisRange(), h), Slice(v, AxisRange(), h)
		}
		scores := Add(Einsum("bhqd,bhkd->bhqk", a, b), omega)
		return Einsum("bhqk,bhkd->bhqd", Softmax(scores, -1), c)
	})
	return MergeHeads(out)
}

// MergeHeads turns heads-major [B, heads, N, 64] into [B, N, heads·64].
func MergeHeads(x *Node) *Node {
	d := x.Shape().Dimensions
	return Reshape(TransposeAllAxes(x, 0, 2, 1, 3), d[0], d[2], d[1]*d[3])
}
