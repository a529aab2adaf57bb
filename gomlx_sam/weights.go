package sam

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/clipsurgery/clipsurgery/weights/registry"
	"github.com/gomlx/compute"
)

// LoadOptions control Load and LoadFile, with the same shape as clip.LoadOptions. The zero value
// downloads into the default cache on the default backend, silently.
type LoadOptions struct {
	// Options say where Load caches a released checkpoint and how it downloads it (cache folder,
	// offline, progress, mirror, HTTP client): registry.Fetch's options, passed on as they are.
	registry.Options

	Backend compute.Backend // nil = modelkit.BackendFromEnv() (GOMLX_BACKEND, pure Go when unset)

	// ScoreBudget bounds the encoder's attention logits built at once, in bytes
	// (Config.ScoreBudget); 0 = the backend's default (modelkit.ScoreBudgetFor).
	ScoreBudget int
}

// Load loads a model by released name ("sam_vit_b", "sam_vit_l", "sam_vit_h"; also upstream's
// "vit_b", ...: downloaded once into the cache and verified, see registry.Fetch) or by checkpoint
// path (LoadFile). A named checkpoint must contain the encoder its name promises.
func Load(ctx context.Context, nameOrPath string, opt LoadOptions) (*Model, error) {
	ck, err := registry.LookupSAM(nameOrPath)
	if err != nil {
		if _, statErr := os.Stat(nameOrPath); statErr == nil || !errors.Is(err, registry.ErrUnknownModel) {
			return LoadFile(nameOrPath, opt)
		}
		return nil, fmt.Errorf("sam: %q is neither a checkpoint file nor a model name: %w", nameOrPath, err)
	}
	path, err := registry.Fetch(ctx, ck.Model, opt.Options)
	if err != nil {
		return nil, fmt.Errorf("sam: %w", err)
	}
	m, err := LoadFile(path, opt)
	if err != nil {
		return nil, err
	}
	if got := m.Config.Name(); got != ck.Variant {
		return nil, fmt.Errorf("sam: %s holds a %s encoder, but %s is %s", path, got, ck.Name, ck.Variant)
	}
	return m, nil
}

// LoadFile reads a SAM checkpoint (the released sam_vit_*.pth torch.save files, or safetensors
// with the same names) and builds the model.
func LoadFile(path string, opt LoadOptions) (*Model, error) {
	// Open, not Read: the weights go from the file straight into the backend's buffers.
	ckpt, err := weights.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sam: %w", err)
	}
	defer ckpt.Close()
	// The checkpoint is ours: let newModel drop each host tensor once it is on the backend, so
	// that loading never holds two copies of a large model.
	m, err := newModel(ckpt.Tensors, opt.Backend, true)
	if err != nil {
		return nil, fmt.Errorf("%w (checkpoint %s)", err, path)
	}
	if opt.ScoreBudget != 0 {
		m.Config.ScoreBudget = opt.ScoreBudget
	}
	return m, nil
}

// NewModel builds a model from a state dict: the config is inferred from the shapes, then every
// tensor is checked (missing, unexpected, wrong shape, not float). A nil backend means
// modelkit.BackendFromEnv() (GOMLX_BACKEND, the pure-Go backend when unset).
func NewModel(state map[string]*weights.Tensor, backend compute.Backend) (*Model, error) {
	return newModel(state, backend, false)
}

