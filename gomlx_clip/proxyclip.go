package clip

import (
	"cmp"
	"fmt"
	"math"

	"github.com/clipsurgery/clipsurgery/internal/bilinear"
	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// ProxyCLIP (Lan et al., ECCV 2024; mc-lan/ProxyCLIP open_clip/transformer.py custom_attn and
// proxyclip_segmentor.py forward_feature): CLIP's last block attends with the patch affinities of
// a vision foundation model (DINO, DINOv2, SAM's image encoder), which this package does not run:
// their patch features come in as an input beside the pixels (ImageOptions.Proxy), on the VFM's
// own grid, and the output tokens lie on that grid.

// Defaults of ProxyCLIPSegmentation (beta=1.2, gamma=3.0).
const (
	DefaultProxyBeta  = 1.2
	DefaultProxyGamma = 3.0
)

// MaxProxyTokens bounds the VFM grid (H·W) ProxyCLIP attends over: its affinity is an
// [H·W, H·W] matrix per image (4096 tokens, SAM's 64×64 grid, are 64 MiB of float32).
const MaxProxyTokens = 4096

// ProxyAttention is ProxyCLIP's proxy attention. v are the last block's values of ln_1(x),
// heads-major [B, heads, 1+gh·gw, d] (SplitQKVHeads; the class row first), proxy the VFM's patch
// features [B, H, W, C]. Returns the attention output [B, H·W, heads·d] (heads merged, before
// out_proj), on the VFM's grid:
//
//  1. the patch rows of v, as a gh×gw grid, resized bilinearly to H×W (F.interpolate,
//     align_corners=False: internal/bilinear);
//  2. the affinity S = f fᵀ of the L2-normalised features f [H·W, C] (F.normalize, eps 1e-12);
//  3. S ← (S − β·mean(S))·γ, the mean over all of S (the paper's adaptive normalisation);
//  4. entries below 0 masked (−∞ before the softmax: the paper's masking), softmax over keys;
//  5. softmax(S) times every head's resized values.
//
// The mean is per image; the authors take torch.mean over the whole batch, which is the same for
// their one window at a time. A row with every entry masked is 0 here (NaN in torch).
func ProxyAttention(v, proxy *Node, gh, gw int, beta, gamma float64) *Node {
	vd, pd := v.Shape().Dimensions, proxy.Shape().Dimensions
	b, heads, d := vd[0], vd[1], vd[3]
	h, w, c := pd[1], pd[2], pd[3]
	g := v.Graph()
	vp := Reshape(Slice(v, AxisRange(), AxisRange(), AxisRangeToEnd(1)), b, heads, gh, gw, d)
	vp = Einsum("Yy,bhyxd->bhYxd", Const(g, bilinear.Matrix(gh, h)), vp)
	vp = Einsum("Xx,bhYxd->bhYXd", Const(g, bilinear.Matrix(gw, w)), vp)
	vp = Reshape(vp, b, heads, h*w, d)

	f := Reshape(proxy, b, h*w, c)
	norm := Sqrt(ReduceAndKeep(Square(f), ReduceSum, -1))
	f = Div(f, Max(norm, Scalar(g, f.DType(), 1e-12)))
	sim := Einsum("bmc,bnc->bmn", f, f)
	sim = MulScalar(Sub(sim, MulScalar(ReduceAndKeep(sim, ReduceMean, 1, 2), beta)), gamma)
	attn := MaskedSoftmax(sim, GreaterOrEqual(sim, ZerosLike(sim)), -1)
	return MergeHeads(Einsum("bmn,bhnd->bhmd", attn, vp))
}

// proxyCLIPLastBlock is ProxyCLIP's last block: out_proj(ProxyAttention(...)) alone — no
// residual, no FFN — on the VFM's grid. ProxyCLIP keeps no class token; the one here is the
// unchanged block's (only its row is computed), so that the tokens keep their usual layout.
func proxyCLIPLastBlock(x *Node, t vitTail) *Node {
	if t.proxy == nil {
		panic(fmt.Errorf("clip: %s needs the VFM's patch features (ImageOptions.Proxy; EncodeImageWithProxyGraph)", MethodProxyCLIP))
	}
	prefix, tw := t.last(), t.tower
	q, k, v := SplitQKVHeads(LayerNorm(x, t.p, prefix+".ln_1", tw.Eps), t.p, prefix+".attn", tw.Heads)
	q0 := Slice(q, AxisRange(), AxisRange(), AxisRange(0, 1))
	cls := FinishBlock(Slice(x, AxisRange(), AxisRange(0, 1)), AttendHeads(q0, k, v, false, nil, tw.Budget), t.p, prefix, tw)
	out := Linear(ProxyAttention(v, t.proxy, t.gh, t.gw, t.opt.ProxyBeta, t.opt.ProxyGamma), t.p, prefix+".attn.out_proj")
	return Concatenate([]*Node{cls, out}, 1)
}

// settleProxyCLIP keeps β and γ, with their defaults (the proxy features are an input).
func settleProxyCLIP(o, s ImageOptions) ImageOptions {
	s.ProxyBeta, s.ProxyGamma = cmp.Or(o.ProxyBeta, DefaultProxyBeta), cmp.Or(o.ProxyGamma, DefaultProxyGamma)
	return s
}

// validateProxy checks β, γ and the shape of the proxy features.
func (o ImageOptions) validateProxy() error {
	for _, v := range []struct {
		name string
		x    float64
	}{{"beta", o.ProxyBeta}, {"gamma", o.ProxyGamma}} {
		if v.x < 0 || math.IsNaN(v.x) || math.IsInf(v.x, 0) {
			return fmt.Errorf("clip: ProxyCLIP's %s %v must be positive and finite", v.name, v.x)
		}
	}
	if f := o.Proxy; f != nil {
		if len(f.Shape) != 4 || f.Shape[0] <= 0 || f.Shape[1] <= 0 || f.Shape[2] <= 0 || f.Shape[3] <= 0 {
			return fmt.Errorf("clip: ProxyCLIP's VFM features have shape %v, want [batch, H, W, channels]", f.Shape)
		}
		if f.Shape[1] > MaxProxyTokens || f.Shape[2] > MaxProxyTokens || f.Shape[1]*f.Shape[2] > MaxProxyTokens {
			return fmt.Errorf("clip: ProxyCLIP's VFM grid %dx%d exceeds %d tokens (MaxProxyTokens): use smaller windows",
				f.Shape[1], f.Shape[2], MaxProxyTokens)
		}
		if n := f.Shape[0] * f.Shape[1] * f.Shape[2] * f.Shape[3]; n != len(f.Data) {
			return fmt.Errorf("clip: ProxyCLIP's VFM features hold %d values for shape %v (want %d)", len(f.Data), f.Shape, n)
		}
	}
	return nil
}

// EncodeImageWithProxyGraph is EncodeImageGraph for a method that reads a VFM's patch features
// (MethodSpec.VFM: MethodProxyCLIP): images [B, 3, H, W] and proxy [B, H', W', C] give all
// tokens [B, 1+H'·W', EmbedDim], the patch tokens on the VFM's H'×W' grid.
func EncodeImageWithProxyGraph(c Config, p Params, images, proxy *Node, opt ImageOptions) *Node {
	if err := mustMethod(opt.Method).checkFor(c); err != nil {
		panic(err)
	}
	return encodeViTGraph(c, p, images, nil, proxy, opt.normalized())
}

// encodeImageProxy is EncodeImage for a method with MethodSpec.VFM: the proxy features are the
// graph's second input. The pixels are checked; opt is validated with the method resolved.
func (m *Model) encodeImageProxy(pixels []float32, batch, h, w int, opt ImageOptions, method *methodDef) (*Features, error) {
	f := opt.Proxy
	switch {
	case !method.spec.VFM:
		return nil, fmt.Errorf("clip: method %s reads no VFM features (ImageOptions.Proxy is for %s)", method.spec.Name, MethodProxyCLIP)
	case f == nil:
		return nil, fmt.Errorf("clip: %s needs a vision foundation model's patch features (ImageOptions.Proxy; surgery.Options.VFM)",
			method.spec.Name)
	case f.Shape[0] != batch:
		return nil, fmt.Errorf("clip: %d VFM feature maps for a batch of %d images", f.Shape[0], batch)
	}
	opt = opt.normalized()
	out, err := m.programs.Get(programKey{graph: "image", image: opt}, visualOnly, 64, func(p Params, in []*Node) []*Node {
		return []*Node{EncodeImageWithProxyGraph(m.Config, p, in[0], in[1], opt)}
	}).Run(tensors.FromFlatDataAndDimensions(pixels, batch, 3, h, w), tensors.FromFlatDataAndDimensions(f.Data, f.Shape...))
	if err != nil {
		return nil, fmt.Errorf("clip: encode image: %w", err)
	}
	return modelkit.ToFeatures(out[0])
}
