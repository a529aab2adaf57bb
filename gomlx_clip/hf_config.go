package clip

import (
	"errors"
	"fmt"
	"io/fs"
	"math"

	"github.com/clipsurgery/clipsurgery/gomlx_clip/tokenizer"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/safefile"
)

// A Hugging Face CLIPModel's config.json (transformers' CLIPConfig, CLIPTextConfig,
// CLIPVisionConfig) and, beside it, preprocessor_config.json (CLIPImageProcessor). transformers
// writes only the values that differ from its defaults, so an absent key takes the default of
// those classes (below), which is then checked against the weights like a stated one. Keys that
// do not change the encoders' numbers (dropouts, initialisers, generation settings ...) are
// ignored, as transformers ignores them at inference.

// hfActivations maps transformers' hidden_act names to the activations implemented here.
var hfActivations = map[string]Activation{
	"quick_gelu": ActQuickGELU, "gelu": ActGELU,
	"gelu_new": ActGELUTanh, "gelu_pytorch_tanh": ActGELUTanh, "gelu_fast": ActGELUTanh, // one function, three spellings
}

func parseHFConfig(top jsonObject, pre *imageprep.Transform) (*archConfig, error) {
	a := &archConfig{file: top.file, layout: LayoutHF, tokens: tokenizer.OpenAI}
	vit := false
	a.resNet = &vit // CLIPVisionModel is a ViT
	if mt, err := top.str("model_type", ""); err != nil || mt != "clip" {
		return nil, firstErr(err, top.unsupported("model_type", `only "clip" (CLIPModel); SigLIP, Chinese-CLIP, AltCLIP ... are other models`))
	}
	proj, err := top.int("projection_dim", 512)
	if err != nil {
		return nil, err
	}
	a.check("projection_dim", proj, "text_projection columns", func(c Config) int { return c.EmbedDim })

	text, err := hfTowerConfig(top, "text_config")
	if err != nil {
		return nil, err
	}
	tw, err := a.hfTower(text, hfTowerDefaults{"text", 512, 2048, 12, 8},
		func(c Config) int { return c.TextWidth }, func(c Config) int { return c.TextLayers }, func(c Config) int { return c.TextMLPWidth() })
	if err != nil {
		return nil, err
	}
	a.textHeads, a.textHeadsKey, a.textAct, a.textEps = tw.heads, text.key("num_attention_heads"), tw.act, tw.eps
	ctx, err1 := text.int("max_position_embeddings", 77)
	vocab, err2 := text.int("vocab_size", 49408)
	eos, err3 := text.int("eos_token_id", 2)
	if err := firstErr(err1, err2, err3); err != nil {
		return nil, err
	}
	a.check(text.key("max_position_embeddings"), ctx, "positional_embedding rows", func(c Config) int { return c.ContextLength })
	a.check(text.key("vocab_size"), vocab, "token_embedding.weight rows", func(c Config) int { return c.VocabSize })
	// CLIPTextTransformer pools at the argmax of the ids when eos_token_id is 2 (its legacy
	// configs), else at the first eos_token_id: the same row when that is the largest id.
	if eos != 2 && eos != vocab-1 {
		return nil, text.unsupported("eos_token_id", "only pooling at the largest id, CLIP's EOT")
	}

	vision, err := hfTowerConfig(top, "vision_config")
	if err != nil {
		return nil, err
	}
	vt, err := a.hfTower(vision, hfTowerDefaults{"vision", 768, 3072, 12, 12},
		func(c Config) int { return c.VisionWidth }, func(c Config) int { return c.VisionLayers }, func(c Config) int { return c.VisionMLPWidth() })
	if err != nil {
		return nil, err
	}
	a.visionHeads, a.visionHeadsKey, a.visionAct, a.visionEps = vt.heads, vision.key("num_attention_heads"), vt.act, vt.eps
	size, err1 := vision.int("image_size", 224)
	patch, err2 := vision.int("patch_size", 32)
	channels, err3 := vision.int("num_channels", 3)
	if err := firstErr(err1, err2, err3); err != nil {
		return nil, err
	}
	if channels != 3 {
		return nil, vision.unsupported("num_channels", "only RGB inputs")
	}
	a.check(vision.key("patch_size"), patch, "visual.conv1.weight kernel", func(c Config) int { return c.PatchSize })
	a.check(vision.key("image_size"), size, "visual.positional_embedding grid × patch", func(c Config) int { return c.ImageResolution })

	a.preprocess = imageprep.OpenAITransform(0) // CLIPImageProcessor's defaults
	if pre != nil {
		a.preprocess = *pre
		a.check(HFPreprocessorName+" crop_size", pre.Size, "the native resolution", func(c Config) int { return c.ImageResolution })
		a.preprocess.Size = 0
	}
	return a, nil
}

