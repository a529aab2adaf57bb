package sam

import (
	"fmt"
	"slices"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	"github.com/gomlx/compute"
)

// Config holds every size of a SAM model. InferConfig reads all of them from a state dict's
// shapes, so one code path serves vit_b, vit_l, vit_h and smaller test models; the few values a
// state dict cannot show (activation choices, the decoder's head count) are SAM's fixed ones.
type Config struct {
	// Image encoder (ImageEncoderViT).
	ImageSize         int     // square input side after padding (1024)
	PatchSize         int     // patch embedding kernel = stride (16)
	InChans           int     // image channels (3)
	EncoderDim        int     // token width: 768 vit_b, 1024 vit_l, 1280 vit_h
	EncoderDepth      int     // number of blocks
	EncoderHeads      int     // attention heads per block
	EncoderMLPDim     int     // block MLP hidden width (mlp_ratio 4)
	QKVBias           bool    // attn.qkv has a bias
	UseAbsPos         bool    // pos_embed is added after the patch embedding
	UseRelPos         bool    // decomposed relative position bias in attention
	WindowSize        int     // window side of the windowed blocks (14)
	GlobalAttnIndexes []int   // blocks attending over the whole token grid
	OutChans          int     // neck output channels = image embedding channels (256)
	EncoderEps        float64 // LayerNorm / LayerNorm2d eps in the encoder (1e-6)

	// Prompt encoder.
	PromptEmbedDim int // prompt token width (256) = TransformerDim
	MaskInChans    int // mask downscaling channels (16)

	// Mask decoder and its two-way transformer.
	TransformerDim          int
	TransformerDepth        int
	TransformerHeads        int // not visible in shapes: SAM uses 8
	TransformerMLPDim       int // 2048 in the released models
	AttentionDownsampleRate int // cross-attention internal width = TransformerDim / rate
	NumMultimaskOutputs     int // mask tokens - 1 (3)
	IoUHeadDepth            int
	IoUHeadHiddenDim        int
	DecoderEps              float64 // two-way transformer LayerNorm eps (1e-5)

	// Sam: preprocessing constants on the 0–255 scale and the mask threshold.
	PixelMean     [3]float32
	PixelStd      [3]float32
	MaskThreshold float32

	// ScoreBudget is not read from the state dict: the largest attention logits, in bytes, the
	// image encoder builds at once (modelkit.InHeadGroups); 0 (what InferConfig gives) means the
	// backend's default, modelkit.ScoreBudgetFor.
	ScoreBudget int
}

// Fixed SAM values that a state dict cannot show.
const (
	defaultTransformerHeads = 8
	defaultWindowSize       = 14
	encoderEps              = 1e-6
	decoderEps              = 1e-5
)

var (
	defaultPixelMean = [3]float32{123.675, 116.28, 103.53}
	defaultPixelStd  = [3]float32{58.395, 57.12, 57.375}
)

// GridSize is the side of the image embedding's token grid (ImageSize / PatchSize = 64).
func (c Config) GridSize() int { return c.ImageSize / c.PatchSize }

// HeadDim is the per-head width of the encoder's attention.
func (c Config) HeadDim() int { return c.EncoderDim / c.EncoderHeads }

// IsGlobal reports whether encoder block i attends globally rather than in windows.
func (c Config) IsGlobal(i int) bool {
	return c.WindowSize <= 0 || slices.Contains(c.GlobalAttnIndexes, i)
}

// Name is "vit_b", "vit_l" or "vit_h" when the encoder has a released model's sizes, otherwise
// a description of the sizes.
func (c Config) Name() string {
	switch {
	case c.EncoderDim == 768 && c.EncoderDepth == 12:
		return "vit_b"
	case c.EncoderDim == 1024 && c.EncoderDepth == 24:
		return "vit_l"
	case c.EncoderDim == 1280 && c.EncoderDepth == 32:
		return "vit_h"
	}
	return fmt.Sprintf("vit(dim %d, depth %d, heads %d)", c.EncoderDim, c.EncoderDepth, c.EncoderHeads)
}

// ReleasedConfig returns the configuration of a released model ("vit_b", "vit_l", "vit_h"), as
// segment-anything's build_sam builds it. Tools use it to make full-size random weights.
func ReleasedConfig(name string) (Config, error) {
	c := Config{
		ImageSize: 1024, PatchSize: 16, InChans: 3, QKVBias: true, UseAbsPos: true, UseRelPos: true,
		WindowSize: defaultWindowSize, OutChans: 256, EncoderEps: encoderEps,
		PromptEmbedDim: 256, MaskInChans: 16,
		TransformerDim: 256, TransformerDepth: 2, TransformerHeads: defaultTransformerHeads,
		TransformerMLPDim: 2048, AttentionDownsampleRate: 2, NumMultimaskOutputs: 3,
		IoUHeadDepth: 3, IoUHeadHiddenDim: 256, DecoderEps: decoderEps,
		PixelMean: defaultPixelMean, PixelStd: defaultPixelStd,
	}
	switch name {
	case "vit_b":
		c.EncoderDim, c.EncoderDepth, c.EncoderHeads, c.GlobalAttnIndexes = 768, 12, 12, []int{2, 5, 8, 11}
	case "vit_l":
		c.EncoderDim, c.EncoderDepth, c.EncoderHeads, c.GlobalAttnIndexes = 1024, 24, 16, []int{5, 11, 17, 23}
	case "vit_h":
		c.EncoderDim, c.EncoderDepth, c.EncoderHeads, c.GlobalAttnIndexes = 1280, 32, 16, []int{7, 15, 23, 31}
	default:
		return Config{}, fmt.Errorf("sam: unknown model %q (want vit_b, vit_l or vit_h)", name)
	}
	c.EncoderMLPDim = 4 * c.EncoderDim
	return c, nil
}

