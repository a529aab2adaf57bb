package clip

import (
	"cmp"
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph"
)

// SC-CLIP as a method of the method table: its last block is its own (k-k attention averaged
// with an attention from intermediate features, no residual, no FFN, the class token added back
// scaled), run twice (the second time on fused intermediate features), around anomaly
// resolution and feature aggregation. It has nothing of another method's last block left to
// modify, so it is a method, not a modifier; its three steps are switches of SCCLIPOptions.
// Read from SuleBai/SC-CLIP clip/model.py (VisionTransformer.forward, custom_attn,
// adaptively_aggregate, mean_interpolation, lof_pytorch) and scclip_segmentor.py (the default
// indices) at commit 0417ba92851e9dd7432d608f10a0804d01a23062.

// SCCLIPOptions tune MethodSCCLIP (ignored otherwise). The zero value is the authors' release.
type SCCLIPOptions struct {
	NoAnomaly    bool // switch anomaly-token detection and resolution off (an ablation)
	NoSelfAdjust bool // switch the self-adjusting steps off: no aggregation, plain k-k attention
	NoFusion     bool // switch the multi-level feature fusion off
	// PreAdjust and PostAdjust are the blocks (1-based) whose outputs give the similarity of the
	// attention and the pre-aggregation (pre_adjust_idx) and of the post-aggregation
	// (post_adjust_idx); FusionFrom..FusionTo (1-based, inclusive) the blocks whose outputs are
	// fused (multi_start_idx..multi_end_idx−1). 0 = SCCLIPLayers' rule for the model's depth.
	PreAdjust, PostAdjust, FusionFrom, FusionTo int
	ResCLS                                      float64 // weight of the class token added to the last block's output (res_cls; 0 = 0.3)
	Beta                                        float64 // similarities below it are dropped from the aggregations (beta; 0 = 0.4)
	Neighbours                                  int     // LOF's neighbours (n_neighbors; 0 = 30; at most the patch count − 1)
	Contamination                               float64 // the share of patches LOF flags (contamination; 0 = 0.05)
}

// The authors' values, the defaults of SCCLIPOptions.
const (
	DefaultSCCLIPResCLS        = 0.3
	DefaultSCCLIPBeta          = 0.4
	DefaultSCCLIPNeighbours    = 30
	DefaultSCCLIPContamination = 0.05
)

// SCCLIPLayers are SC-CLIP's default blocks (1-based) for a tower of layers blocks: the authors'
// pre_adjust_idx 8, post_adjust_idx 3 and multi_start_idx..multi_end_idx 3..10 of ViT-B's 12
// (indices of the outputs of blocks 9, 4 and 4..10) placed by ScaleLayer, kept before the last
// block.
func SCCLIPLayers(layers int) (pre, post, fusionFrom, fusionTo int) {
	at := func(i int) int { return max(min(ScaleLayer(i, layers), layers-2), 0) + 1 }
	return at(8), at(3), at(3), max(min(ScaleLayer(10, layers), layers-1), at(3))
}

// settleSCCLIP keeps SC-CLIP's options with their defaults.
func settleSCCLIP(o, s ImageOptions) ImageOptions {
	c := o.SCCLIP
	c.ResCLS, c.Beta = cmp.Or(c.ResCLS, DefaultSCCLIPResCLS), cmp.Or(c.Beta, DefaultSCCLIPBeta)
	c.Neighbours, c.Contamination = cmp.Or(c.Neighbours, DefaultSCCLIPNeighbours), cmp.Or(c.Contamination, DefaultSCCLIPContamination)
	s.SCCLIP = c
	return s
}