// hfTowerConfig is text_config or vision_config, with the legacy text_config_dict /
// vision_config_dict laid over it as CLIPConfig.__init__ does.
func hfTowerConfig(top jsonObject, k string) (jsonObject, error) {
	o, err := top.obj(k)
	if err != nil {
		return o, err
	}
	legacy, err := top.obj(k + "_dict")
	if err != nil {
		return o, err
	}
	merged := make(map[string]any, len(o.m)+len(legacy.m))
	for _, m := range []map[string]any{o.m, legacy.m} {
		for key, v := range m {
			merged[key] = v
		}
	}
	o.m = merged
	return o, nil
}

// hfTowerDefaults are CLIPTextConfig's or CLIPVisionConfig's defaults (tower names it).
type hfTowerDefaults struct {
	tower                     string
	width, mlp, layers, heads int
}

type hfTowerSpec struct {
	heads int
	act   Activation
	eps   float64
}

// hfTower reads the keys both tower configs share and queues their checks.
func (a *archConfig) hfTower(o jsonObject, def hfTowerDefaults, width, layers, mlp func(Config) int) (hfTowerSpec, error) {
	var s hfTowerSpec
	w, err1 := o.int("hidden_size", def.width)
	inter, err2 := o.int("intermediate_size", def.mlp)
	n, err3 := o.int("num_hidden_layers", def.layers)
	heads, err4 := o.int("num_attention_heads", def.heads)
	act, err5 := o.str("hidden_act", "quick_gelu")
	eps, err6 := o.float("layer_norm_eps", DefaultLayerNormEps)
	if err := firstErr(err1, err2, err3, err4, err5, err6); err != nil {
		return s, err
	}
	a.check(o.key("hidden_size"), w, def.tower+" width", width)
	a.check(o.key("num_hidden_layers"), n, def.tower+" blocks", layers)
	a.check(o.key("intermediate_size"), inter, def.tower+" c_fc rows", mlp)
	var ok bool
	if s.act, ok = hfActivations[act]; !ok {
		return s, o.unsupported("hidden_act", "quick_gelu, gelu and the tanh GELUs only")
	}
	if !(eps > 0 && eps < 1) {
		return s, o.bad("layer_norm_eps", eps, "a small positive number")
	}
	s.heads, s.eps = heads, eps
	return s, nil
}

// readHFPreprocessor reads a CLIPImageProcessor's preprocessor_config.json, or returns nil when
// there is none. CLIP's processing (resize the short side, centre crop, rescale by 1/255,
// normalise) maps onto an imageprep.Transform in Shortest mode, whose Size is the crop; a
// processor doing something else is refused. (transformers crops at offset (side−crop)//2 where
// torchvision rounds half to even: this follows open_clip's arithmetic, one pixel apart at most.)
func readHFPreprocessor(path string) (*imageprep.Transform, error) {
	data, err := safefile.ReadFile(path, maxConfigBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("clip: preprocessor config %w", err)
	}
	o, err := parseJSONObject(path, data)
	if err != nil {
		return nil, err
	}
	t := imageprep.OpenAITransform(224)
	for _, k := range []string{"do_resize", "do_center_crop", "do_rescale", "do_normalize"} {
		if on, err := o.bool(k, true); err != nil || !on {
			return nil, firstErr(err, o.unsupported(k, "only CLIP's resize, crop, rescale and normalisation"))
		}
	}
	if f, err := o.float("rescale_factor", 1.0/255); err != nil || math.Abs(f-1.0/255) > 1e-12 {
		return nil, firstErr(err, o.unsupported("rescale_factor", "only 1/255"))
	}
	var err1, err2 error
	t.Mean, err1 = o.triple("image_mean", t.Mean)
	t.Std, err2 = o.triple("image_std", t.Std)
	resample, err3 := o.int("resample", 3)
	short, err4 := o.hfSide("size", "shortest_edge", 224)
	crop, err5 := o.hfSide("crop_size", "height", 224)
	if err := firstErr(err1, err2, err3, err4, err5); err != nil {
		return nil, err
	}
	switch resample { // PIL's filter numbers
	case 3:
		t.Interpolation = imageprep.Bicubic
	case 2:
		t.Interpolation = imageprep.Bilinear
	default:
		return nil, o.unsupported("resample", "only bicubic (3) and bilinear (2)")
	}
	if short != crop {
		return nil, o.unsupported("size", fmt.Sprintf("only a short side equal to the %d px crop", crop))
	}
	t.Size = crop
	return &t, nil
}

// hfSide reads a processor size: an integer, or an object whose field f gives it (a crop must be
// square).
func (o jsonObject) hfSide(k, f string, def int) (int, error) {
	if _, isObj := o.m[k].(map[string]any); !isObj {
		return o.int(k, def)
	}
	sub, _ := o.obj(k)
	v, err := sub.int(f, def)
	if err != nil {
		return 0, err
	}
	if sub.has("width") {
		if w, err := sub.int("width", v); err != nil || w != v {
			return 0, firstErr(err, o.unsupported(k, "only square crops"))
		}
	}
	return v, nil
}
