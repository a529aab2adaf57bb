package sam

import (
	"fmt"
	"math"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	. "github.com/gomlx/gomlx/core/graph"
)

// Params holds the model's tensors inside one graph, by state-dict name
// ("image_encoder.blocks.0.attn.qkv.weight", ...), as the Model stores them: the state dict's
// layout, except the Linear weights (isDenseWeight), which are transposed to [in, out].
type Params = modelkit.Params

// Linear is torch's nn.Linear over the last axis: x Wᵀ + b, Wᵀ stored [in, out]
// (modelkit.Dense). The bias is used when prefix+".bias" is in p.
func Linear(x *Node, p Params, prefix string) *Node { return modelkit.Dense(x, p, prefix) }

// LayerNorm is torch's nn.LayerNorm over the last axis (biased variance) with the given eps:
// 1e-6 in the image encoder, 1e-5 in the two-way transformer.
func LayerNorm(x *Node, p Params, prefix string, eps float64) *Node {
	return modelkit.LayerNorm(x, p, prefix, eps)
}

// LayerNorm2d is SAM's LayerNorm2d for NCHW tensors: normalise over the channel axis 1 (biased
// variance), then scale and shift per channel. Written out because nn.LayerNorm broadcasts
// gamma from the left, which only fits a trailing axis. For channels-last data use LayerNorm.
func LayerNorm2d(x *Node, p Params, prefix string, eps float64) *Node {
	c := x.Shape().Dimensions[1]
	u := ReduceAndKeep(x, ReduceMean, 1)
	d := Sub(x, u)
	s := ReduceAndKeep(Square(d), ReduceMean, 1)
	y := Div(d, Sqrt(AddScalar(s, eps)))
	bshape := make([]int, x.Rank())
	for i := range bshape {
		bshape[i] = 1
	}
	bshape[1] = c
	y = Mul(y, Reshape(p.Get(prefix+".weight"), bshape...))
	return Add(y, Reshape(p.Get(prefix+".bias"), bshape...))
}

// GELU is torch's default (exact) GELU: 0.5·x·(1 + erf(x/√2)). SAM uses it everywhere except
// the two-way transformer's MLP (ReLU); the tanh approximation would miss the 1e-4 tolerance.
func GELU(x *Node) *Node {
	return Mul(MulScalar(x, 0.5), OnePlus(Erf(MulScalar(x, 1/math.Sqrt2))))
}

// ReLU is max(x, 0), the two-way transformer's and the mask decoder MLPs' activation.
func ReLU(x *Node) *Node { return Max(x, ZerosLike(x)) }

// MLPBlock is SAM's MLPBlock: lin2(act(lin1(x))). The encoder uses GELU, the two-way
// transformer ReLU.
func MLPBlock(x *Node, p Params, prefix string, act func(*Node) *Node) *Node {
	return Linear(act(Linear(x, p, prefix+".lin1")), p, prefix+".lin2")
}

// MLP is the mask decoder's MLP (IoU head, hypernetworks): numLayers Linears prefix.layers.i
// with ReLU between them, and a sigmoid on the output when sigmoidOutput is set (SAM's released
// models never set it).
func MLP(x *Node, p Params, prefix string, numLayers int, sigmoidOutput bool) *Node {
	for i := range numLayers {
		x = Linear(x, p, fmt.Sprintf("%s.layers.%d", prefix, i))
		if i < numLayers-1 {
			x = ReLU(x)
		}
	}
	if sigmoidOutput {
		x = Sigmoid(x)
	}
	return x
}

// PatchConv2d is a Conv2d whose stride equals its kernel (no padding) on NCHW input, written as
// reshape + einsum (exact, and much faster than a convolution on the go backend). The weight is
// [out, in, k, k]; the bias is used when present. Output NCHW [B, out, H/k, W/k]; H and W must
// be multiples of k. A 1×1 convolution is the case k = 1.
func PatchConv2d(x *Node, p Params, prefix string) *Node {
	w := p.Get(prefix + ".weight")
	k := w.Shape().Dimensions[2]
	d := x.Shape().Dimensions
	b, c, gh, gw := d[0], d[1], d[2]/k, d[3]/k
	y := Einsum("bcyixj,ocij->boyx", Reshape(x, b, c, gh, k, gw, k), w)
	if bias := p.Optional(prefix + ".bias"); bias != nil {
		y = Add(y, Reshape(bias, 1, -1, 1, 1))
	}
	return y
}
