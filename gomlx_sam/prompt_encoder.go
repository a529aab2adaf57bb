package sam

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Sparse prompt token labels. Points carry the user's label (1 foreground, 0 background, -1
// ignored); box corners are tokens with the labels 2 (top-left) and 3 (bottom-right), as
// upstream adds point_embeddings[2] and [3] to them. labelPad is the not-a-point token.
const (
	labelPad        = -1
	labelBackground = 0
	labelForeground = 1
	labelBoxTL      = 2
	labelBoxBR      = 3
)

// RandomFourierPE is PositionEmbeddingRandom._pe_encoding: coords [..., 2] already divided by
// the input size (0..1) → [..., 2F] = [sin(2π·v), cos(2π·v)] with v = (2u − 1)·G and G the
// gaussian matrix [2, F]. The float32 operations are in upstream's order.
func RandomFourierPE(p Params, unit *Node) *Node {
	g := p.Get("prompt_encoder.pe_layer.positional_encoding_gaussian_matrix")
	v := AddScalar(MulScalar(unit, 2), -1)
	dims := v.Shape().Dimensions
	v = Einsum("ni,if->nf", Reshape(v, -1, 2), g)
	v = Reshape(v, append(dims[:len(dims)-1:len(dims)-1], -1)...)
	v = MulScalar(v, 2*math.Pi)
	return Concatenate([]*Node{Sin(v), Cos(v)}, -1)
}

// DensePEGraph is PromptEncoder.get_dense_pe: the PE of every cell centre of the image
// embedding grid, ((col+0.5)/G, (row+0.5)/G), as [1, C, G, G] (NCHW like upstream).
func DensePEGraph(c Config, p Params, g *Graph) *Node {
	return InsertAxes(TransposeAllDims(densePEGrid(c, p, g), 2, 0, 1), 0)
}

// densePEGrid is the dense PE channels-last, [G, G, C]: the layout the decoder consumes.
func densePEGrid(c Config, p Params, g *Graph) *Node {
	n := c.GridSize()
	// [row, col, slot]: slot 0 holds x = col, slot 1 holds y = row (upstream stacks (x, y)).
	sh := shapes.Make(dtypes.Float32, n, n, 2)
	row, col, slot := Iota(g, sh, 0), Iota(g, sh, 1), Iota(g, sh, 2)
	xy := Where(Equal(slot, ZerosLike(slot)), col, row)
	// Upstream: cumsum of ones − 0.5, then / G, both in float32.
	unit := DivScalar(AddScalar(OnePlus(xy), -0.5), float64(n))
	return RandomFourierPE(p, unit)
}

// SparseEmbeddingsGraph is PromptEncoder._embed_points and _embed_boxes for tokens already
// laid out by LayoutSparseTokens: coords [1, T, 2] in input-frame pixels with upstream's +0.5
// applied, labels [1, T] int32 in {-1, 0, 1, 2, 3}. Pad tokens (label −1) get a zero PE plus
// not_a_point_embed; the others get their PE plus point_embeddings[label]. Output [1, T, C].
func SparseEmbeddingsGraph(c Config, p Params, coords, labels *Node) *Node {
	unit := DivScalar(coords, float64(c.ImageSize))
	pe := RandomFourierPE(p, unit)
	isPad := ExpandAxes(Equal(labels, ConstAs(labels, labelPad)), -1)
	pe = Where(BroadcastToShape(isPad, pe.Shape()), ZerosLike(pe), pe)

	// One row per label value −1..3; a one-hot product picks it (exact: one non-zero term).
	table := Concatenate([]*Node{
		p.Get("prompt_encoder.not_a_point_embed.weight"),
		p.Get("prompt_encoder.point_embeddings.0.weight"),
		p.Get("prompt_encoder.point_embeddings.1.weight"),
		p.Get("prompt_encoder.point_embeddings.2.weight"),
		p.Get("prompt_encoder.point_embeddings.3.weight"),
	}, 0)
	onehot := OneHot(AddScalar(labels, 1), 5, dtypes.Float32)
	return Add(pe, Einsum("btl,lc->btc", onehot, table))
}

// NoMaskDenseGraph is the dense prompt without a mask input: no_mask_embed broadcast to
// [1, C, G, G].
func NoMaskDenseGraph(c Config, p Params, g *Graph) *Node {
	n := c.GridSize()
	e := Reshape(p.Get("prompt_encoder.no_mask_embed.weight"), 1, -1, 1, 1)
	return BroadcastToDims(e, 1, c.PromptEmbedDim, n, n)
}

