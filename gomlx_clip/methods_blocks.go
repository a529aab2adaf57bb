package clip

import (
	"cmp"
	"math"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
)

// This file holds each method's graph functions, which its descriptor in methods_table.go names:
// the changed last block(s) of a ViT (…LastBlock, surgeryTail), the attention of a ResNet's
// attention pool and the options the method reads (settle…), and the defining steps they are
// built from. q, k, v are heads-major [B, heads, N, d] (SplitQKVHeads); attention results are
// heads merged, [B, N, W].

// surgeryTail is CLIP Surgery's dual path over the blocks from t.first on: the new path's
// patch tokens and the original path's class token (the global image meaning feature surgery
// weighs the classes with).
func surgeryTail(x *Node, t vitTail) *Node {
	xNew, xOri := x, x
	for i := t.first; i < t.layers-1; i++ {
		xNew, xOri = ArchitectureSurgeryBlock(xNew, xOri, t.p, visualBlock(i), t.tower, t.opt.Attention)
	}
	var cls *Node
	if t.remold != nil { // a modifier's last attention on the new path (surgeryAttention's scores)
		xNew, cls = lastSurgeryBlockRemolded(xNew, xOri, t)
	} else {
		xNew, cls = LastSurgeryBlock(xNew, xOri, t.p, t.last(), t.tower, t.opt.Attention)
	}
	return Concatenate([]*Node{cls, Slice(xNew, AxisRange(), AxisRangeToEnd(1))}, 1)
}

// settleSurgery keeps the dual path's depth and attention mode, with their defaults.
func settleSurgery(o, s ImageOptions) ImageOptions {
	s.Depth, s.Attention = cmp.Or(o.Depth, DefaultSurgeryDepth), cmp.Or(o.Attention, AttentionVV)
	return s
}

// rawLastBlock is the last block as trained.
func rawLastBlock(x *Node, t vitTail) *Node {
	if t.remold != nil {
		q, k, v := SplitQKVHeads(LayerNorm(x, t.p, t.last()+".ln_1", t.tower.Eps), t.p, t.last()+".attn", t.tower.Heads)
		return FinishBlock(x, t.remold.attend(v, nil, scaledScores(q, k)), t.p, t.last(), t.tower)
	}
	return ResidualBlock(x, t.p, t.last(), t.tower, false)
}

// maskCLIPLastBlock is MaskCLIP's last block: value embeddings for the patch tokens
// (ValueEmbeddingBlock), the class token from the unchanged block (x[:, 1:] = v[:, 1:]), its row
// only.
func maskCLIPLastBlock(x *Node, t vitTail) *Node {
	prefix, tw := t.last(), t.tower
	q, k, v := SplitQKVHeads(LayerNorm(x, t.p, prefix+".ln_1", tw.Eps), t.p, prefix+".attn", tw.Heads)
	cls := ClassRowBlock(x, q, k, v, t.p, prefix, tw)
	patches := Slice(ValueEmbeddingBlock(x, v, t.p, prefix, tw), AxisRange(), AxisRangeToEnd(1))
	return Concatenate([]*Node{cls, patches}, 1)
}

// sclipLastBlock is SCLIP's last block: correlative self-attention, residual and FFN kept.
func sclipLastBlock(x *Node, t vitTail) *Node {
	prefix, tw := t.last(), t.tower
	q, k, v := SplitQKVHeads(LayerNorm(x, t.p, prefix+".ln_1", tw.Eps), t.p, prefix+".attn", tw.Heads)
	if t.remold != nil {
		return FinishBlock(x, t.remold.attend(v, nil, scaledScores(q, q), scaledScores(k, k)), t.p, prefix, tw)
	}
	return FinishBlock(x, CorrelativeSelfAttention(q, k, v, tw.Budget), t.p, prefix, tw)
}

// clearCLIPLastBlock is ClearCLIPBlock on the last block.
func clearCLIPLastBlock(x *Node, t vitTail) *Node {
	if t.remold != nil {
		q, _, v := SplitQKVHeads(LayerNorm(x, t.p, t.last()+".ln_1", t.tower.Eps), t.p, t.last()+".attn", t.tower.Heads)
		return Linear(t.remold.attend(v, nil, scaledScores(q, q)), t.p, t.last()+".attn.out_proj")
	}
	return ClearCLIPBlock(x, t.p, t.last(), t.tower)
}

// naclipLastBlock is NACLIP's last block: neighbourhood attention alone, no residual, no FFN.
func naclipLastBlock(x *Node, t vitTail) *Node {
	prefix, tw := t.last(), t.tower
	_, k, v := SplitQKVHeads(LayerNorm(x, t.p, prefix+".ln_1", tw.Eps), t.p, prefix+".attn", tw.Heads)
	prior := NeighbourhoodPrior(x.Graph(), t.gh, t.gw, t.opt.NeighbourhoodStd)
	if t.remold != nil {
		return Linear(t.remold.attend(v, prior, scaledScores(k, k)), t.p, prefix+".attn.out_proj")
	}
	return Linear(NeighbourhoodAttention(k, v, prior, tw.Budget), t.p, prefix+".attn.out_proj")
}

// settleNACLIP keeps the neighbourhood prior's σ, with its default.
func settleNACLIP(o, s ImageOptions) ImageOptions {
	s.NeighbourhoodStd = cmp.Or(o.NeighbourhoodStd, DefaultNeighbourhoodStd)
	return s
}

// valueValuePool is the attention pool's attention under architecture surgery: v-v on every
// token (the reference's q/k_proj are unused; the class token's two paths are identical, quirk Q4).
func valueValuePool(project func(which string) *Node) *Node {
	v := project("v")
	return Attend(v, v, v, false)
}

// queryKeyPool is the attention pool's own attention.
func queryKeyPool(project func(which string) *Node) *Node {
	v := project("v")
	return Attend(project("q"), project("k"), v, false)
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
