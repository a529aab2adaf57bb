package dino

import (
	"fmt"
	"strings"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/modelkit"
)

// Family is the release a checkpoint belongs to.
type Family string

const (
	// V1 is DINO (facebookresearch/dino vision_transformer.py).
	V1 Family = "dino"
	// V2 is DINOv2 (facebookresearch/dinov2 dinov2/models/vision_transformer.py).
	V2 Family = "dinov2"
)

// FFN is a block's feed-forward network.
type FFN string

const (
	// FFNMLP is fc2(GELU(fc1(x))) (both releases' Mlp).
	FFNMLP FFN = "mlp"
	// FFNSwiGLU is w3(SiLU(x1)·x2) with [x1 | x2] = w12(x) (DINOv2's SwiGLUFFNFused, ViT-g).
	FFNSwiGLU FFN = "swiglu"
)

// Interpolation is how the position table of the native M×M grid is resized to another grid
// (interpolate_pos_encoding): bicubic, align_corners=False, with scale_factor (g+Offset)/M per
// axis when Offset > 0 (torch then maps output d to the source (d+0.5)·M/(g+Offset) − 0.5), to
// the size g otherwise; antialiased when Antialias. The native square grid is used unresized.
type Interpolation struct {
	Offset    float64
	Antialias bool
}

// Config holds every size of a DINO or DINOv2 backbone. InferConfig reads them from a state
// dict's shapes (and a Hugging Face config.json); what neither shows is the releases' fixed
// choice, documented per field.
type Config struct {
	Family     Family
	PatchSize  int // 8 or 16 (DINO), 14 (DINOv2)
	Width      int // embed_dim: 384 ViT-S, 768 ViT-B, 1024 ViT-L, 1536 ViT-g
	Depth      int
	Heads      int // not in a state dict: the releases' heads are 64 wide (InferConfig)
	MLPHidden  int // fc1's outputs, or the SwiGLU's hidden width (w3's inputs)
	FFN        FFN
	LayerScale bool // ls1/ls2 gamma (DINOv2)
	Registers  int  // register tokens after the class token (DINOv2 _reg models: 4)
	NativeGrid int  // side M of the position table's grid (224/16 = 14 DINO, 518/14 = 37 DINOv2)
	QKVBias    bool // attn.qkv has a bias (every release)
	// Eps is the LayerNorm eps, 1e-6 in both releases (norm_layer = partial(nn.LayerNorm,
	// eps=1e-6)); a Hugging Face ViT config's 1e-12 is the converter's default, not DINO's.
	Eps float64
	// Interpolation of the position table: DINO v1 and the plain DINOv2 hub models
	// {0.1, false}, the DINOv2 _reg hub models {0, true} (hub/backbones.py).
	Interpolation Interpolation
	// ScoreBudget is not read from the checkpoint: the largest attention score matrix, in bytes,
	// built at once (modelkit.InHeadGroups); 0 = the backend's default, modelkit.ScoreBudgetFor.
	ScoreBudget int
}

// Releases' fixed values a state dict cannot show.
const (
	releaseHeadWidth = 64
	releaseEps       = 1e-6
	releaseOffset    = 0.1
)

// ImageNetMean and ImageNetStd are both releases' normalisation (transforms.Normalize with
// IMAGENET_DEFAULT_MEAN / STD), on the 0–1 scale.
var (
	imageNetMean = [3]float32{0.485, 0.456, 0.406}
	imageNetStd  = [3]float32{0.229, 0.224, 0.225}
)

// ImageNetMean is the per-channel mean both releases normalise with (a copy).
func ImageNetMean() [3]float32 { return imageNetMean }

// ImageNetStd is the per-channel std both releases normalise with (a copy).
func ImageNetStd() [3]float32 { return imageNetStd }

// DenseTransform is the preprocessing for dense features at n×n: the whole image resized to
// n×n (Pillow bicubic, antialiased), ToTensor and ImageNet's Normalize — what ProxyCLIP feeds its
// VFM for a window CLIP sees at n×n. (The releases' classification eval transform is
// Resize(256) + CenterCrop(224); dense use keeps every pixel.)
func (c Config) DenseTransform(n int) imageprep.Transform {
	return imageprep.Transform{Size: n, Mean: imageNetMean, Std: imageNetStd, Interpolation: imageprep.Bicubic,
		ResizeMode: imageprep.Squash}
}

// HeadDim is the per-head width of the attention.
func (c Config) HeadDim() int { return c.Width / c.Heads }

// NativeSize is the input side of the native grid (224 DINO, 518 DINOv2).
func (c Config) NativeSize() int { return c.NativeGrid * c.PatchSize }

// Name is the release's short name when the sizes are one ("dinov2-b14-reg", "dino-s8", ...),
// else a description of the sizes.
func (c Config) Name() string {
	size := map[int]string{384: "s", 768: "b", 1024: "l", 1536: "g"}[c.Width]
	if size == "" {
		return fmt.Sprintf("%s(width %d, depth %d, heads %d, patch %d)", c.Family, c.Width, c.Depth, c.Heads, c.PatchSize)
	}
	name := fmt.Sprintf("%s-%s%d", c.Family, size, c.PatchSize)
	if c.Registers > 0 {
		name += "-reg"
	}
	return name
}

// String is Name with the sizes.
func (c Config) String() string {
	return fmt.Sprintf("%s (width %d, depth %d, heads %d, patch %d, %s FFN, %d registers)", c.Name(), c.Width, c.Depth,
		c.Heads, c.PatchSize, c.FFN, c.Registers)
}

