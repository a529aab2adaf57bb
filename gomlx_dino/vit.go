package dino

import (
	"math"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/layers/activation"
)

// Params holds the model's tensors inside one graph, by canonical (authors') name, as the Model
// stores them: the state dict's layout, except the Linear weights, which are [in, out]
// (modelkit.Dense).
type Params = modelkit.Params

// EncodeGraph is the backbone on normalised images [B, 3, H, W] (H, W multiples of the patch):
// every token after the final LayerNorm, [B, 1+R+gh·gw, Width] — the class token, the R register
// tokens, then the patch tokens in row-major grid order; DINO's get_intermediate_layers(x, 1)[0],
// DINOv2's norm(forward_features(x)["x_prenorm"]).
func EncodeGraph(c Config, p Params, images *Node) *Node {
	x := InputTokens(c, p, images)
	for i := range c.Depth {
		x = Block(c, p, blockName(i), x)
	}
	return modelkit.LayerNorm(x, p, "norm", c.Eps)
}

// SplitTokens cuts EncodeGraph's output into the class token [B, W], the register tokens
// [B, R, W] (nil without registers) and the patch tokens [B, gh·gw, W].
func SplitTokens(c Config, tokens *Node) (class, registers, patches *Node) {
	class = Squeeze(Slice(tokens, AxisRange(), AxisRange(0, 1)), 1)
	if c.Registers > 0 {
		registers = Slice(tokens, AxisRange(), AxisRange(1, 1+c.Registers))
	}
	return class, registers, Slice(tokens, AxisRange(), AxisRangeToEnd(1+c.Registers))
}

// InputTokens is the input to the first block (prepare_tokens / prepare_tokens_with_masks without
// masks): patch embedding, class token, the position table resized for the grid
// (PositionalEmbedding) added to both, then the register tokens inserted after the class token
// (DINOv2: registers carry no position).
func InputTokens(c Config, p Params, images *Node) *Node {
	d := images.Shape().Dimensions
	b, gh, gw := d[0], d[2]/c.PatchSize, d[3]/c.PatchSize
	x := PatchEmbed(p, images, c.PatchSize)
	cls := BroadcastToDims(p.Get("cls_token"), b, 1, c.Width)
	x = Concatenate([]*Node{cls, x}, 1)
	x = Add(x, PositionalEmbedding(c, p.Get("pos_embed"), gh, gw))
	if c.Registers == 0 {
		return x
	}
	regs := BroadcastToDims(p.Get("register_tokens"), b, c.Registers, c.Width)
	return Concatenate([]*Node{Slice(x, AxisRange(), AxisRange(0, 1)), regs, Slice(x, AxisRange(), AxisRangeToEnd(1))}, 1)
}

// PatchEmbed is the Conv2d with kernel = stride = patch (patch_embed.proj) flattened to tokens
// [B, gh·gw, W] in row-major grid order, written as reshape + einsum (exact, and much faster than
// a convolution on the pure-Go backend).
func PatchEmbed(p Params, images *Node, patch int) *Node {
	w := p.Get("patch_embed.proj.weight")
	d := images.Shape().Dimensions
	b, ch, gh, gw := d[0], d[1], d[2]/patch, d[3]/patch
	x := Einsum("bcyixj,ecij->byxe", Reshape(images, b, ch, gh, patch, gw, patch), w)
	x = Add(x, Reshape(p.Get("patch_embed.proj.bias"), 1, 1, 1, -1))
	return Reshape(x, b, gh*gw, w.Shape().Dimensions[0])
}

// Block is one transformer block (DINO's Block, DINOv2's NestedTensorBlock in inference):
// x += ls1(attn(norm1(x))); x += ls2(ffn(norm2(x))), the LayerScales only with
// Config.LayerScale.
func Block(c Config, p Params, prefix string, x *Node) *Node {
	x = Add(x, LayerScale(c, p, prefix+".ls1", Attention(c, p, prefix+".attn", modelkit.LayerNorm(x, p, prefix+".norm1", c.Eps))))
	return Add(x, LayerScale(c, p, prefix+".ls2", FeedForward(c, p, prefix+".mlp", modelkit.LayerNorm(x, p, prefix+".norm2", c.Eps))))
}

// LayerScale is DINOv2's LayerScale, x·gamma per channel; the identity without
// Config.LayerScale (DINO v1, init_values=None).
func LayerScale(c Config, p Params, prefix string, x *Node) *Node {
	if !c.LayerScale {
		return x
	}
	return Mul(x, Reshape(p.Get(prefix+".gamma"), 1, 1, -1))
}

// FeedForward is the block's FFN: Mlp, fc2(GELU(fc1(x))) with the exact GELU, or SwiGLU.
func FeedForward(c Config, p Params, prefix string, x *Node) *Node {
	if c.FFN == FFNSwiGLU {
		return SwiGLU(p, prefix, x)
	}
	return modelkit.Dense(activation.Gelu(modelkit.Dense(x, p, prefix+".fc1")), p, prefix+".fc2")
}

// SwiGLU is DINOv2's SwiGLUFFN (SwiGLUFFNFused without xformers): x12 = w12(x) split in halves
// x1 | x2 along the channels (chunk(2, dim=-1)), w3(SiLU(x1)·x2).
func SwiGLU(p Params, prefix string, x *Node) *Node {
	x12 := modelkit.Dense(x, p, prefix+".w12")
	d := x12.Shape().Dimensions
	h := d[len(d)-1] / 2
	last := len(d) - 1
	x1 := SliceAxis(x12, last, AxisRange(0, h))
	x2 := SliceAxis(x12, last, AxisRange(h, 2*h))
	return modelkit.Dense(Mul(activation.Swish(x1), x2), p, prefix+".w3")
}

// Attention is the blocks' multi-head self-attention: qkv projection [B, N, 3, heads, d],
// softmax((q·d^−½) kᵀ) v per head, heads concatenated, proj. Heads are attended in groups within
// Config.ScoreBudget (modelkit.InHeadGroups): each head's result is the same.
func Attention(c Config, p Params, prefix string, x *Node) *Node {
	d := x.Shape().Dimensions
	b, n, w := d[0], d[1], d[2]
	hd := w / c.Heads
	qkv := Reshape(modelkit.Dense(x, p, prefix+".qkv"), b, n, 3, c.Heads, hd)
	qkv = TransposeAllAxes(qkv, 2, 0, 3, 1, 4) // [3, B, heads, N, hd]
	scale := 1 / math.Sqrt(float64(hd))
	out := modelkit.InHeadGroups(x.Graph(), c.Heads, 4*b*n*n, c.ScoreBudget, func(h0, h1 int) *Node {
		part := func(i int) *Node {
			return Reshape(Slice(qkv, AxisElem(i), AxisRange(), AxisRange(h0, h1)), b, h1-h0, n, hd)
		}
		scores := Einsum("bhqd,bhkd->bhqk", MulScalar(part(0), scale), part(1))
		return Einsum("bhqk,bhkd->bhqd", Softmax(scores, -1), part(2))
	})
	out = Reshape(TransposeAllAxes(out, 0, 2, 1, 3), b, n, w) // channel = head·hd + d
	return modelkit.Dense(out, p, prefix+".proj")
}