// validateSCCLIP refuses negative or non-finite numbers, a contamination outside (0, 0.5] and
// inverted block ranges.
func validateSCCLIP(c SCCLIPOptions) error {
	for name, v := range map[string]float64{"ResCLS": c.ResCLS, "Beta": c.Beta, "Contamination": c.Contamination} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("clip: scclip %s %v must be positive and finite (0 = the default)", name, v)
		}
	}
	if c.Contamination > 0.5 || c.Beta > 1 {
		return fmt.Errorf("clip: scclip contamination %v (want ≤ 0.5) or beta %v (a cosine, want ≤ 1)", c.Contamination, c.Beta)
	}
	if c.Neighbours < 0 || c.PreAdjust < 0 || c.PostAdjust < 0 || c.FusionFrom < 0 || c.FusionTo < 0 ||
		(c.FusionFrom > 0 && c.FusionTo > 0 && c.FusionFrom > c.FusionTo) {
		return fmt.Errorf("clip: scclip blocks and neighbours must be positive, fusion from ≤ to (0 = the default)")
	}
	return nil
}

// scclipBlocks resolves the blocks (0-based indices of their outputs) for a tower, or an error
// naming a block that is not before the last.
func scclipBlocks(c SCCLIPOptions, layers int) (pre, post, from, to int, err error) {
	dp, dq, df, dt := SCCLIPLayers(layers)
	pre, post, from, to = cmp.Or(c.PreAdjust, dp), cmp.Or(c.PostAdjust, dq), cmp.Or(c.FusionFrom, df), cmp.Or(c.FusionTo, dt)
	if layers < 2 || max(pre, post, from, to) > layers-1 || from > to {
		return 0, 0, 0, 0, fmt.Errorf("clip: scclip blocks pre %d, post %d, fusion %d..%d: a tower of %d blocks has blocks 1..%d before its last",
			pre, post, from, to, layers, layers-1)
	}
	return pre - 1, post - 1, from - 1, to - 1, nil
}

// scclipTail runs every block (SC-CLIP reads the outputs of intermediate ones) and builds
// SC-CLIP's patch tokens per image (scclipPatches). Token 0 is the class token of the unchanged
// last block: the authors' encoder returns patch tokens only, and this package's encoders
// return the class token first.
func scclipTail(x *Node, t vitTail) *Node {
	c := t.opt.SCCLIP
	pre, post, from, to, err := scclipBlocks(c, t.layers)
	if err != nil {
		panic(err)
	}
	feats := make([]*Node, t.layers-1)
	for i := range feats {
		x = ResidualBlock(x, t.p, visualBlock(i), t.tower, false)
		feats[i] = x
	}
	q, k, v := SplitQKVHeads(LayerNorm(x, t.p, t.last()+".ln_1", t.tower.Eps), t.p, t.last()+".attn", t.tower.Heads)
	q0 := Slice(q, AxisRange(), AxisRange(), AxisRange(0, 1))
	cls := FinishBlock(Slice(x, AxisRange(), AxisRange(0, 1)), AttendHeads(q0, k, v, false, nil, t.tower.Budget), t.p, t.last(), t.tower)
	var images []*Node
	for b := range x.Shape().Dimensions[0] {
		one := func(f *Node) *Node { return Squeeze(Slice(f, AxisElem(b)), 0) } // [N, W]
		images = append(images, scclipPatches(t, c, one(x), one(feats[pre]), one(feats[post]), func() *Node {
			sum := one(feats[from])
			for i := from + 1; i <= to; i++ {
				sum = Add(sum, one(feats[i]))
			}
			return sum
		}))
	}
	return Concatenate([]*Node{cls, Stack(images, 0)}, 1)
}

