package clip

import (
	"cmp"
	"fmt"
	"math"

	"github.com/clipsurgery/clipsurgery/internal/bilinear"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// ResCLIP as a modifier (modifiers_table.go): the two steps that remold a base method's last
// attention, residual cross-correlation self-attention (RCS) and semantic feedback refinement
// (SFR), read from yvhangyang/ResCLIP clip/model.py (VisionTransformer.forward, custom_attn,
// create_logit_temp, create_patch_matrix, check_path, generate_attention_sfr) at commit
// 0e085f7f52f06098b383599e9653cd28cc665a8c, and pamr.py for the PAMR it runs inside SFR.

// ModifierResCLIP is the ResCLIP modifier.
const ModifierResCLIP Modifier = "resclip"

// ResCLIPOptions tune ModifierResCLIP (ignored without it). The zero value is the authors'
// demo.py settings (demo.py; the configs/cfg_*.py of their benchmarks tune the same numbers per
// data set).
type ResCLIPOptions struct {
	NoRCS bool // switch residual cross-correlation self-attention off (an ablation)
	NoSFR bool // switch semantic feedback refinement off (an ablation; then no text is read)
	// RCSFrom and RCSTo are the blocks (1-based, inclusive, before the last) whose q-k attention
	// RCS averages; 0 = ResCLIPLayers' rule for the model's depth (6..9 of ViT-B's 12).
	RCSFrom, RCSTo int
	// RCSTau and RCSLambda mix the averaged attention A_c into the last block's weights A_s:
	// τ·((1−λ)·A_s + λ·A_c) (attn_rcs_weights; 0 = 2.0 and 0.6).
	RCSTau, RCSLambda float64
	// SFRTau and SFRLambda mix the feedback matrix S into the last block's scores s before the
	// softmax: τ·((1−λ)·s + λ·S) (attn_sfr_weights; 0 = 2.1 and 0.6).
	SFRTau, SFRLambda float64
	// SFRThreshold: pixels whose top class probability is below it count as class 0 in the
	// preliminary segmentation (temp_thd; 0 = 0.10).
	SFRThreshold float64
	// SFRLogitScale scales the cosine similarities before the softmax over classes (logit_scale;
	// 0 = 40).
	SFRLogitScale float64
	// SFRStd is σ of the 1-D Gaussian blur along each row of the feedback matrix (the model's
	// gaussian_std; 0 = 5).
	SFRStd float64
}

// The authors' demo.py values, the defaults of ResCLIPOptions.
const (
	DefaultResCLIPRCSTau        = 2.0
	DefaultResCLIPRCSLambda     = 0.6
	DefaultResCLIPSFRTau        = 2.1
	DefaultResCLIPSFRLambda     = 0.6
	DefaultResCLIPSFRThreshold  = 0.10
	DefaultResCLIPSFRLogitScale = 40
	DefaultResCLIPSFRStd        = 5.0
	// ResCLIPPAMRSteps are the PAMR iterations create_logit_temp runs on the preliminary
	// segmentation, with dilations 8 and 16 (PAMR(10, dilations=(8, 16))).
	ResCLIPPAMRSteps = 10
)

// resclipPAMRDilations are create_logit_temp's PAMR dilations.
var resclipPAMRDilations = [...]int{8, 16}

// ScaleLayer places a block index (0-based) the authors chose for a 12-block ViT-B in a tower
// of layers blocks: round(index·layers/12), halves rounded up. It is the project's rule for
// every such choice (ResCLIP's RCS blocks, SC-CLIP's pre_adjust_idx, post_adjust_idx,
// multi_start_idx and multi_end_idx): it keeps each choice at the same relative depth, gives
// the authors' index itself for ViT-B/16 and B/32 (12 blocks), doubles it for L/14 (24), and
// gives 3 for 5 in the 8-block test models. The authors release only ViT-B numbers.
func ScaleLayer(index, layers int) int { return (index*layers + 6) / 12 }

// ResCLIPLayers are the blocks (1-based, inclusive) whose attention RCS averages by default:
// ResCLIP's blocks 6..9 of 12 (range(5, 9) in clip/model.py), by ScaleLayer for other depths,
// kept before the last block.
func ResCLIPLayers(layers int) (from, to int) {
	to = min(ScaleLayer(8, layers), layers-2) + 1
	from = min(ScaleLayer(5, layers)+1, to)
	return max(from, 1), to
}

// settleResCLIP keeps ResCLIP's options with their defaults (the depth-dependent RCS blocks
// stay 0 here: the graph resolves them with the model's depth).
func settleResCLIP(o, s ImageOptions) ImageOptions {
	r := o.ResCLIP
	if r.NoRCS {
		r.RCSFrom, r.RCSTo, r.RCSTau, r.RCSLambda = 0, 0, 0, 0
	} else {
		r.RCSTau, r.RCSLambda = cmp.Or(r.RCSTau, DefaultResCLIPRCSTau), cmp.Or(r.RCSLambda, DefaultResCLIPRCSLambda)
	}
	if r.NoSFR {
		r.SFRTau, r.SFRLambda, r.SFRThreshold, r.SFRLogitScale, r.SFRStd = 0, 0, 0, 0, 0
	} else {
		r.SFRTau, r.SFRLambda = cmp.Or(r.SFRTau, DefaultResCLIPSFRTau), cmp.Or(r.SFRLambda, DefaultResCLIPSFRLambda)
		r.SFRThreshold = cmp.Or(r.SFRThreshold, DefaultResCLIPSFRThreshold)
		r.SFRLogitScale = cmp.Or(r.SFRLogitScale, DefaultResCLIPSFRLogitScale)
		r.SFRStd = cmp.Or(r.SFRStd, DefaultResCLIPSFRStd)
	}
	s.ResCLIP = r
	return s
}

// validateResCLIP refuses negative or non-finite parameters, a threshold above 1 and an
// inverted block range.
func validateResCLIP(o ImageOptions) error {
	r := o.ResCLIP
	for name, v := range map[string]float64{"RCSTau": r.RCSTau, "RCSLambda": r.RCSLambda, "SFRTau": r.SFRTau,
		"SFRLambda": r.SFRLambda, "SFRThreshold": r.SFRThreshold, "SFRLogitScale": r.SFRLogitScale, "SFRStd": r.SFRStd} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("clip: resclip %s %v must be positive and finite (0 = the default)", name, v)
		}
	}
	if r.RCSLambda > 1 || r.SFRLambda > 1 || r.SFRThreshold > 1 {
		return fmt.Errorf("clip: resclip mixing weights λ and the SFR threshold are in [0, 1] (got RCS λ %v, SFR λ %v, threshold %v)",
			r.RCSLambda, r.SFRLambda, r.SFRThreshold)
	}
	if r.RCSFrom < 0 || r.RCSTo < 0 || (r.RCSFrom > 0 && r.RCSTo > 0 && r.RCSFrom > r.RCSTo) {
		return fmt.Errorf("clip: resclip RCS blocks %d..%d: want 1 ≤ from ≤ to (0 = the depth rule)", r.RCSFrom, r.RCSTo)
	}
	return nil
}

