package dino

import (
	"fmt"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Model is a loaded DINO or DINOv2 backbone: its configuration, its weights (on the backend) and
// the executables compiled for it (one per input shape, cached). It holds no other state and is
// safe for concurrent use.
type Model struct {
	Config Config
	Naming Naming // the checkpoint's naming (NamingAuthors or NamingHF)
	// MaxSide bounds the input side EncodeImage and PatchFeatures accept (0 =
	// DefaultMaxImageSide): attention memory grows with the fourth power of the side.
	MaxSide int

	weights  *modelkit.Weights
	programs *modelkit.Programs[programKey]
}

// programKey names one graph: the encoder for a configuration's run-time choices (the
// interpolation and score budget may be changed on Model.Config between calls).
type programKey struct {
	interp Interpolation
	budget int
}

// Features is a float32 array with its shape, row-major.
type Features = modelkit.Features

// DefaultMaxImageSide bounds the input side unless Model.MaxSide says otherwise: at 1024 px a
// patch-14 model already attends over 5329 tokens (113 MB of scores per head).
const DefaultMaxImageSide = 1024

// NewModel builds a model from a state dict in the authors' or Hugging Face naming: the
// configuration is inferred from the shapes (heads > 0 gives the head count, else the releases'
// 64-wide heads), then every tensor is checked. A nil backend means modelkit.BackendFromEnv()
// (GOMLX_BACKEND, the pure-Go backend when unset). The tensors are copied; state is not changed.
func NewModel(state map[string]*weights.Tensor, backend compute.Backend, heads int) (*Model, error) {
	return newModel(state, backend, false, heads, nil)
}

// newModel is NewModel with a Hugging Face config to complete and check the configuration (nil:
// none); release drops each host tensor once it is on the backend (callers that own state).
func newModel(state map[string]*weights.Tensor, backend compute.Backend, release bool, heads int, hf *hfConfig) (*Model, error) {
	canon, naming, err := Canonicalize(state)
	if err != nil {
		return nil, err
	}
	shapes := make(map[string][]int, len(canon))
	for name, t := range canon {
		shapes[name] = t.Shape
	}
	cfg, err := InferConfig(shapes, heads)
	if err != nil && hf != nil && hf.NumAttentionHeads > 0 && heads == 0 {
		cfg, err = InferConfig(shapes, hf.NumAttentionHeads) // the config says what the shapes cannot
	}
	if err != nil {
		return nil, err
	}
	if hf != nil {
		if cfg, err = hf.apply(cfg); err != nil {
			return nil, err
		}
		if heads > 0 {
			cfg.Heads = heads
		}
	}
	if err := CheckShapes(cfg, shapes); err != nil {
		return nil, err
	}
	if backend == nil {
		if backend, err = modelkit.BackendFromEnv(); err != nil {
			return nil, fmt.Errorf("dino: %w", err)
		}
	}
	want, dense := expectedShapes(cfg)
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	w, err := modelkit.Upload(backend, canon, names, func(name string) bool { return dense[name] }, release)
	if err != nil {
		return nil, fmt.Errorf("dino: %w", err)
	}
	return &Model{Config: cfg, Naming: naming, weights: w, programs: modelkit.NewPrograms[programKey](w)}, nil
}

// Backend is the backend the model runs on.
func (m *Model) Backend() compute.Backend { return m.weights.Backend() }

// Weight returns a copy of a canonical tensor's values in the state dict's layout, for tools and
// tests (its shape: ExpectedShapes(m.Config)[name]).
func (m *Model) Weight(name string) ([]float32, bool) {
	v, _, ok := m.weights.Weight(name)
	return v, ok
}

// Names lists the model's canonical tensor names, sorted.
func (m *Model) Names() []string { return m.weights.Names() }

// EncodeImage runs the backbone on normalised images [batch, 3, h, w] (CHW per image, ImageNet's
// mean and std: Config.DenseTransform) and returns every token after the final LayerNorm,
// [batch, 1+R+gh·gw, Width] (EncodeGraph). h and w must be multiples of the patch size.
func (m *Model) EncodeImage(pixels []float32, batch, h, w int) (*Features, error) {
	if err := m.checkInput(pixels, batch, h, w); err != nil {
		return nil, err
	}
	c := m.Config
	if err := c.Validate(); err != nil {
		return nil, err
	}
	key := programKey{interp: c.Interpolation, budget: c.ScoreBudget}
	pr := m.programs.Get(key, nil, 32, func(p Params, in []*Node) []*Node { return []*Node{EncodeGraph(c, p, in[0])} })
	out, err := pr.Run(tensors.FromFlatDataAndDimensions(pixels, batch, 3, h, w))
	if err != nil {
		return nil, fmt.Errorf("dino: encode image: %w", err)
	}
	f, err := modelkit.ToFeatures(out[0])
	if err != nil {
		return nil, fmt.Errorf("dino: %w", err)
	}
	return f, nil
}

// checkInput refuses a batch the encoder cannot take: empty, a side above the bound, not a
// multiple of the patch, or a pixel count that does not match.
func (m *Model) checkInput(pixels []float32, batch, h, w int) error {
	p := m.Config.PatchSize
	maxSide := m.MaxSide
	if maxSide <= 0 {
		maxSide = DefaultMaxImageSide
	}
	switch {
	case batch <= 0 || h <= 0 || w <= 0:
		return fmt.Errorf("dino: image batch %d of %dx%d is empty", batch, h, w)
	case h > maxSide || w > maxSide || batch > len(pixels):
		return fmt.Errorf("dino: image batch %d of %dx%d exceeds the largest side %d (Model.MaxSide) or the %d pixel values given",
			batch, h, w, maxSide, len(pixels))
	case h%p != 0 || w%p != 0:
		return fmt.Errorf("dino: image side %dx%d is not a multiple of the patch size %d", h, w, p)
	case len(pixels) != batch*3*h*w:
		return fmt.Errorf("dino: %d pixel values for a batch of %d images of 3x%dx%d (want %d)", len(pixels), batch, h, w, batch*3*h*w)
	}
	return nil
}

// Tokens are one batch's output tokens, split as the authors' forward_features names them.
type Tokens struct {
	Class     *Features // x_norm_clstoken [B, Width]
	Registers *Features // x_norm_regtokens [B, R, Width]; nil without registers
	Patches   *Features // x_norm_patchtokens [B, GridH·GridW, Width], row-major grid
	// GridH and GridW are the patch grid (h/patch, w/patch).
	GridH, GridW int
}

// PatchFeatures is EncodeImage split into the class, register and patch tokens: the dense
// features [B, gh·gw, Width] that ProxyCLIP and similar methods read (get_intermediate_layers
// with norm=True), and the image-level tokens beside them.
func (m *Model) PatchFeatures(pixels []float32, batch, h, w int) (*Tokens, error) {
	all, err := m.EncodeImage(pixels, batch, h, w)
	if err != nil {
		return nil, err
	}
	c := m.Config
	n, d := all.Shape[1], all.Shape[2]
	take := func(lo, hi int) *Features {
		f := &Features{Shape: []int{batch, hi - lo, d}, Data: make([]float32, 0, batch*(hi-lo)*d)}
		for b := range batch {
			f.Data = append(f.Data, all.Data[(b*n+lo)*d:(b*n+hi)*d]...)
		}
		return f
	}
	t := &Tokens{Class: take(0, 1), Patches: take(1+c.Registers, n), GridH: h / c.PatchSize, GridW: w / c.PatchSize}
	t.Class.Shape = []int{batch, d}
	if c.Registers > 0 {
		t.Registers = take(1, 1+c.Registers)
	}
	return t, nil
}