// scclipPatches is SC-CLIP's forward after the blocks before the last for one image: x the
// last block's input, preF and postF the tokens of the adjusting blocks, fused the sum of the
// fusion blocks' tokens (all [N, W], class token first). Returns the patch tokens [P, W] before
// ln_post.
func scclipPatches(t vitTail, c SCCLIPOptions, x, preF, postF *Node, fused func() *Node) *Node {
	patches := func(f *Node) *Node { return Slice(f, AxisRangeToEnd(1)) }
	cls := Slice(x, AxisRange(0, 1))
	p := patches(x)
	var outliers *Node // [P] bool, nil with NoAnomaly
	if !c.NoAnomaly {
		outliers = AnomalyTokens(p, c.Neighbours, c.Contamination)
		p = ResolveAnomalies(p, outliers, t.gh, t.gw)
	}
	var mid, after *Node
	if !c.NoSelfAdjust {
		pf := patches(preF)
		if outliers != nil {
			pf = ResolveAnomalies(pf, outliers, t.gh, t.gw)
		}
		mid = CosineSimilarities(pf)
		p = AggregateFeatures(p, DropBelow(mid, c.Beta))
		after = DropBelow(CosineSimilarities(patches(postF)), c.Beta)
	}
	out := Add(SCCLIPBlock(p, mid, t), MulScalar(cls, float32(c.ResCLS)))
	if after != nil {
		out = AggregateFeatures(out, after)
	}
	if !c.NoFusion {
		f := fused()
		r := Add(SCCLIPBlock(patches(f), mid, t), MulScalar(Slice(f, AxisRange(0, 1)), float32(c.ResCLS)))
		if after != nil {
			r = AggregateFeatures(r, after)
		}
		out = Add(out, r)
	}
	return out
}

// SCCLIPBlock is SC-CLIP's last block on patch tokens x [P, W]: out_proj(A v) alone (no
// residual, no FFN), A = (softmax(m) + softmax(k kᵀ/√d))/2 with m = 3·(mid − mean(mid)) and −∞
// where m < 0 (custom_attn); A = softmax(k kᵀ/√d) without mid (NoSelfAdjust).
func SCCLIPBlock(x, mid *Node, t vitTail) *Node {
	prefix := t.last()
	_, k, v := SplitQKVHeads(InsertAxes(LayerNorm(x, t.p, prefix+".ln_1", t.tower.Eps), 0), t.p, prefix+".attn", t.tower.Heads)
	a := Softmax(scaledScores(k, k), -1)
	if mid != nil {
		m := MulScalar(Sub(mid, ReduceAllMean(mid)), float32(3))
		m = Where(LessThan(m, ZerosLike(m)), Infinity(m.Graph(), m.DType(), -1), m)
		a = DivScalar(Add(InsertAxes(Softmax(m, -1), 0, 0), a), float32(2))
	}
	return Squeeze(Linear(MergeHeads(Einsum("bhqk,bhkd->bhqd", a, v)), t.p, prefix+".attn.out_proj"), 0)
}

// CosineSimilarities is the cosine similarity of every pair of rows of f [P, W], [P, P].
func CosineSimilarities(f *Node) *Node {
	f = Div(f, Sqrt(ReduceAndKeep(Square(f), ReduceSum, -1)))
	return Einsum("iw,jw->ij", f, f)
}

// DropBelow zeroes the similarities below beta (before_simi[before_simi < beta] = 0).
func DropBelow(s *Node, beta float64) *Node {
	return Where(LessThan(s, Scalar(s.Graph(), s.DType(), beta)), ZerosLike(s), s)
}

// AggregateFeatures is adaptively_aggregate: each row of x [P, W] replaced by the mean of the
// rows weighted by its row of corr [P, P], normalized to sum 1 (+1e-6).
func AggregateFeatures(x, corr *Node) *Node {
	w := Div(corr, AddScalar(ReduceAndKeep(corr, ReduceSum, -1), float32(1e-6)))
	return Einsum("ij,jw->iw", w, x)
}