// Validate checks the sizes are usable together.
func (c Config) Validate() error {
	switch {
	case c.Family != V1 && c.Family != V2:
		return fmt.Errorf("dino: unknown family %q", c.Family)
	case c.PatchSize <= 0 || c.Width <= 0 || c.Depth <= 0 || c.NativeGrid <= 0 || c.MLPHidden <= 0:
		return fmt.Errorf("dino: empty sizes in %s", c)
	case c.Heads <= 0 || c.Width%c.Heads != 0:
		return fmt.Errorf("dino: %d heads do not divide the width %d", c.Heads, c.Width)
	case c.FFN != FFNMLP && c.FFN != FFNSwiGLU:
		return fmt.Errorf("dino: unknown FFN %q", c.FFN)
	case c.Registers < 0 || c.Family == V1 && (c.Registers > 0 || c.LayerScale || c.FFN != FFNMLP):
		return fmt.Errorf("dino: %s cannot have registers, LayerScale or SwiGLU", c.Family)
	case c.Interpolation.Offset < 0 || c.Interpolation.Offset >= 1:
		return fmt.Errorf("dino: interpolation offset %v: want 0 ≤ offset < 1", c.Interpolation.Offset)
	}
	return nil
}

// InferConfig reads a configuration from the shapes of a state dict in the authors' names
// (Canonicalize): width, patch and depth from the patch embedding and the blocks, the native
// grid from pos_embed, the FFN and its hidden width from mlp.fc1 or mlp.w12/w3, LayerScale and
// registers from their tensors, the family from DINOv2's tensors (mask_token, LayerScale,
// registers, SwiGLU). heads > 0 gives the head count; 0 takes the releases' 64-wide heads
// (Width/64), which a width that is not a multiple of 64 cannot have. Everything else is checked
// afterwards by CheckShapes.
func InferConfig(shapes map[string][]int, heads int) (Config, error) {
	s := modelkit.Shapes(shapes)
	if _, ok := s["patch_embed.proj.weight"]; !ok {
		return Config{}, fmt.Errorf("dino: not a DINO or DINOv2 checkpoint%s: no patch_embed.proj.weight (%s)", otherModel(shapes),
			modelkit.DescribeNames(shapes))
	}
	c := Config{Eps: releaseEps, QKVBias: true, FFN: FFNMLP, Interpolation: Interpolation{Offset: releaseOffset}}
	var pe []int
	var err error
	get := func(dst *int, name string, i int) {
		if err == nil {
			if *dst, err = s.Dim(name, i); err != nil {
				err = fmt.Errorf("dino: %w", err)
			}
		}
	}
	get(&c.Width, "patch_embed.proj.weight", 0)
	get(&c.PatchSize, "patch_embed.proj.weight", 2)
	if err != nil {
		return Config{}, err
	}
	if pe = s["pos_embed"]; len(pe) != 3 || pe[0] != 1 {
		return Config{}, fmt.Errorf("dino: pos_embed has shape %v, want [1, 1+M², width]", pe)
	}
	m := isqrt(pe[1] - 1)
	if m*m != pe[1]-1 || m == 0 {
		return Config{}, fmt.Errorf("dino: pos_embed has %d rows, want 1 + a square grid", pe[1])
	}
	c.NativeGrid = m
	c.Depth = s.Count("blocks")
	if c.Depth == 0 {
		return Config{}, fmt.Errorf("dino: no blocks.0.* tensors (%s)", modelkit.DescribeNames(shapes))
	}
	if _, swiglu := s["blocks.0.mlp.w12.weight"]; swiglu {
		c.FFN = FFNSwiGLU
		get(&c.MLPHidden, "blocks.0.mlp.w3.weight", 1)
	} else {
		get(&c.MLPHidden, "blocks.0.mlp.fc1.weight", 0)
	}
	if err != nil {
		return Config{}, err
	}
	_, c.LayerScale = s["blocks.0.ls1.gamma"]
	_, c.QKVBias = s["blocks.0.attn.qkv.bias"]
	if r, ok := s["register_tokens"]; ok {
		if len(r) != 3 {
			return Config{}, fmt.Errorf("dino: register_tokens has shape %v, want [1, R, width]", r)
		}
		c.Registers = r[1]
	}
	_, mask := s["mask_token"]
	c.Family = V1
	if mask || c.LayerScale || c.Registers > 0 || c.FFN == FFNSwiGLU {
		c.Family = V2
	}
	if c.Family == V2 && c.Registers > 0 { // the _reg hub builders: interpolate_antialias=True, offset 0
		c.Interpolation = Interpolation{Offset: 0, Antialias: true}
	}
	c.Heads = heads
	if heads == 0 {
		if c.Width%releaseHeadWidth != 0 {
			return Config{}, fmt.Errorf("dino: width %d has no 64-wide heads (the releases'); the head count is not in the "+
				"checkpoint: give it (LoadOptions.Heads, or the config.json of a Hugging Face copy)", c.Width)
		}
		c.Heads = c.Width / releaseHeadWidth
	}
	return c, c.Validate()
}

func isqrt(n int) int {
	r := 0
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}

// otherModel names the model a checkpoint given as DINO belongs to, when its names tell
// (", but a CLIP checkpoint (load it with clip.Load)"), else "".
func otherModel(shapes map[string][]int) string {
	for name := range shapes {
		switch {
		case strings.HasPrefix(name, "visual.") || strings.HasPrefix(name, "vision_model.") || name == "token_embedding.weight":
			return " but a CLIP checkpoint (load it with clip.Load)"
		case strings.HasPrefix(name, "image_encoder.") || strings.HasPrefix(name, "mask_decoder."):
			return " but a Segment Anything checkpoint (load it with sam.Load)"
		}
	}
	return ""
}