// resclipBlocks resolves the RCS blocks (0-based, inclusive) for a tower of layers blocks, or
// an error naming a block outside the blocks before the last.
func resclipBlocks(r ResCLIPOptions, layers int) (first, last int, err error) {
	from, to := ResCLIPLayers(layers)
	from, to = cmp.Or(r.RCSFrom, from), cmp.Or(r.RCSTo, to)
	if from > to || to > layers-1 || from < 1 {
		return 0, 0, fmt.Errorf("clip: resclip RCS blocks %d..%d: a tower of %d blocks has blocks 1..%d before its last", from, to, layers, layers-1)
	}
	return from - 1, to - 1, nil
}

// attentionRemold is what a modifier changes in a base method's last attention: the scaled
// scores before the softmax (SFR) and the weights after it (RCS); nil functions change nothing.
// The base methods' last blocks call attend when their vitTail carries one.
type attentionRemold struct {
	scores  func(s *Node) *Node // [B, heads, N, N] → same
	weights func(a *Node) *Node // [B, heads, N, N] → same
}

// scaledScores is (a/√d) bᵀ per head, [B, heads, N, N], for heads-major a, b.
func scaledScores(a, b *Node) *Node {
	d := a.Shape().Dimensions[3]
	return Einsum("bhqd,bhkd->bhqk", MulScalar(a, 1/math.Sqrt(float64(d))), b)
}