// ResolveAnomalies is mean_interpolation: every flagged patch of the gh×gw grid of x [P, W]
// (flagged [P] bool) that has an unflagged neighbour among its 8 takes the mean of those
// neighbours. The authors locate flagged patch i at (i // gh, i % gh), right for their square
// grids; (i // gw, i % gw) here, which is the same there and right for every grid.
func ResolveAnomalies(x, flagged *Node, gh, gw int) *Node {
	w := x.Shape().Dimensions[1]
	grid := Reshape(x, gh, gw, w)
	keep := Reshape(ConvertDType(LogicalNot(flagged), x.DType()), gh, gw, 1)
	zero := ScalarZero(x.Graph(), x.DType())
	pad := func(n *Node) *Node {
		return Pad(n, zero, PadAxis{Start: 1, End: 1}, PadAxis{Start: 1, End: 1}, PadAxis{})
	}
	masked, valid := pad(Mul(grid, keep)), pad(keep)
	var sum, count *Node
	for _, o := range pamrOffsets(false) {
		at := func(n *Node) *Node {
			return Slice(n, AxisRange(1+o[0], 1+o[0]+gh), AxisRange(1+o[1], 1+o[1]+gw), AxisRange())
		}
		if sum == nil {
			sum, count = at(masked), at(valid)
		} else {
			sum, count = Add(sum, at(masked)), Add(count, at(valid))
		}
	}
	has := GreaterThan(count, ZerosLike(count))
	mean := Div(sum, Where(has, count, OnesLike(count)))
	update := LogicalAnd(Reshape(flagged, gh, gw, 1), has)
	return Reshape(Where(BroadcastToDims(update, gh, gw, w), mean, grid), gh*gw, w)
}

// AnomalyTokens is lof_pytorch: the local outlier factor of every row of x [P, W] from its
// squared Euclidean distances, with the authors' reachability max(d(i, j), k-distance(i)), and
// the rows whose factor exceeds its (1 − contamination) quantile (torch.quantile, linear), [P]
// bool. The neighbours are at most P − 1.
func AnomalyTokens(x *Node, neighbours int, contamination float64) *Node {
	p := x.Shape().Dimensions[0]
	k := min(neighbours, p-1)
	d, idx := BottomK(squaredDistances(x), k+1, -1)
	d, idx = Slice(d, AxisRange(), AxisRangeToEnd(1)), Slice(idx, AxisRange(), AxisRangeToEnd(1)) // drop self
	kdist := Slice(d, AxisRange(), AxisRange(k-1, k))
	lrd := Div(Scalar(x.Graph(), x.DType(), k), ReduceMean(Max(d, BroadcastToDims(kdist, p, k)), -1))
	ratios := Div(Gather(lrd, InsertAxes(idx, -1)), InsertAxes(lrd, -1))
	lof := ReduceMean(ratios, -1)
	return GreaterThan(lof, quantileLinear(lof, float32(1-contamination)))
}

// squaredDistances is torch.norm(x[:, None] − x[None, :], dim=2)², [P, P], row blocks at a
// time so that the differences held stay near 64 MB.
func squaredDistances(x *Node) *Node {
	p, w := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	rows := max(1, (64<<20)/(4*p*w))
	var parts []*Node
	for r := 0; r < p; r += rows {
		a := Slice(x, AxisRange(r, min(r+rows, p)))
		diff := Sub(InsertAxes(a, 1), InsertAxes(x, 0))
		parts = append(parts, Square(Sqrt(ReduceSum(Square(diff), -1))))
	}
	return Concatenate(parts, 0)
}

// quantileLinear is torch.quantile(x, q) of a vector with linear interpolation, q in float32:
// rank q·(n−1) in float32, and torch's lerp between the two neighbouring order statistics.
func quantileLinear(x *Node, q float32) *Node {
	n := x.Shape().Dimensions[0]
	rank := q * float32(n-1)
	below := int(rank)
	above := min(int(math.Ceil(float64(rank))), n-1)
	w := rank - float32(below)
	sorted := Sort(x, 0, true)
	lo, hi := Squeeze(Slice(sorted, AxisElem(below)), 0), Squeeze(Slice(sorted, AxisElem(above)), 0)
	if w < 0.5 {
		return Add(lo, MulScalar(Sub(hi, lo), w))
	}
	return Sub(hi, MulScalar(Sub(hi, lo), 1-w))
}
