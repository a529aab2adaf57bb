package clip

import (
	"fmt"
	"math"

	"github.com/clipsurgery/clipsurgery/internal/bilinear"

	. "github.com/gomlx/gomlx/core/graph"
)

// SurgeryAttention names the attention the new path of architecture surgery uses.
type SurgeryAttention string

const (
	AttentionVV SurgeryAttention = "v-v" // the paper's and the reference's choice
	AttentionKK SurgeryAttention = "k-k"
	AttentionQQ SurgeryAttention = "q-q"
	AttentionQK SurgeryAttention = "q-k" // the original attention: the new path then only drops the FFN
)

// DefaultSurgeryDepth is the number of last blocks the reference gives a dual path.
const DefaultSurgeryDepth = 6

// ImageOptions are the inputs of the image encoder besides the pixels. The zero value is CLIP
// Surgery as the reference runs it (SurgeryOptions); Method chooses another method (the method
// table, methods_table.go).
type ImageOptions struct {
	Method Method // "" = the table's default, MethodSurgery, here; Model.EncodeImage reads "" as Model.Method
	// Depth and Attention tune MethodSurgery (ignored otherwise); Depth is also MethodGEM's number
	// of GEM blocks (its gem_depth − 1).
	Depth     int              // number of dual-path blocks (ViT; clamped to the layer count); 0 = DefaultSurgeryDepth
	Attention SurgeryAttention // new-path attention; "" means v-v
	// NeighbourhoodStd is NACLIP's σ of its Gaussian prior, in grid cells (MethodNACLIP only;
	// 0 = DefaultNeighbourhoodStd).
	NeighbourhoodStd float64
	// Modifiers compose with Method (the modifier table, modifiers_table.go; "" = none); ResCLIP
	// tunes ModifierResCLIP (ignored without it).
	Modifiers Modifiers
	ResCLIP   ResCLIPOptions
	GEM       GEMOptions    // tunes MethodGEM (ignored otherwise)
	SCCLIP    SCCLIPOptions // tunes MethodSCCLIP (ignored otherwise)
	MaxSide   int           // largest input side EncodeImage accepts (0 = DefaultMaxImageSide)
	// Proxy, ProxyBeta and ProxyGamma are ProxyCLIP's (MethodProxyCLIP only; proxyclip.go): the
	// vision foundation model's patch features [B, H, W, C], an input like the pixels (not part of
	// the graph), and the affinity's β and γ (0 = DefaultProxyBeta, DefaultProxyGamma).
	Proxy                 *Features
	ProxyBeta, ProxyGamma float64
}

// SurgeryOptions are the reference's architecture-surgery settings.
func SurgeryOptions() ImageOptions {
	return ImageOptions{Method: MethodSurgery, Depth: DefaultSurgeryDepth, Attention: AttentionVV}
}

// normalized fills the defaults and clears the fields the method ignores, so that equal
// encoders have equal options (the executable cache's key): the method by its canonical name
// (MethodDefault: the table's default), and only the fields its descriptor settles.
func (o ImageOptions) normalized() ImageOptions {
	d := mustMethod(o.Method)
	s := ImageOptions{Method: d.spec.Name, Modifiers: o.Modifiers} // MaxSide dropped: a bound on the input, not part of the graph
	if d.settle != nil {
		s = d.settle(o, s)
	}
	for _, m := range o.Modifiers.List() {
		if md, err := modifierFor(m); err == nil && md.settle != nil {
			s = md.settle(o, s)
		}
	}
	return s
}

// NeedsClasses tells whether the encoder with these options reads the label set's text
// features (EncodeImageWithClasses): a modifier's step needs them (ResCLIP's semantic feedback).
func (o ImageOptions) NeedsClasses() bool {
	s := o.normalized()
	for _, m := range s.Modifiers.List() {
		if md, err := modifierFor(m); err == nil && md.needsClasses != nil && md.needsClasses(s) {
			return true
		}
	}
	return false
}

// Validate rejects unknown methods and attention modes, negative depths and a bad σ.
func (o ImageOptions) Validate() error {
	if err := o.Method.Validate(); err != nil {
		return err
	}
	switch o.normalized().Attention {
	case "", AttentionVV, AttentionKK, AttentionQQ, AttentionQK:
	default:
		return fmt.Errorf("clip: unknown surgery attention %q (want v-v, k-k, q-q or q-k)", o.Attention)
	}
	if o.Depth < 0 {
		return fmt.Errorf("clip: surgery depth %d is negative", o.Depth)
	}
	if s := o.NeighbourhoodStd; s < 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return fmt.Errorf("clip: neighbourhood std %v must be positive and finite", s)
	}
	if err := o.Modifiers.Validate(); err != nil {
		return err
	}
	if err := checkModifiers(o.Modifiers, mustMethod(o.Method), nil); err != nil {
		return err
	}
	for _, m := range o.Modifiers.List() {
		if md := mustModifier(m); md.validate != nil {
			if err := md.validate(o); err != nil {
				return err
			}
		}
	}
	if err := validateMethodOptions(o); err != nil {
		return err
	}
	return o.validateProxy()
}