// attend is Σ softmax(scores(s) + bias) over the given score sets (SCLIP's two, one for the
// others), then weights, then times v: heads merged, [B, N, W]. bias (NACLIP's Ω, [N, N]) may
// be nil. The remolded attention holds [B, heads, N, N] weights at once (no head groups).
func (r *attentionRemold) attend(v, bias *Node, scores ...*Node) *Node {
	var a *Node
	for _, s := range scores {
		if r.scores != nil {
			s = r.scores(s)
		}
		if bias != nil {
			s = Add(s, InsertAxes(bias, 0, 0))
		}
		if a == nil {
			a = Softmax(s, -1)
		} else {
			a = Add(a, Softmax(s, -1))
		}
	}
	if r.weights != nil {
		a = r.weights(a)
	}
	return MergeHeads(Einsum("bhqk,bhkd->bhqd", a, v))
}

// residualBlockWithAttention is ResidualBlock that also returns its attention weights
// softmax(q kᵀ/√d), [B, heads, N, N]: the cross-correlation attention RCS averages.
func residualBlockWithAttention(x *Node, p Params, prefix string, t Tower) (*Node, *Node) {
	q, k, v := SplitQKVHeads(LayerNorm(x, p, prefix+".ln_1", t.Eps), p, prefix+".attn", t.Heads)
	w := Softmax(scaledScores(q, k), -1)
	return FinishBlock(x, MergeHeads(Einsum("bhqk,bhkd->bhqd", w, v)), p, prefix, t), w
}

// ResidualCrossCorrelation is RCS's A_c: the mean of the given blocks' attention weights
// (torch.stack(…).mean(0)).
func ResidualCrossCorrelation(maps []*Node) *Node {
	sum := maps[0]
	for _, m := range maps[1:] {
		sum = Add(sum, m)
	}
	return DivScalar(sum, float64(len(maps)))
}

// MixAttention is ResCLIP's residual mix τ·((1−λ)·a + λ·b), in float32 as custom_attn computes
// it.
func MixAttention(a, b *Node, tau, lambda float64) *Node {
	return MulScalar(Add(MulScalar(a, float32(1-lambda)), MulScalar(b, float32(lambda))), float32(tau))
}

// mixFeedback is SFR's mix of the feedback matrix into scores: τ·((1−λ)·s + λ·S), where the
// authors hold S in float16 (attn_sfr.to(torch.float16)) so that λ·S is a float16 product with λ
// rounded to float16; the sum is float32.
func mixFeedback(s, feedback *Node, tau, lambda float64) *Node {
	g := s.Graph()
	lam16 := ConvertDType(ConvertDType(Const(g, float32(lambda)), dtypes.Float16), dtypes.Float32)
	prod := ConvertDType(ConvertDType(Mul(feedback, lam16), dtypes.Float16), dtypes.Float32)
	return MulScalar(Add(MulScalar(s, float32(1-lambda)), prod), float32(tau))
}

// resclipTail builds the base method's tail with ResCLIP's remold: RCS from the averaged
// attention rcs (nil with NoRCS), and SFR from a preliminary pass of the same tail with RCS
// only, read against the label set's text features classes [K, E] (create_logit_temp).
func resclipTail(method *methodDef, x *Node, t vitTail, rcs *Node) *Node {
	r := t.opt.ResCLIP
	remold := &attentionRemold{}
	if rcs != nil {
		remold.weights = func(a *Node) *Node { return MixAttention(a, rcs, r.RCSTau, r.RCSLambda) }
	}
	if !r.NoSFR {
		pre := t
		pre.remold = remold
		tokens := projectTokens(method.tail(x, pre), t.p, t.tower)
		feedback := SemanticFeedback(tokens, t.classes, t.images, t.gh, t.gw, r)
		weights := remold.weights
		remold = &attentionRemold{weights: weights, scores: func(s *Node) *Node {
			return mixFeedback(s, feedback, r.SFRTau, r.SFRLambda)
		}}
	}
	t.remold = remold
	return method.tail(x, t)
}

// projectTokens is ln_post and the projection of every token, [B, N, E].
func projectTokens(x *Node, p Params, t Tower) *Node {
	return Einsum("bnw,we->bne", LayerNorm(x, p, "visual.ln_post", t.Eps), p.Get("visual.proj"))
}

