package sam

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/backendbuf"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/clipsurgery/clipsurgery/weights/registry"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// Load reads a SAM checkpoint (the released sam_vit_*.pth torch.save files, or safetensors with
// the same names) and builds the model on the default backend (GOMLX_BACKEND, pure Go when unset).
func Load(path string) (*Model, error) {
	ckpt, err := weights.Read(path)
	if err != nil {
		return nil, fmt.Errorf("sam: %w", err)
	}
	// The checkpoint is ours: let newModel drop each host tensor once it is on the backend, so
	// that loading never holds two copies of a large model.
	m, err := newModel(ckpt.Tensors, nil, true)
	if err != nil {
		return nil, fmt.Errorf("%w (checkpoint %s)", err, path)
	}
	return m, nil
}

// Open loads a model by released name ("sam_vit_b", "sam_vit_l", "sam_vit_h"; also upstream's
// "vit_b", ...: downloaded once into the cache and verified, see registry.Fetch) or by checkpoint
// path. A named checkpoint must contain the encoder its name promises.
func Open(ctx context.Context, nameOrPath string, opt registry.Options) (*Model, error) {
	ck, err := registry.LookupSAM(nameOrPath)
	if err != nil {
		if _, statErr := os.Stat(nameOrPath); statErr == nil || !errors.Is(err, registry.ErrUnknownModel) {
			return Load(nameOrPath)
		}
		return nil, fmt.Errorf("sam: %q is neither a checkpoint file nor a model name: %w", nameOrPath, err)
	}
	path, err := registry.Fetch(ctx, ck.Model, opt)
	if err != nil {
		return nil, fmt.Errorf("sam: %w", err)
	}
	m, err := Load(path)
	if err != nil {
		return nil, err
	}
	if got := m.Config.Name(); got != ck.Variant {
		return nil, fmt.Errorf("sam: %s holds a %s encoder, but %s is %s", path, got, ck.Name, ck.Variant)
	}
	return m, nil
}

// NewModel builds a model from a state dict: the config is inferred from the shapes, then every
// tensor is checked (missing, unexpected, wrong shape, not float). A nil backend means
// clip.DefaultBackend(), the process-wide backend the CLIP models share.
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
			if t.F32 == nil {
				return nil, fmt.Errorf("sam: %s has dtype %s, want a float", name, t.DType)
			}
			dst := &cfg.PixelMean
			if name == "pixel_std" {
				dst = &cfg.PixelStd
			}
			copy(dst[:], t.F32)
		}
	}
	if backend == nil {
		if backend, err = clip.DefaultBackend(); err != nil {
			return nil, err
		}
	}
	m := &Model{Config: cfg, backend: backend, shapes: map[string][]int{}, programs: map[string]*program{}}
	for name := range ExpectedShapes(cfg) {
		m.names = append(m.names, name)
	}
	slices.Sort(m.names)
	for _, name := range m.names {
		if t := state[name]; t.F32 == nil {
			return nil, fmt.Errorf("sam: tensor %q has dtype %s, want a float type", name, t.DType)
		}
	}
	for _, name := range m.names {
		t := state[name]
		dev, err := onBackend(backend, t.F32, t.Shape)
		if err != nil {
			return nil, fmt.Errorf("sam: tensor %q: %w", name, err)
		}
		m.params = append(m.params, dev)
		m.shapes[name] = t.Shape
		if consume {
			t.F32 = nil
		}
	}
	return m, nil
}

// onBackend copies host values into a tensor created for the backend. On the go backend its
// buffer is shared with the host side, so the weights exist once; a local tensor
// (FromFlatDataAndDimensions) would get a second, device copy at the first execution.
func onBackend(backend compute.Backend, data []float32, dims []int) (*tensors.Tensor, error) {
	if backend.HasSharedBuffers() {
		buf, flat, err := backendbuf.SharedFloat32(backend, dims...) // exact size, not bucketed
		if err != nil {
			return nil, err
		}
		copy(flat, data)
		return tensors.FromBuffer(buf)
	}
	t, err := tensors.FromShapeForBackend(backend, 0, shapes.Make(dtypes.Float32, dims...))
	if err != nil {
		return nil, err
	}
	if err := tensors.MutableFlatData(t, func(flat []float32) { copy(flat, data) }); err != nil {
		return nil, err
	}
	return t, nil
}

// ExpectedShapes lists every tensor of Sam.state_dict() for a configuration, with its shape.
func ExpectedShapes(c Config) map[string][]int {
	s := map[string][]int{}
	linear := func(prefix string, out, in int, bias bool) {
		s[prefix+".weight"] = []int{out, in}
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
	return s
}

// optionalExtras are names a state dict may carry beyond Sam.state_dict(): the normalisation
// buffers, which upstream registers as non-persistent.
var optionalExtras = map[string][]int{"pixel_mean": {3, 1, 1}, "pixel_std": {3, 1, 1}}

// CheckShapes compares a state dict with ExpectedShapes(c) and lists every missing, unexpected
// and wrongly shaped tensor in one error.
func CheckShapes(c Config, shapes map[string][]int) error {
	want := ExpectedShapes(c)
	var missing, unexpected, wrong []string
	for name, w := range want {
		got, ok := shapes[name]
		switch {
		case !ok:
			missing = append(missing, name)
		case !slices.Equal(got, w):
			wrong = append(wrong, fmt.Sprintf("%s %v (want %v)", name, got, w))
		}
	}
	for name, got := range shapes {
		if _, ok := want[name]; ok {
			continue
		}
		if w, ok := optionalExtras[name]; ok && slices.Equal(got, w) {
			continue
		}
		unexpected = append(unexpected, name)
	}
	if len(missing)+len(unexpected)+len(wrong) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sam: checkpoint does not match the %s configuration it implies", c.Name())
	list := func(what string, names []string) {
		if len(names) == 0 {
			return
		}
		slices.Sort(names)
		const show = 8
		fmt.Fprintf(&b, "; %d %s: %s", len(names), what, strings.Join(names[:min(len(names), show)], ", "))
		if len(names) > show {
			fmt.Fprintf(&b, ", ... (%d more)", len(names)-show)
		}
	}
	list("missing", missing)
	list("unexpected", unexpected)
	list("with the wrong shape", wrong)
	return fmt.Errorf("%s", b.String())
}
