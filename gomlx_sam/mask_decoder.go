package sam

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// The mask decoder works without the batch axis: tokens [Q, C], image keys [N, C] with
// N = G·G in row-major order (n = row·G + col), as upstream flattens BCHW to B·HW·C.

// DecoderAttention is SAM's Attention module: q/k/v projections to an inner width (C for
// self-attention, C/downsample for cross-attention), heads of width inner/heads,
// softmax(q·kᵀ/√d)·v per head, heads concatenated, out_proj back to C. q [Q, C], k and v
// [K, C].
func DecoderAttention(c Config, p Params, prefix string, q, k, v *Node) *Node {
	q = Linear(q, p, prefix+".q_proj")
	k = Linear(k, p, prefix+".k_proj")
	v = Linear(v, p, prefix+".v_proj")
	inner := q.Shape().Dimensions[1]
	h := c.TransformerHeads
	d := inner / h
	split := func(x *Node) *Node { return Reshape(x, x.Shape().Dimensions[0], h, d) }
	q, k, v = split(q), split(k), split(v)
	logits := DivScalar(Einsum("qhd,khd->hqk", q, k), math.Sqrt(float64(d)))
	w := Softmax(logits, -1)
	out := Einsum("hqk,khd->qhd", w, v)
	return Linear(Reshape(out, out.Shape().Dimensions[0], inner), p, prefix+".out_proj")
}

// TwoWayBlock is TwoWayAttentionBlock: token self-attention, token→image cross-attention,
// token MLP (ReLU), image→token cross-attention, each followed by a LayerNorm. The first
// layer's self-attention sees neither the token PE nor a residual (skip_first_layer_pe).
func TwoWayBlock(c Config, p Params, prefix string, skipFirstPE bool, queries, keys, queryPE, keyPE *Node) (*Node, *Node) {
	norm := func(x *Node, i int) *Node { return LayerNorm(x, p, fmt.Sprintf("%s.norm%d", prefix, i), c.DecoderEps) }
	if skipFirstPE {
		queries = DecoderAttention(c, p, prefix+".self_attn", queries, queries, queries)
	} else {
		q := Add(queries, queryPE)
		queries = Add(queries, DecoderAttention(c, p, prefix+".self_attn", q, q, queries))
	}
	queries = norm(queries, 1)

	q, k := Add(queries, queryPE), Add(keys, keyPE)
	queries = norm(Add(queries, DecoderAttention(c, p, prefix+".cross_attn_token_to_image", q, k, keys)), 2)

	queries = norm(Add(queries, MLPBlock(queries, p, prefix+".mlp", ReLU)), 3)

	q = Add(queries, queryPE)
	keys = norm(Add(keys, DecoderAttention(c, p, prefix+".cross_attn_image_to_token", k, q, queries)), 4)
	return queries, keys
}

// TwoWayTransformerGraph is TwoWayTransformer: the layers, then a final token→image attention
// and norm_final_attn. image and imagePE are [N, C], tokens [Q, C] (also the query PE).
// Returns the tokens (hs) and the image keys.
func TwoWayTransformerGraph(c Config, p Params, image, imagePE, tokens *Node) (hs, keys *Node) {
	const pre = "mask_decoder.transformer"
	queries, keys := tokens, image
	for i := range c.TransformerDepth {
		queries, keys = TwoWayBlock(c, p, fmt.Sprintf("%s.layers.%d", pre, i), i == 0, queries, keys, tokens, imagePE)
	}
	q, k := Add(queries, tokens), Add(keys, imagePE)
	queries = Add(queries, DecoderAttention(c, p, pre+".final_attn_token_to_image", q, k, keys))
	return LayerNorm(queries, p, pre+".norm_final_attn", c.DecoderEps), keys
}

// OutputUpscalingGraph is output_upscaling: ConvTranspose2d k2s2 → LayerNorm2d → GELU →
// ConvTranspose2d k2s2 → GELU, on keys [N, C] viewed as [G, G, C]. It stays channels-last
// (the keys' layout; LayerNorm2d is then a LayerNorm over the last axis), which saves the
// transposes of NCHW on the go backend. Output [4G, 4G, C/8].
func OutputUpscalingGraph(c Config, p Params, keys *Node) *Node {
	n := c.GridSize()
	x := Reshape(keys, n, n, c.TransformerDim)
	x = convTranspose2x2NHWC(x, p, "mask_decoder.output_upscaling.0")
	x = GELU(LayerNorm(x, p, "mask_decoder.output_upscaling.1", maskNormEps))
	return GELU(convTranspose2x2NHWC(x, p, "mask_decoder.output_upscaling.3"))
}

// convTranspose2x2NHWC is a ConvTranspose2d with stride = kernel on a channels-last image
// [H, W, Cin]: every pixel writes its own k×k block, so it is one einsum with torch's weight
// [Cin, Cout, k, k] (as [Cin, k, k, Cout]) and an interleaving reshape. Output [H·k, W·k, Cout].
func convTranspose2x2NHWC(x *Node, p Params, prefix string) *Node {
	w := TransposeAllDims(p.Get(prefix+".weight"), 0, 2, 3, 1) // [Cin, k, k, Cout]
	k, o := w.Shape().Dimensions[1], w.Shape().Dimensions[3]
	h, wd := x.Shape().Dimensions[0], x.Shape().Dimensions[1]
	y := Einsum("yxc,cijo->yxijo", x, w)
	y = Reshape(TransposeAllDims(y, 0, 2, 1, 3, 4), h*k, wd*k, o)
	return Add(y, Reshape(p.Get(prefix+".bias"), 1, 1, o))
}