// SemanticFeedback is SFR's matrix for the attention scores, [B, 1, N, N] with N = 1 + gh·gw,
// from the preliminary pass's tokens [B, N, E], the text features classes [K, E] and the
// normalized images [B, 3, H, W]: the preliminary segmentation (PreliminarySegmentation), the
// class of each patch (PatchClasses), the same-class matrix with its decay off straight paths
// and its row blur (FeedbackMatrix), divided by its maximum and rounded to float16 as the
// authors hold it.
func SemanticFeedback(tokens, classes, images *Node, gh, gw int, r ResCLIPOptions) *Node {
	probs := PreliminarySegmentation(tokens, classes, images, gh, gw, r.SFRLogitScale)
	patch := images.Shape().Dimensions[2] / gh
	s := FeedbackMatrix(PatchClasses(probs, float32(r.SFRThreshold), patch), gh, gw, r.SFRStd)
	s = Div(s, ReduceAndKeep(s, ReduceMax, 1, 2))
	s = ConvertDType(ConvertDType(s, dtypes.Float16), dtypes.Float32)
	return InsertAxes(s, 1)
}

// PreliminarySegmentation is create_logit_temp's segmentation: the patch tokens' cosine
// similarity to the classes, resized bilinearly (align_corners=False) to the image, refined by
// PAMR on the image (ResCLIPPAMRSteps, dilations 8 and 16), then softmax(scale·logits) over the
// classes: [B, K, H, W].
func PreliminarySegmentation(tokens, classes, images *Node, gh, gw int, scale float64) *Node {
	f := Slice(tokens, AxisRange(), AxisRangeToEnd(1))
	f = Div(f, Sqrt(ReduceAndKeep(Square(f), ReduceSum, -1)))
	logits := Einsum("bne,ke->bkn", f, classes)
	d := logits.Shape().Dimensions
	logits = Reshape(logits, d[0], d[1], gh, gw)
	h, w := images.Shape().Dimensions[2], images.Shape().Dimensions[3]
	g := tokens.Graph()
	logits = Einsum("yh,bkhw->bkyw", Const(g, bilinear.Matrix(gh, h)), logits)
	logits = Einsum("xw,bkyw->bkyx", Const(g, bilinear.Matrix(gw, w)), logits)
	logits = PAMR(images, logits, ResCLIPPAMRSteps, resclipPAMRDilations[:])
	return Softmax(MulScalar(logits, float32(scale)), 1)
}

// PatchClasses is create_patch_matrix: each pixel's most probable class, class 0 where that
// probability is below threshold, then each patch×patch cell's most frequent class (the
// smallest on a tie, as torch.mode): [B, gh·gw] int32, patches row-major.
func PatchClasses(probs *Node, threshold float32, patch int) *Node {
	d := probs.Shape().Dimensions
	b, k, h, w := d[0], d[1], d[2], d[3]
	best := ArgMax(probs, 1)
	low := LessThan(ReduceMax(probs, 1), Scalar(probs.Graph(), probs.DType(), threshold))
	best = Where(low, ZerosLike(best), best)
	counts := Reshape(OneHot(best, k, dtypes.Float32), b, h/patch, patch, w/patch, patch, k)
	counts = ReduceSum(counts, 2, 4) // [B, gh, gw, K]
	return Reshape(ArgMax(counts, -1), b, (h/patch)*(w/patch))
}

// FeedbackMatrix is generate_attention_sfr with delete_same_entity: for patch classes c [B, P]
// on a gh×gw grid, S[i, j] = 1 where c_i = c_j, times exp(−steps/max_steps) where the straight
// path from i to j leaves i's class (SameEntity), each row blurred by a 1-D Gaussian of σ std
// along the row-major patch index (GaussianRowBlur), made non-negative and normalized to sum 1;
// the class token's row and column are 0: [B, 1+P, 1+P].
func FeedbackMatrix(c *Node, gh, gw int, std float64) *Node {
	same := Equal(InsertAxes(c, 2), InsertAxes(c, 1))
	s := ConvertDType(same, dtypes.Float32)
	steps, maxSteps := chebyshevSteps(c.Graph(), gh, gw)
	if maxSteps > 0 {
		decay := Exp(Neg(DivScalar(ConvertDType(steps, dtypes.Float32), float32(maxSteps))))
		s = Where(SameEntity(c, gh, gw), s, Mul(s, InsertAxes(decay, 0)))
	}
	s = MaxScalar(GaussianRowBlur(s, std), float32(0)) // F.relu
	s = Div(s, AddScalar(ReduceAndKeep(s, ReduceSum, -1), float32(1e-8)))
	zero := ScalarZero(c.Graph(), s.DType())
	return Pad(s, zero, PadAxis{}, PadAxis{Start: 1}, PadAxis{Start: 1})
}

