package clip

import (
	"fmt"
	"math"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
)

// The architecture choices a checkpoint's shapes do not show, which a config file beside it
// states (open_clip_config.json, a Hugging Face config.json: see openclip_config.go, hf_config.go).
// Every zero value is OpenAI's CLIP, what a checkpoint without a config is loaded as.

// Activation is the nonlinearity of a transformer tower's MLP.
type Activation string

const (
	// ActQuickGELU is OpenAI's x·sigmoid(1.702·x) (open_clip quick_gelu: true, HF "quick_gelu").
	// The zero value "" means it too.
	ActQuickGELU Activation = "quick_gelu"
	// ActGELU is the exact GELU x·Φ(x) = 0.5·x·(1 + erf(x/√2)) (torch's nn.GELU(), HF "gelu"):
	// open_clip's default, the activation of the LAION, DataComp and most DFN/MetaCLIP models.
	ActGELU Activation = "gelu"
	// ActGELUTanh is GELU's tanh approximation 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
	// (nn.GELU(approximate="tanh"), HF "gelu_new" / "gelu_pytorch_tanh").
	ActGELUTanh Activation = "gelu_tanh"
)

// Activate applies the activation to x.
func Activate(x *Node, act Activation) *Node {
	switch act {
	case "", ActQuickGELU:
		return QuickGELU(x)
	case ActGELU:
		return Mul(MulScalar(x, 0.5), OnePlus(Erf(MulScalar(x, 1/math.Sqrt2))))
	case ActGELUTanh:
		inner := MulScalar(Add(x, MulScalar(Mul(Mul(x, x), x), 0.044715)), math.Sqrt(2/math.Pi))
		return Mul(MulScalar(x, 0.5), OnePlus(Tanh(inner)))
	}
	panic(fmt.Errorf("clip: unknown activation %q", string(act)))
}

// backendActivation is act as the compute backends' fused activation that computes it (the MLP's
// c_fc epilogue on packed weights, modelkit.DenseActivated): QuickGELU is a patch of compute
// (patches/README.md); GELU and its tanh form are compute's own.
func backendActivation(act Activation) compute.ActivationType {
	switch act {
	case "", ActQuickGELU:
		return compute.ActivationQuickGelu
	case ActGELU:
		return compute.ActivationGelu
	case ActGELUTanh:
		return compute.ActivationGeluApproximate
	}
	panic(fmt.Errorf("clip: unknown activation %q", string(act)))
}

// DefaultLayerNormEps is torch's nn.LayerNorm eps, OpenAI's and open_clip's default.
const DefaultLayerNormEps = 1e-5

// VisionPool is how the pooled image feature is taken from the vision transformer's tokens
// (open_clip pool_type).
type VisionPool string

const (
	PoolClassToken VisionPool = "tok" // the class token (OpenAI's; the zero value "" means it too)
	PoolAverage    VisionPool = "avg" // the mean of the patch tokens (open_clip CLIPA configs)
)

// Tower is what every block of one transformer needs besides its weights: the head count,
// LayerNorm eps and activation of that tower (Config.VisionTower, Config.TextTower) and
// AttendHeads' score budget.
type Tower struct {
	Heads  int
	Eps    float64    // LayerNorm eps of every LayerNorm in the tower (blocks, ln_pre, ln_post, ln_final)
	Act    Activation // the MLP's activation
	Budget int        // AttendHeads' budget (Config.ScoreBudget)
}

// VisionTower is the ViT's Tower.
func (c Config) VisionTower() Tower {
	return Tower{Heads: c.VisionHeads, Eps: epsOr(c.VisionEps), Act: actOr(c.VisionAct), Budget: c.ScoreBudget}
}

// TextTower is the text transformer's Tower.
func (c Config) TextTower() Tower {
	return Tower{Heads: c.TextHeads, Eps: epsOr(c.TextEps), Act: actOr(c.TextAct), Budget: c.ScoreBudget}
}

func epsOr(eps float64) float64 {
	if eps == 0 {
		return DefaultLayerNormEps
	}
	return eps
}

func actOr(a Activation) Activation {
	if a == "" {
		return ActQuickGELU
	}
	return a
}

// VisionMLPWidth is the hidden width of the ViT blocks' MLP (c_fc rows): Config.VisionMLP, or
// OpenAI's 4·width when unset.
func (c Config) VisionMLPWidth() int { return mlpOr(c.VisionMLP, c.VisionWidth) }

// TextMLPWidth is TextMLP, or 4·TextWidth when unset.
func (c Config) TextMLPWidth() int { return mlpOr(c.TextMLP, c.TextWidth) }

func mlpOr(mlp, width int) int {
	if mlp == 0 {
		return 4 * width
	}
	return mlp
}

// ImageTransform is the model's own preprocessing for its pooled features (Model.PreprocessImage):
// Config.Preprocess, or CLIP's (imageprep.OpenAITransform) at the native resolution when unset.
func (c Config) ImageTransform() imageprep.Transform {
	if c.Preprocess.Size == 0 {
		return imageprep.OpenAITransform(c.ImageResolution)
	}
	return c.Preprocess
}

// DenseTransform is the preprocessing of the dense-map pipeline (surgery.Explainer) at side n: the
// whole image squashed to n×n with Pillow's bicubic filter, as CLIP Surgery's demo does, so that
// every pixel of the image has a place in the map; normalised with the model's own mean and std,
// which is what its weights were trained on. (The pooled path, ImageTransform, crops or pads as
// the model's config says instead.)
func (c Config) DenseTransform(n int) imageprep.Transform {
	t := c.ImageTransform()
	return imageprep.Transform{Size: n, Mean: t.Mean, Std: t.Std, Interpolation: imageprep.Bicubic, ResizeMode: imageprep.Squash}
}