// newModel is NewModel; consume clears each tensor's host data (t.F32) after copying it to the
// backend, for callers that own the state dict.
func newModel(state map[string]*weights.Tensor, backend compute.Backend, consume bool) (*Model, error) {
	dims := make(map[string][]int, len(state))
	for name, t := range state {
		dims[name] = t.Shape
	}
	cfg, err := InferConfig(dims)
	if err != nil {
		return nil, err
	}
	if err := CheckShapes(cfg, dims); err != nil {
		return nil, err
	}
	for _, name := range []string{"pixel_mean", "pixel_std"} {
		if t, ok := state[name]; ok { // non-persistent upstream, but some exports include them
			if t.F32 == nil && !t.Lazy() {
				return nil, fmt.Errorf("sam: %s has dtype %s, want a float", name, t.DType)
			}
			dst := &cfg.PixelMean
			if name == "pixel_std" {
				dst = &cfg.PixelStd
			}
			if err := t.ReadF32(dst[:min(len(dst), t.Numel())], 0); err != nil {
				return nil, fmt.Errorf("sam: %w", err)
			}
		}
	}
	if backend == nil {
		if backend, err = modelkit.BackendFromEnv(); err != nil {
			return nil, fmt.Errorf("sam: %w", err)
		}
	}
	want, dense := expectedShapes(cfg)
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	w, err := modelkit.Upload(backend, state, names, func(name string) bool { return dense[name] }, consume)
	if err != nil {
		return nil, fmt.Errorf("sam: %w", err)
	}
	return &Model{Config: cfg, weights: w, programs: modelkit.NewPrograms[string](w)}, nil
}

// ExpectedShapes lists every tensor of Sam.state_dict() for a configuration, with its shape.
func ExpectedShapes(c Config) map[string][]int {
	s, _ := expectedShapes(c)
	return s
}