// chebyshevSteps is the steps between patches i and j of a gh×gw grid, max(|Δrow|, |Δcol|)
// [P, P] int32, and their maximum.
func chebyshevSteps(g *Graph, gh, gw int) (*Node, int) {
	rows, cols := gridCoords(g, gh, gw, dtypes.Int32)
	dr := Abs(Sub(InsertAxes(rows, 1), InsertAxes(rows, 0)))
	dc := Abs(Sub(InsertAxes(cols, 1), InsertAxes(cols, 0)))
	return Max(dr, dc), max(gh, gw) - 1
}

// gridCoords are each patch's row and column, [P] of dtype.
func gridCoords(g *Graph, gh, gw int, dtype dtypes.DType) (rows, cols *Node) {
	idx := Iota(g, shapeOf(dtypes.Int32, gh*gw), 0)
	rows, cols = DivScalar(idx, gw), ModScalar(idx, gw)
	return ConvertDType(rows, dtype), ConvertDType(cols, dtype)
}

// SameEntity is check_path: whether the straight path from patch i to patch j stays in i's
// class, [B, P, P] bool. As the authors sample it: at t = linspace(0, 1, max_steps+1)[s] (float32,
// torch's linspace), the point round(i·(1−t) + j·t) (half to even) for s = 0..steps(i, j), the
// Chebyshev steps of the pair; so a short pair checks only the first part of its segment.
//
// A sampled point's row depends only on the rows of i and j, its column only on their columns
// (pathCoords, computed once on the host), so each step reads the classes with two gathers of
// whole rows over a [gw, gw, gh, gh, B] layout (column of i, of j, row of i, of j, batch)
// instead of one gather element by element; the layout is made [B, P, P] once at the end.
func SameEntity(c *Node, gh, gw int) *Node {
	g := c.Graph()
	b, p := c.Shape().Dimensions[0], gh*gw
	steps, maxSteps := chebyshevSteps(g, gh, gw) // [P, P] = [gh, gw, gh, gw]
	steps = Reshape(TransposeAllAxes(Reshape(steps, gh, gw, gh, gw), 1, 3, 0, 2), gw, gw, gh, gh, 1)
	byRow := TransposeAllAxes(Reshape(c, b, gh, gw), 1, 2, 0) // [gh, gw, B]
	start := Reshape(TransposeAllAxes(byRow, 1, 0, 2), gw, 1, gh, 1, b)
	var valid *Node
	for s, t := range torchLinspace01(maxSteps + 1) {
		if s == 0 { // the start point itself
			continue
		}
		rows := Const(g, pathCoords(gh, t)) // [gh·gh]: the point's row for each (row of i, row of j)
		cols := Const(g, pathCoords(gw, t))
		onRow := Gather(byRow, InsertAxes(rows, -1))                         // [gh·gh, gw, B]
		on := Gather(TransposeAllAxes(onRow, 1, 0, 2), InsertAxes(cols, -1)) // [gw·gw, gh·gh, B]
		on = Reshape(on, gw, gw, gh, gh, b)
		beyond := LessThan(steps, Scalar(g, dtypes.Int32, s))                         // s past the pair's steps
		ok := LogicalOr(Equal(on, start), BroadcastToDims(beyond, gw, gw, gh, gh, b)) // checked or not sampled
		if valid == nil {
			valid = ok
		} else {
			valid = LogicalAnd(valid, ok)
		}
	}
	if valid == nil { // a 1×1 grid: the path is its start
		return Ones(g, shapeOf(dtypes.Bool, b, p, p))
	}
	return Reshape(TransposeAllAxes(valid, 4, 2, 0, 3, 1), b, p, p)
}

// pathCoords is one coordinate of check_path's sampled point at t for every pair of coordinates
// (a, b) in 0..n-1, a-major: round(a·(1−t) + b·t), rounded half to even, in float32 as the
// authors' torch code computes it (each product rounded, then the sum).
func pathCoords(n int, t float32) []int32 {
	out := make([]int32, n*n)
	for a := range n {
		for b := range n {
			ta := float32(float32(a) * (1 - t)) // explicit conversions keep Go from fusing a multiply-add
			tb := float32(float32(b) * t)
			out[a*n+b] = int32(math.RoundToEven(float64(ta + tb)))
		}
	}
	return out
}

