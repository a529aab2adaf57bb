package clip

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
	timage "github.com/gomlx/gomlx/core/tensors/images"
)

// The ModifiedResNet image tower, NCHW as in PyTorch (kernels [out, in, kh, kw]).

// conv2d is nn.Conv2d without bias; 1×1 kernels with stride 1 are einsums (faster on the go backend).
func conv2d(x *Node, p Params, name string, stride, pad int) *Node {
	k := p.Get(name + ".weight")
	kd := k.Shape().Dimensions
	if kd[2] == 1 && kd[3] == 1 && stride == 1 && pad == 0 {
		return Einsum("bchw,oc->bohw", x, Reshape(k, kd[0], kd[1]))
	}
	return Convolve(x, k).ChannelsAxis(timage.ChannelsFirst).Strides(stride).
		PaddingPerDim([][2]int{{pad, pad}, {pad, pad}}).Done()
}

// batchNorm is BatchNorm2d in eval mode: (x - mean) / sqrt(var + 1e-5) * w + b.
func batchNorm(x *Node, p Params, name string) *Node {
	ch := func(n *Node) *Node { return Reshape(n, 1, n.Shape().Dimensions[0], 1, 1) }
	scale := Div(p.Get(name+".weight"), Sqrt(AddScalar(p.Get(name+".running_var"), 1e-5)))
	x = Mul(Sub(x, ch(p.Get(name+".running_mean"))), ch(scale))
	return Add(x, ch(p.Get(name+".bias")))
}

func avgPool(x *Node, n int) *Node {
	if n == 1 {
		return x
	}
	return MeanPool(x).ChannelsAxis(timage.ChannelsFirst).Window(n).Strides(n).NoPadding().Done()
}

// bottleneck is ModifiedResNet's Bottleneck: anti-aliased strided conv (avgpool before conv3
// and in the downsample branch).
func bottleneck(x *Node, p Params, prefix string, stride int, downsample bool) *Node {
	out := relu(batchNorm(conv2d(x, p, prefix+".conv1", 1, 0), p, prefix+".bn1"))
	out = relu(batchNorm(conv2d(out, p, prefix+".conv2", 1, 1), p, prefix+".bn2"))
	out = avgPool(out, stride)
	out = batchNorm(conv2d(out, p, prefix+".conv3", 1, 0), p, prefix+".bn3")
	identity := x
	if downsample {
		identity = batchNorm(conv2d(avgPool(x, stride), p, prefix+".downsample.0", 1, 0), p, prefix+".downsample.1")
	}
	return relu(Add(out, identity))
}

func encodeResNetGraph(c Config, p Params, images *Node, opt ImageOptions) *Node {
	x := relu(batchNorm(conv2d(images, p, "visual.conv1", 2, 1), p, "visual.bn1"))
	x = relu(batchNorm(conv2d(x, p, "visual.conv2", 1, 1), p, "visual.bn2"))
	x = relu(batchNorm(conv2d(x, p, "visual.conv3", 1, 1), p, "visual.bn3"))
	x = avgPool(x, 2)
	for stage := 0; stage < 4; stage++ {
		stride := 1
		if stage > 0 {
			stride = 2
		}
		for i := 0; i < c.ResNetLayers[stage]; i++ {
			_, hasDown := p[fmt.Sprintf("visual.layer%d.%d.downsample.0.weight", stage+1, i)]
			s := 1
			if i == 0 {
				s = stride
			}
			x = bottleneck(x, p, fmt.Sprintf("visual.layer%d.%d", stage+1, i), s, hasDown)
		}
	}
	return AttentionPoolGraph(c, p, x, opt)
}

// AttentionPoolGraph is the ResNet's AttentionPool2d returning all tokens [B, 1+HW, EmbedDim]:
// tokens = [mean of the grid] + grid (row-major), plus the (resized) positional embedding, then
// multi-head attention with q/k/v_proj and c_proj, the attention as opt.Method's descriptor
// says (its pool: v-v on every token for architecture surgery, the pool's own q-k for raw).
func AttentionPoolGraph(c Config, p Params, x *Node, opt ImageOptions) *Node {
	d := x.Shape().Dimensions
	b, ch, h, w := d[0], d[1], d[2], d[3]
	tokens := TransposeAllDims(Reshape(x, b, ch, h*w), 0, 2, 1) // [B, HW, C]
	tokens = Concatenate([]*Node{ReduceAndKeep(tokens, ReduceMean, 1), tokens}, 1)
	pos := ResizePositionalEmbedding(p.Get("visual.attnpool.positional_embedding"), c.NativeGrid, h, w)
	tokens = Add(tokens, InsertAxes(pos, 0))
	heads := c.VisionHeads
	split := func(n *Node) *Node { return Reshape(n, b, 1+h*w, heads, ch/heads) }
	method := mustMethod(opt.Method)
	if err := method.checkFor(c); err != nil {
		panic(err)
	}
	if method.pool == nil {
		panic(fmt.Errorf("clip: method %q is not ViT-only but its descriptor has no ResNet attention pool", method.spec.Name))
	}
	project := func(which string) *Node { return split(Linear(tokens, p, "visual.attnpool."+which+"_proj")) }
	return Linear(method.pool(project), p, "visual.attnpool.c_proj")
}

func relu(x *Node) *Node { return Max(x, ZerosLike(x)) }