// validateMethodOptions checks the options of GEM and SC-CLIP.
func validateMethodOptions(o ImageOptions) error {
	if err := validateGEM(o.GEM); err != nil {
		return err
	}
	return validateSCCLIP(o.SCCLIP)
}

// EncodeImageGraph encodes normalized images [B, 3, H, W] into all tokens [B, 1+gh*gw, EmbedDim]:
// ln_post and the projection are applied to every token, as the reference's encode_image does.
// Options whose encoder reads the label set (ResCLIP's semantic feedback) need
// EncodeImageGraphWithClasses.
func EncodeImageGraph(c Config, p Params, images *Node, opt ImageOptions) *Node {
	return EncodeImageGraphWithClasses(c, p, images, nil, opt)
}

// EncodeImageGraphWithClasses is EncodeImageGraph with the label set's text features classes
// [K, EmbedDim] (unit rows; nil when no step of the options reads them).
func EncodeImageGraphWithClasses(c Config, p Params, images, classes *Node, opt ImageOptions) *Node {
	method := mustMethod(opt.Method)
	if err := method.checkFor(c); err != nil {
		panic(err)
	}
	if err := checkModifiers(opt.Modifiers, method, &c); err != nil {
		panic(err)
	}
	if opt.NeedsClasses() && classes == nil {
		panic(errNoClasses)
	}
	if c.Vision == ResNet {
		return encodeResNetGraph(c, p, images, opt.normalized())
	}
	return encodeViTGraph(c, p, images, classes, nil, opt.normalized())
}

// encodeViTGraph builds the ViT with the method's last block(s); classes are the label set's
// text features and proxy a VFM's patch features, for the options that read them (nil otherwise).
func encodeViTGraph(c Config, p Params, images, classes, proxy *Node, opt ImageOptions) *Node {
	dims := images.Shape().Dimensions
	gh, gw := dims[2]/c.PatchSize, dims[3]/c.PatchSize
	method := mustMethod(opt.Method)
	x := VisionStem(c, p, images, opt.Method)
	t := c.VisionTower()

	changed := 1
	if method.changed != nil {
		changed = method.changed(opt)
	}
	first := max(c.VisionLayers-changed, 0)
	tail := vitTail{p: p, first: first, layers: c.VisionLayers, tower: t, gh: gh, gw: gw, opt: opt,
		images: images, classes: classes, proxy: proxy}
	if !opt.Modifiers.Has(ModifierResCLIP) {
		for i := 0; i < first; i++ {
			x = ResidualBlock(x, p, visualBlock(i), t, false)
		}
		x = method.tail(x, tail)
	} else {
		var rcs *Node
		x, rcs = blocksWithRCS(x, p, t, first, c.VisionLayers, opt.ResCLIP)
		x = resclipTail(method, x, tail, rcs)
	}
	return projectTokens(x, p, t)
}

// VisionStem is the ViT's input to its first block, [B, 1+gh·gw, W]: patch embedding, class
// token, positional embedding (resized for the grid the way method m's authors do), then ln_pre
// (absent with Config.NoLnPre).
func VisionStem(c Config, p Params, images *Node, m Method) *Node {
	dims := images.Shape().Dimensions
	b, gh, gw := dims[0], dims[2]/c.PatchSize, dims[3]/c.PatchSize
	x := patchTokens(Patchify(images, p.Get("visual.conv1.weight"), c.PatchSize)) // [B, gh*gw, W]
	cls := BroadcastToDims(Reshape(p.Get("visual.class_embedding"), 1, 1, c.VisionWidth), b, 1, c.VisionWidth)
	x = Concatenate([]*Node{cls, x}, 1)
	x = Add(x, InsertAxes(PositionalEmbeddingFor(m, p.Get("visual.positional_embedding"), c.NativeGrid, gh, gw), 0))
	if c.NoLnPre {
		return x
	}
	return LayerNorm(x, p, "visual.ln_pre", c.VisionTower().Eps)
}

func visualBlock(i int) string { return fmt.Sprintf("visual.transformer.resblocks.%d", i) }