// torchLinspace01 is torch.linspace(0, 1, n) in float32: torch computes the first half from the
// start and the second half from the end.
func torchLinspace01(n int) []float32 {
	if n == 1 {
		return []float32{0}
	}
	step := float32(1) / float32(n-1)
	out := make([]float32, n)
	for i := range out {
		if i < n/2 {
			out[i] = float32(i) * step
		} else {
			out[i] = 1 - float32(n-1-i)*step
		}
	}
	return out
}

// GaussianRowBlur convolves each row of s [B, P, P] along its last axis with the normalized
// 1-D Gaussian of σ std and odd size min(P, int(6σ+1)) (made odd), zero-padded (F.conv1d with
// padding size/2). The convolution is one product with a banded [P, P] matrix (gaussianBand):
// the backend runs a matrix product on every core, a sum of shifted slices on one.
func GaussianRowBlur(s *Node, std float64) *Node {
	p := s.Shape().Dimensions[2]
	band := tensors.FromFlatDataAndDimensions(gaussianBand(p, std), p, p)
	return Einsum("bim,mj->bij", s, Const(s.Graph(), band))
}

// gaussianBand is the zero-padded convolution with gaussianKernel1D as a [P, P] matrix, row m
// holding input m's weight in each output j: kernel[m−j+size/2] within the kernel, 0 past it
// (the zero padding cuts the band at the edges).
func gaussianBand(p int, std float64) []float32 {
	kernel := gaussianKernel1D(p, std)
	half := len(kernel) / 2
	band := make([]float32, p*p)
	for m := range p {
		for j := max(0, m-half); j <= min(p-1, m+half); j++ {
			band[m*p+j] = kernel[m-j+half]
		}
	}
	return band
}

// gaussianKernel1D is generate_attention_sfr's kernel in float32: size min(p, int(6σ+1)), made
// odd, exp(−x²/(2σ²)) at x = −size/2..size/2, divided by its sum.
func gaussianKernel1D(p int, std float64) []float32 {
	size := min(p, int(6*std+1))
	if size%2 == 0 {
		size++
	}
	k := make([]float32, size)
	var sum float32
	for i := range k {
		x := i - size/2
		k[i] = float32(math.Exp(float64(float32(-x*x) / float32(2*std*std))))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	return k
}

// blocksWithRCS runs the unchanged blocks before first, keeping the attention weights of RCS's
// blocks, and returns their output and A_c (nil with NoRCS). RCS blocks at or after first (CLIP
// Surgery's dual path starts 6 blocks before the end) are the original path's: they are run
// once more as plain blocks from first on, for their weights only.
func blocksWithRCS(x *Node, p Params, t Tower, first, layers int, r ResCLIPOptions) (*Node, *Node) {
	if r.NoRCS {
		for i := 0; i < first; i++ {
			x = ResidualBlock(x, p, visualBlock(i), t, false)
		}
		return x, nil
	}
	lo, hi, err := resclipBlocks(r, layers)
	if err != nil {
		panic(err)
	}
	var maps []*Node
	plain := x
	for i := 0; i <= max(hi, first-1); i++ {
		if i >= lo && i <= hi {
			var w *Node
			plain, w = residualBlockWithAttention(plain, p, visualBlock(i), t)
			maps = append(maps, w)
		} else {
			plain = ResidualBlock(plain, p, visualBlock(i), t, false)
		}
		if i == first-1 {
			x = plain
		}
	}
	return x, ResidualCrossCorrelation(maps)
}

// lastSurgeryBlockRemolded is LastSurgeryBlock with the modifier's remold of the new path's
// attention (surgeryAttention's pair of projections); the class token is the original path's.
func lastSurgeryBlockRemolded(xNew, xOri *Node, t vitTail) (*Node, *Node) {
	prefix, tw := t.last(), t.tower
	q, k, v := SplitQKVHeads(LayerNorm(xOri, t.p, prefix+".ln_1", tw.Eps), t.p, prefix+".attn", tw.Heads)
	a, b := surgeryPair(q, k, v, t.opt.Attention)
	cls := ClassRowBlock(xOri, q, k, v, t.p, prefix, tw)
	return Add(xNew, Linear(t.remold.attend(v, nil, scaledScores(a, b)), t.p, prefix+".attn.out_proj")), cls
}
