package clip

import (
	"math"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"

	. "github.com/gomlx/gomlx/core/graph"
)

// headsQKV is a block's packed in_proj projection, heads-major [3, B, heads, N, d] (q, k, v),
// from which attention takes each group of heads with one copy, each (part, group) once per
// graph. Why: every slice is a copy on the go backend; taking q, k and v out first
// (SplitQKVHeads) and then each group out of them copied everything twice at 512 px, and the
// two attentions of a dual-path block (or v-v, which reads v three times) copied the same
// groups again (docs/BENCHMARKS.md, "Where the encoder's time goes").
type headsQKV struct {
	all                *Node
	batch, heads, n, d int
	parts              map[[3]int]*Node // (part, h0, h1) → [B, h1-h0, N, d]
}

// projectQKV projects x [B, N, W] with nn.MultiheadAttention's packed in_proj (one product, one
// transpose to heads-major).
func projectQKV(x *Node, p Params, prefix string, heads int) *headsQKV {
	dims := x.Shape().Dimensions
	b, n, w := dims[0], dims[1], dims[2]
	qkv := modelkit.DenseWith(x, p.Get(prefix+".in_proj_weight"), p.Get(prefix+".in_proj_bias"))
	qkv = TransposeAllAxes(Reshape(qkv, b, n, 3, heads, w/heads), 2, 0, 3, 1, 4) // [3, B, H, N, d]
	return &headsQKV{all: qkv, batch: b, heads: heads, n: n, d: w / heads, parts: map[[3]int]*Node{}}
}

// part is q (0), k (1) or v (2) for heads [h0, h1): [B, h1-h0, N, d].
func (s *headsQKV) part(i, h0, h1 int) *Node {
	key := [3]int{i, h0, h1}
	if t, ok := s.parts[key]; ok {
		return t
	}
	t := Reshape(Slice(s.all, AxisElem(i), AxisRange(), AxisRange(h0, h1)), s.batch, h1-h0, s.n, s.d)
	s.parts[key] = t
	return t
}

// attend is AttendHeads(a, b, c, causal, mask, budget) with a, b, c the parts ia, ib, ic
// (0: q, 1: k, 2: v): CLIP's attention is attend(0, 1, 2, ...), v-v attend(2, 2, 2, ...).
func (s *headsQKV) attend(ia, ib, ic int, causal bool, mask *Node, budget int) *Node {
	return s.attendRows(ia, s.n, ib, ic, causal, mask, budget)
}

// attendRows is attend for the first rows queries of part ia only ([B, rows, W]), in the same
// groups of heads as attend, so that it reuses their keys and values.
func (s *headsQKV) attendRows(ia, rows, ib, ic int, causal bool, mask *Node, budget int) *Node {
	scale := 1 / math.Sqrt(float64(s.d))
	get := func(r, h0, h1 int) *Node {
		switch r {
		case 1:
			return s.part(ib, h0, h1)
		case 2:
			return s.part(ic, h0, h1)
		}
		if rows == s.n {
			return MulScalar(s.part(ia, h0, h1), scale)
		}
		q := Slice(s.all, AxisElem(ia), AxisRange(), AxisRange(h0, h1), AxisRange(0, rows))
		return MulScalar(Reshape(q, s.batch, h1-h0, rows, s.d), scale)
	}
	return attendGroups(s.all.Graph(), get, s.batch, s.heads, rows, s.n, s.d, s.n, causal, mask, budget)
}

// attendGroups is the body of AttendHeads: get(r, h0, h1) gives heads [h0, h1) of a (r = 0,
// already scaled), b (1) or c (2), each [B, h1-h0, rows, d]; the groups are sized for
// budgetRows query rows (a caller attending fewer rows can keep the groups of the full
// attention). Result [B, nq, heads·d].
func attendGroups(g *Graph, get func(r, h0, h1 int) *Node, batch, heads, nq, nkv, d, budgetRows int, causal bool, mask *Node, budget int) *Node {
	if causal {
		causalMask := Reshape(LowerTriangular(g, nq), 1, 1, nq, nq)
		if mask != nil {
			causalMask = LogicalAnd(causalMask, mask)
		}
		mask = causalMask
	}
	out := modelkit.InHeadGroups(g, heads, 4*batch*budgetRows*nkv, budget, func(h0, h1 int) *Node {
		m := mask
		if m != nil && h1-h0 < heads && m.Rank() == 4 && m.Shape().Dimensions[1] == heads {
			m = Slice(m, AxisRange(), AxisRange(h0, h1))
		}
		return attendScaled(get(0, h0, h1), get(1, h0, h1), get(2, h0, h1), m)
	})
	return Reshape(TransposeAllAxes(out, 0, 2, 1, 3), batch, nq, heads*d)
}

// surgeryRoles are the parts (0: q, 1: k, 2: v) the new path's attention mode reads as a, b, c.
func surgeryRoles(mode SurgeryAttention) (int, int, int) {
	switch mode {
	case AttentionKK:
		return 1, 1, 2
	case AttentionQQ:
		return 0, 0, 2
	case AttentionQK:
		return 0, 1, 2
	default:
		return 2, 2, 2
	}
}
