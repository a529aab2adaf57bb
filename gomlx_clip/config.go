package clip

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"

	"github.com/clipsurgery/clipsurgery/gomlx_clip/tokenizer"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/weights"
)

// VisionKind tells which image tower a checkpoint has.
type VisionKind int

const (
	ViT    VisionKind = iota // VisionTransformer: patchify + transformer
	ResNet                   // ModifiedResNet: 3-conv stem, bottlenecks, attention pooling
)

func (k VisionKind) String() string {
	if k == ResNet {
		return "ModifiedResNet"
	}
	return "ViT"
}

// HeadDim is OpenAI's attention head width: without a config saying otherwise (open_clip
// head_width / text heads, HF num_attention_heads), a tower of width W has W/64 heads.
const HeadDim = 64

// Config is the architecture of one CLIP checkpoint: inferred from its tensor shapes, then
// completed (and checked against those shapes) by the config file beside it, if any (see
// LoadFile). The fields after the shapes are zero for OpenAI's CLIP: QuickGELU, LayerNorm eps
// 1e-5, class-token pooling, OpenAI's tokenizer and preprocessing.
type Config struct {
	EmbedDim int // joint embedding width (text_projection columns)

	Vision          VisionKind
	VisionWidth     int    // ViT: token width; ResNet: stem width (64 for RN50)
	VisionLayers    int    // ViT: number of residual blocks
	ResNetLayers    [4]int // ResNet: bottlenecks per stage
	PatchSize       int    // ViT only; ResNet's total stride is 32
	NativeGrid      int    // side of the token grid the positional embedding was trained for
	ImageResolution int    // NativeGrid * PatchSize (ViT) or NativeGrid * 32 (ResNet)
	VisionHeads     int

	ContextLength int
	VocabSize     int
	TextWidth     int
	TextHeads     int
	TextLayers    int

	VisionMLP int // hidden width of the ViT blocks' MLP (c_fc rows); 0 = 4·VisionWidth
	TextMLP   int // the same for the text blocks; 0 = 4·TextWidth

	// Set by a config file (zero = OpenAI's CLIP; see VisionTower, TextTower, ImageTransform).
	VisionAct        Activation           // activation of the ViT's MLPs
	TextAct          Activation           // activation of the text transformer's MLPs
	VisionEps        float64              // LayerNorm eps of the ViT (ln_pre, blocks, ln_post)
	TextEps          float64              // LayerNorm eps of the text transformer (blocks, ln_final)
	NoLnPre          bool                 // open_clip no_ln_pre: no LayerNorm before the ViT's blocks
	Pool             VisionPool           // how EncodeImagePooled pools the ViT's tokens
	FinalLNAfterPool bool                 // open_clip final_ln_after_pool: ln_post on the pooled feature, not on the tokens
	Tokenizer        tokenizer.Convention // special-token spellings and truncation of EncodeText
	Preprocess       imageprep.Transform  // the pooled path's preprocessing (ImageTransform)

	// ScoreBudget is not read from the checkpoint: it is the largest attention score matrix, in
	// bytes, that AttendHeads builds at once; 0 (what InferConfig gives) means the backend's
	// default, modelkit.ScoreBudgetFor. LoadOptions.ScoreBudget sets it.
	ScoreBudget int
}

// Stride is the side of image pixels one token stands for.
func (c Config) Stride() int {
	if c.Vision == ResNet {
		return 32
	}
	return c.PatchSize
}

// AttnPoolWidth is the ResNet's feature width entering the attention pool (VisionWidth*32).
func (c Config) AttnPoolWidth() int { return c.VisionWidth * 32 }

func (c Config) String() string {
	if c.Vision == ResNet {
		return fmt.Sprintf("ModifiedResNet%v width %d, %dpx (grid %d), embed %d; text %d layers x %d, ctx %d",
			c.ResNetLayers, c.VisionWidth, c.ImageResolution, c.NativeGrid, c.EmbedDim, c.TextLayers, c.TextWidth, c.ContextLength)
	}
	return fmt.Sprintf("ViT-%d/%d width %d, %dpx (grid %d), embed %d; text %d layers x %d, ctx %d",
		c.VisionLayers, c.PatchSize, c.VisionWidth, c.ImageResolution, c.NativeGrid, c.EmbedDim, c.TextLayers, c.TextWidth, c.ContextLength)
}