// InferConfig reads a SAM configuration from the shapes of a state dict (Sam.state_dict()
// names). Head count and window size come from the relative-position tables (rows 2·S−1,
// columns = head dim), the global blocks are those whose table spans the whole grid.
// Everything else is checked afterwards by CheckShapes.
func InferConfig(shapes map[string][]int) (Config, error) {
	s := modelkit.Shapes(shapes)
	if _, ok := s["image_encoder.patch_embed.proj.weight"]; !ok {
		return Config{}, fmt.Errorf("sam: not a Segment Anything checkpoint: no image_encoder.patch_embed.proj.weight (%s)", modelkit.DescribeNames(shapes))
	}
	c := Config{
		TransformerHeads: defaultTransformerHeads, EncoderEps: encoderEps, DecoderEps: decoderEps,
		PixelMean: defaultPixelMean, PixelStd: defaultPixelStd,
	}
	var err error
	get := func(dst *int, name string, i int) {
		if err == nil {
			if *dst, err = s.Dim(name, i); err != nil {
				err = fmt.Errorf("sam: %w", err)
			}
		}
	}
	get(&c.EncoderDim, "image_encoder.patch_embed.proj.weight", 0)
	get(&c.InChans, "image_encoder.patch_embed.proj.weight", 1)
	get(&c.PatchSize, "image_encoder.patch_embed.proj.weight", 2)
	get(&c.EncoderMLPDim, "image_encoder.blocks.0.mlp.lin1.weight", 0)
	get(&c.OutChans, "image_encoder.neck.0.weight", 0)
	get(&c.TransformerDim, "mask_decoder.iou_token.weight", 1)
	get(&c.PromptEmbedDim, "prompt_encoder.no_mask_embed.weight", 1)
	get(&c.MaskInChans, "prompt_encoder.mask_downscaling.3.weight", 0)
	get(&c.TransformerMLPDim, "mask_decoder.transformer.layers.0.mlp.lin1.weight", 0)
	get(&c.IoUHeadHiddenDim, "mask_decoder.iou_prediction_head.layers.0.weight", 0)
	var masks, crossDim, headDim int
	get(&masks, "mask_decoder.mask_tokens.weight", 0)
	get(&crossDim, "mask_decoder.transformer.layers.0.cross_attn_token_to_image.q_proj.weight", 0)
	get(&headDim, "image_encoder.blocks.0.attn.rel_pos_h", 1)
	if err != nil {
		return Config{}, err
	}
	c.EncoderDepth = s.Count("image_encoder.blocks")
	c.TransformerDepth = s.Count("mask_decoder.transformer.layers")
	c.IoUHeadDepth = s.Count("mask_decoder.iou_prediction_head.layers")
	c.NumMultimaskOutputs = masks - 1
	_, c.QKVBias = s["image_encoder.blocks.0.attn.qkv.bias"]
	c.UseRelPos = true // required above: the head count is only visible through it

	switch {
	case c.PatchSize <= 0 || c.EncoderDim <= 0:
		return Config{}, fmt.Errorf("sam: patch embedding of shape %v", s["image_encoder.patch_embed.proj.weight"])
	case headDim <= 0 || c.EncoderDim%headDim != 0:
		return Config{}, fmt.Errorf("sam: relative position head dim %d does not divide the encoder width %d", headDim, c.EncoderDim)
	case crossDim <= 0 || c.TransformerDim%crossDim != 0:
		return Config{}, fmt.Errorf("sam: cross-attention width %d does not divide the transformer width %d", crossDim, c.TransformerDim)
	case masks < 1:
		return Config{}, fmt.Errorf("sam: mask decoder has %d mask tokens", masks)
	}
	c.EncoderHeads = c.EncoderDim / headDim
	c.AttentionDownsampleRate = c.TransformerDim / crossDim

	// The grid comes from the absolute position embedding when there is one; SAM's input is
	// 1024 pixels otherwise.
	c.ImageSize = 1024
	if pe, ok := s["image_encoder.pos_embed"]; ok && len(pe) == 4 {
		c.UseAbsPos = true
		c.ImageSize = pe[1] * c.PatchSize
	}
	grid := c.GridSize()
	c.WindowSize = 0
	for i := range c.EncoderDepth {
		rows, err := s.Dim(fmt.Sprintf("image_encoder.blocks.%d.attn.rel_pos_h", i), 0)
		if err != nil {
			return Config{}, fmt.Errorf("sam: %w", err)
		}
		if rows == 2*grid-1 {
			c.GlobalAttnIndexes = append(c.GlobalAttnIndexes, i)
			continue
		}
		win := (rows + 1) / 2
		if rows%2 == 0 || (c.WindowSize != 0 && win != c.WindowSize) {
			return Config{}, fmt.Errorf("sam: block %d has a relative position table of %d rows; windowed blocks need 2·%d−1", i, rows, max(c.WindowSize, win))
		}
		c.WindowSize = win
	}
	if c.WindowSize == 0 {
		c.WindowSize = defaultWindowSize // every block is global: the window is unused
	}
	return c, nil
}

// Model is a loaded SAM: its configuration, its weights (on the backend) and the executables
// compiled for it, cached per graph kind (GoMLX caches each further per input shape). It holds
// no image or prompt state (Predictor does), and it is safe for concurrent use.
type Model struct {
	Config Config

	weights  *modelkit.Weights
	programs *modelkit.Programs[string]
}

// Backend is the backend the model runs on.
func (m *Model) Backend() compute.Backend { return m.weights.Backend() }
