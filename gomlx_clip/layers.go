package clip

import (
	"math"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/attention"
)

// Params holds the model's tensors inside one graph, by canonical (OpenAI) name, as the Model
// stores them: the checkpoint's layout, except the dense weights (IsDenseWeight), which are
// transposed to [in, out], or packed for the go backend's kernel ([in, out/32, 32]; only
// modelkit.Dense, DenseWith and DenseActivated read them).
type Params = modelkit.Params

// LayerNorm is torch's LayerNorm over the last axis (biased variance) with the tower's eps
// (Tower.Eps: 1e-5 for OpenAI's CLIP).
func LayerNorm(x *Node, p Params, prefix string, eps float64) *Node {
	return modelkit.LayerNorm(x, p, prefix, eps)
}

// Linear is torch's nn.Linear: x W^T + b, with W^T stored [in, out] in Params.
func Linear(x *Node, p Params, prefix string) *Node { return modelkit.Dense(x, p, prefix) }

// QuickGELU is CLIP's activation x * sigmoid(1.702 x).
func QuickGELU(x *Node) *Node {
	return Mul(x, Sigmoid(MulScalar(x, 1.702)))
}

// MLP is the transformer block's feed-forward: c_proj(act(c_fc(x))), act the tower's
// activation (QuickGELU for OpenAI's CLIP), fused into c_fc where the backend can
// (modelkit.DenseActivated, backendActivation).
func MLP(x *Node, p Params, prefix string, act Activation) *Node {
	fc := prefix + ".c_fc"
	h := modelkit.DenseActivated(x, p.Get(fc+".weight"), p.Optional(fc+".bias"), backendActivation(act),
		func(h *Node) *Node { return Activate(h, act) })
	return Linear(h, p, prefix+".c_proj")
}

// Attend is softmax(a b^T / sqrt(d) [+ causal mask]) c over heads of width d, merged back to [B, N, W].
// CLIP Surgery's v-v attention is Attend(v, v, v, false). The q, k, v here are [B, N, heads, d]
// (the ResNet's attention pool); the transformers use the faster AttendHeads.
func Attend(a, b, c *Node, causal bool) *Node {
	out, _ := attention.Core(a, b, c, attention.LayoutBSHD, attention.CoreOptions{UseCausalMask: causal, DisableFusion: true})
	dims := out.Shape().Dimensions
	return Reshape(out, dims[0], dims[1], dims[2]*dims[3])
}

// SplitQKVHeads projects x [B, N, W] with nn.MultiheadAttention's packed in_proj into q, k, v
// in the heads-major layout, each [B, heads, N, 64], taken from one transpose of the packed
// projection. Why: the attention products then need no transposes of their [N, N] score
// matrices (in the BSHD layout, each attention transposed two of them, ~50 MB apiece at 512 px).
func SplitQKVHeads(x *Node, p Params, prefix string, heads int) (q, k, v *Node) {
	s := projectQKV(x, p, prefix, heads)
	return s.part(0, 0, heads), s.part(1, 0, heads), s.part(2, 0, heads)
}

// AttendHeads is Attend for heads-major q, k, v [B, heads, N, d] (SplitQKVHeads), with an
// optional boolean mask (nil: none) broadcastable to [B, heads, Nq, Nkv]; result [B, Nq, W].
//
// It is written out rather than taken from attention.Core: the scale 1/sqrt(d) is applied to a
// (the smaller tensor), without a pass over, and a second copy of, the [heads, N, N] scores; for
// OpenAI's 64-wide heads it is 1/8, a power of two, so the scores are bit-identical to scaling
// them (other head widths, e.g. open_clip's 80 or 104, differ by rounding only).
// Decomposed on purpose: the go backend's fused attention computes each score as a separate
// dot product with a horizontal sum, while these two products run in its blocked matrix kernel
// (measured in docs/BENCHMARKS.md).
//
// When the scores of all heads would exceed budget bytes (0: modelkit.ScoreBudgetFor the graph's
// backend), the
// heads are attended in equal groups, one group after another (modelkit.InHeadGroups): each
// head's result is the same.
func AttendHeads(a, b, c *Node, causal bool, mask *Node, budget int) *Node {
	d := a.Shape().Dimensions
	batch, heads, nq, nkv := d[0], d[1], d[2], b.Shape().Dimensions[2]
	a = MulScalar(a, 1/math.Sqrt(float64(d[3])))
	get := func(r, h0, h1 int) *Node {
		t := [3]*Node{a, b, c}[r]
		if h1-h0 == heads {
			return t // one group: nothing to slice
		}
		return Slice(t, AxisRange(), AxisRange(h0, h1))
	}
	return attendGroups(a.Graph(), get, batch, heads, nq, nkv, d[3], nq, causal, mask, budget)
}

