package clip

import (
	"math"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
)

// Each activation is its formula (torch's nn.GELU, nn.GELU(approximate="tanh"), QuickGELU),
// evaluated in float64 here; "" is QuickGELU.
func TestActivations(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	xs := []float32{-6, -3.5, -1.25, -0.5, -1e-3, 0, 1e-3, 0.3, 1, 2.7, 8}
	formulas := map[Activation]func(x float64) float64{
		"":           func(x float64) float64 { return x / (1 + math.Exp(-1.702*x)) },
		ActQuickGELU: func(x float64) float64 { return x / (1 + math.Exp(-1.702*x)) },
		ActGELU:      func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) },
		ActGELUTanh: func(x float64) float64 {
			return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
		},
	}
	for act, f := range formulas {
		got := MustNewExec(backend, func(x *Node) *Node { return Activate(x, act) }).MustExec(xs)[0].Value().([]float32)
		for i, x := range xs {
			if want := f(float64(x)); math.Abs(float64(got[i])-want) > 2e-6*max(1, math.Abs(want)) {
				t.Errorf("%q(%v) = %v, want %v", act, x, got[i], want)
			}
		}
	}
	// The erf and tanh GELUs are close but not equal: a config naming one must not get the other.
	if math.Abs(formulas[ActGELU](1)-formulas[ActGELUTanh](1)) < 1e-5 {
		t.Fatal("the test cannot tell the two GELUs apart")
	}
}

// The zero Config is OpenAI's CLIP; the dense pipeline keeps the squash resize but takes the
// model's mean and std.
func TestConfigDefaults(t *testing.T) {
	c := Config{VisionWidth: 768, TextWidth: 512, VisionHeads: 12, TextHeads: 8, ImageResolution: 224}
	if v, tt := c.VisionTower(), c.TextTower(); v.Act != ActQuickGELU || tt.Act != ActQuickGELU || v.Eps != 1e-5 || tt.Eps != 1e-5 {
		t.Errorf("zero config towers: %+v, %+v", v, tt)
	}
	if c.VisionMLPWidth() != 3072 || c.TextMLPWidth() != 2048 || c.ImageTransform() != imageprep.OpenAITransform(224) {
		t.Errorf("zero config: MLP %d/%d, preprocessing %+v", c.VisionMLPWidth(), c.TextMLPWidth(), c.ImageTransform())
	}
	c.Preprocess = imageprep.Transform{Size: 224, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5},
		Interpolation: imageprep.Bilinear, ResizeMode: imageprep.Longest}
	d := c.DenseTransform(512)
	if d.Size != 512 || d.Mean != c.Preprocess.Mean || d.Std != c.Preprocess.Std || d.ResizeMode != imageprep.Squash || d.Interpolation != imageprep.Bicubic {
		t.Errorf("dense transform %+v", d)
	}
}

// An MLP width other than 4·width (open_clip's mlp_ratio, e.g. ViT-bigG's 4.9231) is read off the
// c_fc shapes; 4·width stays Config's zero, OpenAI's.
func TestMLPWidthFromShapes(t *testing.T) {
	want := Config{EmbedDim: 32, Vision: ViT, VisionWidth: 64, VisionLayers: 2, PatchSize: 16, NativeGrid: 2,
		ImageResolution: 32, VisionHeads: 1, ContextLength: 77, VocabSize: 100, TextWidth: 64, TextHeads: 1, TextLayers: 1,
		VisionMLP: 315}
	ts := map[string]*weights.Tensor{}
	for n, shape := range ExpectedShapes(want) {
		ts[n] = &weights.Tensor{Name: n, Shape: shape, DType: "F32"}
	}
	if got := ts["visual.transformer.resblocks.1.mlp.c_proj.weight"].Shape; got[1] != 315 {
		t.Fatalf("c_proj shape %v", got)
	}
	got, err := InferConfig(ts)
	if err != nil || got != want {
		t.Fatalf("inferred %#v, %v", got, err)
	}
	if got.TextMLPWidth() != 256 || got.VisionMLPWidth() != 315 {
		t.Errorf("MLP widths %d / %d", got.VisionMLPWidth(), got.TextMLPWidth())
	}
}