// DecoderOutputs are MaskDecoder.predict_masks' results for every mask token (before the
// multimask selection) and the intermediates the parity tests check.
type DecoderOutputs struct {
	Logits  *Features // [1, M, 4G, 4G], M = NumMultimaskOutputs + 1
	IoU     *Features // [1, M], raw IoU head (no sigmoid)
	HS      *Features // [1, 1+M+T, C], tokens after the transformer
	HyperIn *Features // [1, M, C/8]
}

// MaskDecoderGraph is MaskDecoder.predict_masks for one image: embedding and dense [1, C, G,
// G] (NCHW as upstream), imagePE channels-last [G, G, C] (densePEGrid), sparse [1, T, C]. Returns logits [1, M, 4G, 4G], iou [1, M], hs
// [1, 1+M+T, C] and hyper_in [1, M, C/8].
func MaskDecoderGraph(c Config, p Params, embedding, imagePE, sparse, dense *Node) []*Node {
	cd := c.TransformerDim
	output := Concatenate([]*Node{p.Get("mask_decoder.iou_token.weight"), p.Get("mask_decoder.mask_tokens.weight")}, 0)
	tokens := Concatenate([]*Node{output, Reshape(sparse, -1, cd)}, 0)
	src := Transpose(Reshape(Add(embedding, dense), cd, -1), 0, 1) // [1,C,G,G] → [N, C]

	hs, keys := TwoWayTransformerGraph(c, p, src, Reshape(imagePE, -1, cd), tokens)
	up := OutputUpscalingGraph(c, p, keys) // [4G, 4G, C/8]

	m := c.NumMultimaskOutputs + 1
	hyper := make([]*Node, m)
	for k := range m {
		tok := SliceAxis(hs, 0, AxisElem(1+k))
		hyper[k] = MLP(tok, p, fmt.Sprintf("mask_decoder.output_hypernetworks_mlps.%d", k), 3, false)
	}
	hyperIn := Concatenate(hyper, 0) // [M, C/8]
	logits := InsertAxes(Einsum("mc,hwc->mhw", hyperIn, up), 0)
	iou := MLP(SliceAxis(hs, 0, AxisElem(0)), p, "mask_decoder.iou_prediction_head", c.IoUHeadDepth, false)
	return []*Node{logits, iou, InsertAxes(hs, 0), InsertAxes(hyperIn, 0)}
}

// decoderPrefixes are the parameters the decoder program reads.
var decoderPrefixes = []string{"mask_decoder."}

// DecodeMasks runs the mask decoder on an image embedding [1, C, G, G] and prompt embeddings.
// The executable is compiled once per token count and cached; the mask input only changes the
// prompt encoder's executable.
func (m *Model) DecodeMasks(embedding *Features, prompt *PromptEmbeddings) (*DecoderOutputs, error) {
	c := m.Config
	g := c.GridSize()
	if err := checkFeatures("image embedding", embedding, 1, c.TransformerDim, g, g); err != nil {
		return nil, err
	}
	if prompt == nil || prompt.Sparse == nil || prompt.Dense == nil {
		return nil, fmt.Errorf("sam: no prompt embeddings")
	}
	if err := checkFeatures("dense prompt embedding", prompt.Dense, 1, c.TransformerDim, g, g); err != nil {
		return nil, err
	}
	if len(prompt.Sparse.Shape) != 3 || prompt.Sparse.Shape[0] != 1 || prompt.Sparse.Shape[2] != c.TransformerDim {
		return nil, fmt.Errorf("sam: sparse prompt embedding of shape %v, want [1 T %d]", prompt.Sparse.Shape, c.TransformerDim)
	}
	if err := checkFeatures("sparse prompt embedding", prompt.Sparse, prompt.Sparse.Shape...); err != nil {
		return nil, err
	}
	pr := m.program("decoder", decoderPrefixes, func(p Params, in []*Node) []*Node {
		// The image PE depends on the weights only. Computing it inside every run costs G·G·C
		// sines and cosines (a quarter of a prediction on the go backend), so it is computed
		// once per compilation by its own program and baked in as a constant.
		pe, err := m.densePEGridValues()
		if err != nil {
			panic(err)
		}
		return MaskDecoderGraph(c, p, in[0], ConstTensor(in[0].Graph(), pe), in[1], in[2])
	})
	out, err := pr.run(featureTensor(embedding), featureTensor(prompt.Sparse), featureTensor(prompt.Dense))
	if err != nil {
		return nil, err
	}
	res := make([]*Features, len(out))
	for i, t := range out {
		if res[i], err = toFeatures(t); err != nil {
			return nil, err
		}
	}
	return &DecoderOutputs{Logits: res[0], IoU: res[1], HS: res[2], HyperIn: res[3]}, nil
}

// checkFeatures reports a clear error when f is missing or not of the given shape.
func checkFeatures(what string, f *Features, dims ...int) error {
	n := 1
	for _, d := range dims {
		n *= d
	}
	switch {
	case f == nil:
		return fmt.Errorf("sam: no %s", what)
	case fmt.Sprint(f.Shape) != fmt.Sprint(dims):
		return fmt.Errorf("sam: %s of shape %v, want %v", what, f.Shape, dims)
	case len(f.Data) != n:
		return fmt.Errorf("sam: %s has %d values for shape %v", what, len(f.Data), f.Shape)
	}
	return nil
}

// featureTensor wraps host data as a program input (callers validate the shape first).
func featureTensor(f *Features) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(f.Data, f.Shape...)
}