var blockIndexRe = regexp.MustCompile(`^(visual\.)?transformer\.resblocks\.(\d+)\.`)

// InferConfig reads the architecture off canonical (OpenAI-named) tensors, as build_model does,
// with OpenAI's conventions for what the shapes do not show (heads = width/64, QuickGELU, ...).
func InferConfig(t map[string]*weights.Tensor) (Config, error) {
	c, err := inferShapes(t)
	if err != nil {
		return c, err
	}
	return c, c.checkHeads()
}

// checkHeads refuses a config whose head counts do not split its widths.
func (c Config) checkHeads() error {
	if c.VisionHeads <= 0 || c.TextHeads <= 0 {
		return fmt.Errorf("clip: shapes match no CLIP architecture (%s): %d vision / %d text heads (widths below %d need a config saying the heads)",
			c, c.VisionHeads, c.TextHeads, HeadDim)
	}
	vw := c.VisionWidth
	if c.Vision == ResNet {
		vw = c.AttnPoolWidth()
	}
	if vw%c.VisionHeads != 0 || c.TextWidth%c.TextHeads != 0 {
		return fmt.Errorf("clip: %d vision heads do not split width %d, or %d text heads width %d", c.VisionHeads, vw, c.TextHeads, c.TextWidth)
	}
	return nil
}

// inferShapes is InferConfig without the head check: a config file may still give the heads.
func inferShapes(t map[string]*weights.Tensor) (Config, error) {
	var c Config
	shape := func(name string, rank int) ([]int, error) {
		x, ok := t[name]
		if !ok {
			return nil, fmt.Errorf("clip: checkpoint has no tensor %q: not a CLIP checkpoint, or an unsupported naming", name)
		}
		if len(x.Shape) != rank {
			return nil, fmt.Errorf("clip: tensor %q has shape %v, expected rank %d", name, x.Shape, rank)
		}
		return x.Shape, nil
	}
	proj, err := shape("text_projection", 2)
	if err != nil {
		return c, err
	}
	c.TextWidth, c.EmbedDim = proj[0], proj[1]
	pos, err := shape("positional_embedding", 2)
	if err != nil {
		return c, err
	}
	c.ContextLength = pos[0]
	tok, err := shape("token_embedding.weight", 2)
	if err != nil {
		return c, err
	}
	c.VocabSize = tok[0]
	c.TextHeads = c.TextWidth / HeadDim
	if c.TextLayers, err = countBlocks(t, false); err != nil {
		return c, err
	}
	c.TextMLP = mlpRows(t, "transformer.resblocks.0.mlp.c_fc.weight", c.TextWidth)

	if _, vit := t["visual.proj"]; vit {
		c.Vision = ViT
		conv, err := shape("visual.conv1.weight", 4)
		if err != nil {
			return c, err
		}
		c.VisionWidth, c.PatchSize = conv[0], conv[3]
		if conv[1] != 3 || conv[2] != conv[3] {
			return c, fmt.Errorf("clip: visual.conv1.weight has shape %v, expected [width, 3, patch, patch]", conv)
		}
		if c.VisionLayers, err = countBlocks(t, true); err != nil {
			return c, err
		}
		vpos, err := shape("visual.positional_embedding", 2)
		if err != nil {
			return c, err
		}
		if c.NativeGrid, err = squareSide(vpos[0]-1, "visual.positional_embedding"); err != nil {
			return c, err
		}
		c.ImageResolution = c.NativeGrid * c.PatchSize
		c.VisionHeads = c.VisionWidth / HeadDim
		c.VisionMLP = mlpRows(t, "visual.transformer.resblocks.0.mlp.c_fc.weight", c.VisionWidth)
	} else {
		c.Vision = ResNet
		for stage := 1; stage <= 4; stage++ {
			if c.ResNetLayers[stage-1], err = countBottlenecks(t, stage); err != nil {
				return c, err
			}
			if c.ResNetLayers[stage-1] == 0 {
				return c, fmt.Errorf("clip: no visual.proj (ViT) and no visual.layer%d.* (ResNet): not a CLIP image tower", stage)
			}
		}
		conv, err := shape("visual.layer1.0.conv1.weight", 4)
		if err != nil {
			return c, err
		}
		c.VisionWidth = conv[0]
		apos, err := shape("visual.attnpool.positional_embedding", 2)
		if err != nil {
			return c, err
		}
		if c.NativeGrid, err = squareSide(apos[0]-1, "visual.attnpool.positional_embedding"); err != nil {
			return c, err
		}
		c.ImageResolution = c.NativeGrid * 32
		c.VisionHeads = c.AttnPoolWidth() / HeadDim
	}
	if c.TextLayers == 0 || (c.Vision == ViT && c.VisionLayers == 0) {
		return c, fmt.Errorf("clip: shapes match no CLIP architecture (%s)", c)
	}
	return c, nil
}