// expectedShapes is ExpectedShapes and the set of Linear weights among them: the Model stores
// those transposed to [in, out] (modelkit.Dense).
func expectedShapes(c Config) (s map[string][]int, dense map[string]bool) {
	s, dense = map[string][]int{}, map[string]bool{}
	linear := func(prefix string, out, in int, bias bool) {
		s[prefix+".weight"] = []int{out, in}
		dense[prefix+".weight"] = true
		if bias {
			s[prefix+".bias"] = []int{out}
		}
	}
	norm := func(prefix string, n int) {
		s[prefix+".weight"] = []int{n}
		s[prefix+".bias"] = []int{n}
	}

	// Image encoder.
	e, g := c.EncoderDim, c.GridSize()
	s["image_encoder.patch_embed.proj.weight"] = []int{e, c.InChans, c.PatchSize, c.PatchSize}
	s["image_encoder.patch_embed.proj.bias"] = []int{e}
	if c.UseAbsPos {
		s["image_encoder.pos_embed"] = []int{1, g, g, e}
	}
	for i := range c.EncoderDepth {
		b := fmt.Sprintf("image_encoder.blocks.%d", i)
		norm(b+".norm1", e)
		norm(b+".norm2", e)
		linear(b+".attn.qkv", 3*e, e, c.QKVBias)
		linear(b+".attn.proj", e, e, true)
		if c.UseRelPos {
			side := c.WindowSize
			if c.IsGlobal(i) {
				side = g
			}
			s[b+".attn.rel_pos_h"] = []int{2*side - 1, c.HeadDim()}
			s[b+".attn.rel_pos_w"] = []int{2*side - 1, c.HeadDim()}
		}
		linear(b+".mlp.lin1", c.EncoderMLPDim, e, true)
		linear(b+".mlp.lin2", e, c.EncoderMLPDim, true)
	}
	s["image_encoder.neck.0.weight"] = []int{c.OutChans, e, 1, 1}
	norm("image_encoder.neck.1", c.OutChans)
	s["image_encoder.neck.2.weight"] = []int{c.OutChans, c.OutChans, 3, 3}
	norm("image_encoder.neck.3", c.OutChans)

	// Prompt encoder.
	d := c.PromptEmbedDim
	s["prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"] = []int{2, d / 2}
	for i := range 4 {
		s[fmt.Sprintf("prompt_encoder.point_embeddings.%d.weight", i)] = []int{1, d}
	}
	s["prompt_encoder.not_a_point_embed.weight"] = []int{1, d}
	s["prompt_encoder.no_mask_embed.weight"] = []int{1, d}
	mc := c.MaskInChans
	s["prompt_encoder.mask_downscaling.0.weight"] = []int{mc / 4, 1, 2, 2}
	s["prompt_encoder.mask_downscaling.0.bias"] = []int{mc / 4}
	norm("prompt_encoder.mask_downscaling.1", mc/4)
	s["prompt_encoder.mask_downscaling.3.weight"] = []int{mc, mc / 4, 2, 2}
	s["prompt_encoder.mask_downscaling.3.bias"] = []int{mc}
	norm("prompt_encoder.mask_downscaling.4", mc)
	s["prompt_encoder.mask_downscaling.6.weight"] = []int{d, mc, 1, 1}
	s["prompt_encoder.mask_downscaling.6.bias"] = []int{d}

	// Mask decoder.
	t := c.TransformerDim
	cross := t / c.AttentionDownsampleRate
	attn := func(prefix string, inner int) {
		linear(prefix+".q_proj", inner, t, true)
		linear(prefix+".k_proj", inner, t, true)
		linear(prefix+".v_proj", inner, t, true)
		linear(prefix+".out_proj", t, inner, true)
	}
	for i := range c.TransformerDepth {
		l := fmt.Sprintf("mask_decoder.transformer.layers.%d", i)
		attn(l+".self_attn", t)
		attn(l+".cross_attn_token_to_image", cross)
		attn(l+".cross_attn_image_to_token", cross)
		for j := 1; j <= 4; j++ {
			norm(fmt.Sprintf("%s.norm%d", l, j), t)
		}
		linear(l+".mlp.lin1", c.TransformerMLPDim, t, true)
		linear(l+".mlp.lin2", t, c.TransformerMLPDim, true)
	}
	attn("mask_decoder.transformer.final_attn_token_to_image", cross)
	norm("mask_decoder.transformer.norm_final_attn", t)
	masks := c.NumMultimaskOutputs + 1
	s["mask_decoder.iou_token.weight"] = []int{1, t}
	s["mask_decoder.mask_tokens.weight"] = []int{masks, t}
	s["mask_decoder.output_upscaling.0.weight"] = []int{t, t / 4, 2, 2}
	s["mask_decoder.output_upscaling.0.bias"] = []int{t / 4}
	norm("mask_decoder.output_upscaling.1", t/4)
	s["mask_decoder.output_upscaling.3.weight"] = []int{t / 4, t / 8, 2, 2}
	s["mask_decoder.output_upscaling.3.bias"] = []int{t / 8}
	for k := range masks {
		h := fmt.Sprintf("mask_decoder.output_hypernetworks_mlps.%d", k)
		linear(h+".layers.0", t, t, true)
		linear(h+".layers.1", t, t, true)
		linear(h+".layers.2", t/8, t, true)
	}
	for i := range c.IoUHeadDepth {
		in, out := c.IoUHeadHiddenDim, c.IoUHeadHiddenDim
		if i == 0 {
			in = t
		}
		if i == c.IoUHeadDepth-1 {
			out = masks
		}
		linear(fmt.Sprintf("mask_decoder.iou_prediction_head.layers.%d", i), out, in, true)
	}
	return s, dense
}

// optionalExtras are names a state dict may carry beyond Sam.state_dict(): the normalisation
// buffers, which upstream registers as non-persistent.
var optionalExtras = map[string][]int{"pixel_mean": {3, 1, 1}, "pixel_std": {3, 1, 1}}

// CheckShapes compares a state dict with ExpectedShapes(c) and lists every missing, unexpected
// and wrongly shaped tensor in one error (modelkit.CheckShapes).
func CheckShapes(c Config, shapes map[string][]int) error {
	return modelkit.CheckShapes(fmt.Sprintf("sam: checkpoint does not match the %s configuration it implies", c.Name()),
		ExpectedShapes(c), shapes, func(name string, shape []int) bool {
			w, ok := optionalExtras[name]
			return ok && slices.Equal(shape, w)
		})
}