// ArchitectureSurgeryBlock is one dual-path block of CLIP Surgery. Both attentions read ln_1 of
// the ORIGINAL path; the original path is the unchanged CLIP block; the new path only
// accumulates the self-attention output (v-v by default) through the same out_proj, with no
// FFN and no LayerNorm of its own. The first dual block is called with xNew == xOri. t is the
// ViT's Tower (heads, eps, activation, score budget).
func ArchitectureSurgeryBlock(xNew, xOri *Node, p Params, prefix string, t Tower, mode SurgeryAttention) (*Node, *Node) {
	s := projectQKV(LayerNorm(xOri, p, prefix+".ln_1", t.Eps), p, prefix+".attn", t.Heads)
	aNew := surgeryAttention(s, mode, t.Budget)
	aOri := s.attend(0, 1, 2, false, nil, t.Budget)
	xOri = Add(xOri, Linear(aOri, p, prefix+".attn.out_proj"))
	xOri = Add(xOri, MLP(LayerNorm(xOri, p, prefix+".ln_2", t.Eps), p, prefix+".mlp", t.Act))
	xNew = Add(xNew, Linear(aNew, p, prefix+".attn.out_proj"))
	return xNew, xOri
}

// LastSurgeryBlock is ArchitectureSurgeryBlock for the last block, after which only the class
// token of the original path is read: that path's attention, out_proj and MLP run for that row
// (ClassRowBlock), a part of the encoder's work saved (docs/BENCHMARKS.md). Returns the new
// path and the class row [B, 1, W].
func LastSurgeryBlock(xNew, xOri *Node, p Params, prefix string, t Tower, mode SurgeryAttention) (*Node, *Node) {
	s := projectQKV(LayerNorm(xOri, p, prefix+".ln_1", t.Eps), p, prefix+".attn", t.Heads)
	aNew := surgeryAttention(s, mode, t.Budget)
	cls := classRowOf(xOri, func(r int) *Node { return s.attendRows(0, r, 1, 2, false, nil, t.Budget) }, p, prefix, t)
	return Add(xNew, Linear(aNew, p, prefix+".attn.out_proj")), cls
}

// surgeryAttention is the new path's self-attention (v-v by default) over a block's q, k, v.
func surgeryAttention(s *headsQKV, mode SurgeryAttention, budget int) *Node {
	a, b, c := surgeryRoles(mode)
	return s.attend(a, b, c, false, nil, budget)
}

// surgeryPair is the pair of projections whose similarity the new path's attention uses
// (surgeryRoles), for heads-major q, k, v.
func surgeryPair(q, k, v *Node, mode SurgeryAttention) (*Node, *Node) {
	a, b, _ := surgeryRoles(mode)
	parts := [3]*Node{q, k, v}
	return parts[a], parts[b]
}

// Patchify is the ViT's conv1 (kernel = stride = patch, no bias) written as reshape + einsum,
// which is exact and much faster than a convolution on the go backend. Tokens are row-major.
func Patchify(images, kernel *Node, patch int) *Node {
	d := images.Shape().Dimensions
	b, ch, gh, gw := d[0], d[1], d[2]/patch, d[3]/patch
	x := Reshape(images, b, ch, gh, patch, gw, patch)
	return Einsum("bcyixj,wcij->byxw", x, kernel) // [B, gh, gw, W]
}

// patchTokens flattens [B, gh, gw, W] into [B, gh*gw, W].
func patchTokens(x *Node) *Node {
	d := x.Shape().Dimensions
	return Reshape(x, d[0], d[1]*d[2], d[3])
}

// ResizePositionalEmbedding returns the table [1+gh*gw, W] for a gh×gw grid: row 0 (class token)
// kept, the native grid resized bilinearly (align_corners=false) as F.interpolate does. It
// builds a new node: the model's weights are never changed (the reference overwrites them,
// quirk Q1).
func ResizePositionalEmbedding(pos *Node, native, gh, gw int) *Node {
	if gh == native && gw == native {
		return pos
	}
	w := pos.Shape().Dimensions[1]
	grid := Reshape(Slice(pos, AxisRangeToEnd(1)), native, native, w)
	g := pos.Graph()
	my := Const(g, bilinear.Matrix(native, gh))
	mx := Const(g, bilinear.Matrix(native, gw))
	grid = Einsum("ys,stw->ytw", my, grid)
	grid = Einsum("xt,ytw->yxw", mx, grid)
	return Concatenate([]*Node{Slice(pos, AxisRange(0, 1)), Reshape(grid, gh*gw, w)}, 0)
}