// attendScaled is softmax(a b^T [masked]) c for pre-scaled a, all [B, heads, N, 64]; the result is
// [B, heads, Nq, 64].
func attendScaled(a, b, c, mask *Node) *Node {
	scores := Einsum("bhqd,bhkd->bhqk", a, b)
	var coef *Node
	if mask != nil {
		coef = MaskedSoftmax(scores, mask, -1)
	} else {
		coef = Softmax(scores, -1)
	}
	return Einsum("bhqk,bhkd->bhqd", coef, c)
}

// ResidualBlock is CLIP's pre-norm transformer block:
// x += out_proj(MHA(ln_1(x))); x += MLP(ln_2(x)), with the heads, eps, activation and score
// budget of tower t.
func ResidualBlock(x *Node, p Params, prefix string, t Tower, causal bool) *Node {
	s := projectQKV(LayerNorm(x, p, prefix+".ln_1", t.Eps), p, prefix+".attn", t.Heads)
	return FinishBlock(x, s.attend(0, 1, 2, causal, nil, t.Budget), p, prefix, t)
}

// ClassRowBlock is the rest of block prefix (attention over heads-major q, k, v, then
// FinishBlock) for the class token of x [B, N, W] only: [B, 1, W]. Exact: given the keys and
// values, each row's attention, out_proj and MLP depend on that row alone. It runs the first
// classRows rows (the class token and a few patch tokens), not one, then keeps row 0. Why: a
// one-row product is below the go backend's small-matrix threshold (M·N·K < 4 Mi), whose
// unpacked single-threaded path took longer for [1,3072]·[3072,768] than the packed path for
// all 197 rows (docs/BENCHMARKS.md); 8 rows, its kernel's height, take the packed path.
func ClassRowBlock(x, q, k, v *Node, p Params, prefix string, t Tower) *Node {
	return classRowOf(x, func(r int) *Node {
		return AttendHeads(Slice(q, AxisRange(), AxisRange(), AxisRange(0, r)), k, v, false, nil, t.Budget)
	}, p, prefix, t)
}

// classRowOf is ClassRowBlock with attend(r) giving the attention output of the first r rows.
func classRowOf(x *Node, attend func(r int) *Node, p Params, prefix string, t Tower) *Node {
	r := min(classRows, x.Shape().Dimensions[1])
	rows := FinishBlock(Slice(x, AxisRange(), AxisRange(0, r)), attend(r), p, prefix, t)
	return Slice(rows, AxisRange(), AxisRange(0, 1))
}

// classRows is how many rows ClassRowBlock computes to get the class token's.
const classRows = 8

// FinishBlock is the rest of a pre-norm block once its attention output a (heads merged, [.., W])
// is known: x += out_proj(a); x += MLP(ln_2(x)).
func FinishBlock(x, a *Node, p Params, prefix string, t Tower) *Node {
	x = Add(x, Linear(a, p, prefix+".attn.out_proj"))
	return Add(x, MLP(LayerNorm(x, p, prefix+".ln_2", t.Eps), p, prefix+".mlp", t.Act))
}