// MaskDenseGraph is PromptEncoder._embed_masks: mask [1, 1, 4G, 4G] → Conv2d k2s2 →
// LayerNorm2d → GELU → Conv2d k2s2 → LayerNorm2d → GELU → Conv2d 1×1 → [1, C, G, G]. The
// strided convolutions are patch einsums (exact, fast on the go backend).
func MaskDenseGraph(c Config, p Params, mask *Node) *Node {
	const pre = "prompt_encoder.mask_downscaling."
	x := PatchConv2d(mask, p, pre+"0")
	x = GELU(LayerNorm2d(x, p, pre+"1", maskNormEps))
	x = PatchConv2d(x, p, pre+"3")
	x = GELU(LayerNorm2d(x, p, pre+"4", maskNormEps))
	return PatchConv2d(x, p, pre+"6")
}

// maskNormEps is LayerNorm2d's default eps, used by the mask downscaling and output upscaling.
const maskNormEps = 1e-6

// PromptEmbeddings holds the prompt encoder's outputs for one prompt: Sparse [1, T, C], Dense
// [1, C, G, G].
type PromptEmbeddings struct {
	Sparse *Features
	Dense  *Features
}

// promptPrefixes are the parameters the prompt encoder graphs read.
var promptPrefixes = []string{"prompt_encoder."}

// EmbedPrompt runs the prompt encoder on sparse tokens laid out by LayoutSparseTokens and an
// optional mask input (nil, or 4G×4G low-res logits). The executable is cached per (token
// count, has-mask).
func (m *Model) EmbedPrompt(tok *SparseTokens, mask []float32) (*PromptEmbeddings, error) {
	c := m.Config
	if tok == nil || tok.Len() == 0 || len(tok.Coords) != 2*tok.Len() {
		return nil, fmt.Errorf("sam: sparse tokens need T ≥ 1 labels and 2·T coordinates (LayoutSparseTokens makes them)")
	}
	if mask != nil {
		if err := checkMaskInput(mask, c.MaskInputSize()); err != nil {
			return nil, err
		}
	}
	key, build := "prompt", func(p Params, in []*Node) []*Node {
		return []*Node{SparseEmbeddingsGraph(c, p, in[0], in[1]), NoMaskDenseGraph(c, p, in[0].Graph())}
	}
	args := []any{tok.coordsTensor(), tok.labelsTensor()}
	if mask != nil {
		key, build = "prompt_mask", func(p Params, in []*Node) []*Node {
			return []*Node{SparseEmbeddingsGraph(c, p, in[0], in[1]), MaskDenseGraph(c, p, in[2])}
		}
		s := c.MaskInputSize()
		args = append(args, tensors.FromFlatDataAndDimensions(mask, 1, 1, s, s))
	}
	out, err := m.program(key, promptPrefixes, build).run(args...)
	if err != nil {
		return nil, err
	}
	sparse, err := toFeatures(out[0])
	if err != nil {
		return nil, err
	}
	dense, err := toFeatures(out[1])
	if err != nil {
		return nil, err
	}
	return &PromptEmbeddings{Sparse: sparse, Dense: dense}, nil
}

// DensePE runs DensePEGraph: the decoder's image positional encoding [1, C, G, G].
func (m *Model) DensePE() (*Features, error) {
	out, err := m.runPE("dense_pe", DensePEGraph)
	if err != nil {
		return nil, err
	}
	return toFeatures(out)
}

// densePEGridValues runs densePEGrid: the image PE channels-last [G, G, C], as the decoder
// takes it.
func (m *Model) densePEGridValues() (*tensors.Tensor, error) {
	return m.runPE("dense_pe_grid", densePEGrid)
}

// runPE runs a graph of the image positional encoding, which takes no input but the prompt
// encoder's weights, as the cached program key.
func (m *Model) runPE(key string, graph func(Config, Params, *Graph) *Node) (*tensors.Tensor, error) {
	c := m.Config
	out, err := m.program(key, promptPrefixes, func(p Params, in []*Node) []*Node {
		return []*Node{graph(c, p, p.Get("prompt_encoder.no_mask_embed.weight").Graph())}
	}).run()
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// MaskInputSize is the side of the mask input and of the low-res logits: 4× the embedding
// grid (256 for SAM).
func (c Config) MaskInputSize() int { return 4 * c.GridSize() }