// mlpRows is the MLP width the first block's c_fc holds, or 0 (Config's "4·width", OpenAI's)
// when it is that or when the tensor is absent or malformed, which CheckTensors then reports with
// every other missing tensor.
func mlpRows(t map[string]*weights.Tensor, name string, width int) int {
	if x, ok := t[name]; ok && len(x.Shape) == 2 && x.Shape[0] > 0 && x.Shape[0] != 4*width {
		return x.Shape[0]
	}
	return 0
}

func squareSide(n int, name string) (int, error) {
	s := int(math.Round(math.Sqrt(float64(n))))
	if s*s != n || s == 0 {
		return 0, fmt.Errorf("clip: %s holds %d grid positions, not a square grid", name, n)
	}
	return s, nil
}

// MaxBlocks bounds the block indices config inference accepts (resblocks.N, layerS.N): the
// largest released CLIP towers have 48 transformer blocks (ViT-bigG/14) and 36 bottlenecks in
// one ResNet stage (RN50x64). A name claiming block 999999999 is refused here, before anything
// is sized by it.
const MaxBlocks = 256

func countBlocks(t map[string]*weights.Tensor, visual bool) (int, error) {
	seen := map[int]bool{}
	for name := range t {
		m := blockIndexRe.FindStringSubmatch(name)
		if m == nil || (m[1] != "") != visual {
			continue
		}
		i, err := strconv.Atoi(m[2])
		if err != nil || i >= MaxBlocks {
			return 0, fmt.Errorf("clip: tensor %.200q: block index %.20s is above the limit of %d blocks", name, m[2], MaxBlocks)
		}
		seen[i] = true
	}
	return contiguous(seen), nil
}

var bottleneckRe = regexp.MustCompile(`^visual\.layer(\d)\.(\d+)\.`)

func countBottlenecks(t map[string]*weights.Tensor, stage int) (int, error) {
	seen := map[int]bool{}
	for name := range t {
		if m := bottleneckRe.FindStringSubmatch(name); m != nil && m[1] == strconv.Itoa(stage) {
			i, err := strconv.Atoi(m[2])
			if err != nil || i >= MaxBlocks {
				return 0, fmt.Errorf("clip: tensor %.200q: block index %.20s is above the limit of %d blocks", name, m[2], MaxBlocks)
			}
			seen[i] = true
		}
	}
	return contiguous(seen), nil
}

// contiguous returns how many indices 0..max there are room for: with a gap this is max+1, so the
// tensor-set check reports the gap as missing tensors instead of silently dropping blocks.
func contiguous(seen map[int]bool) int {
	idx := make([]int, 0, len(seen))
	for i := range seen {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for i, v := range idx {
		if v != i {
			return idx[len(idx)-1] + 1
		}
	}
	return len(idx)
}
