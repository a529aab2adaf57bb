package clip

import (
	"encoding/json"
	"fmt"

	"github.com/clipsurgery/clipsurgery/gomlx_clip/tokenizer"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
)

// open_clip_config.json, as open_clip's push_to_hf_hub.save_config_for_hf writes it:
// {"model_cfg": {...}, "preprocess_cfg": {...}}. The keys and their defaults are those of
// open_clip v3.3.0 (model.py: CLIP, CLIPVisionCfg, CLIPTextCfg; transform.py: PreprocessCfg). An
// absent key takes open_clip's default, which is then checked against the weights like a stated
// one. Every option of those classes is either implemented, harmless at inference (training-only,
// or unused by the tower that is built), or refused by name; an unknown key is refused as
// open_clip's dataclasses refuse it.

// The published ViT-B/L/H/g/bigG configs (model_configs/) set only image_size, layers, width,
// head_width, mlp_ratio and patch_size, and quick_gelu at the top; the CLIPA ones add no_ln_pre,
// pool_type "avg" and final_ln_after_pool (implemented here, though their BERT tokenizer is not).
var (
	openCLIPModelKeys = []string{"embed_dim", "quick_gelu", "vision_cfg", "text_cfg", "custom_text",
		"init_logit_scale", "init_logit_bias", "nonscalar_logit_scale", "cast_dtype", "output_dict", "multimodal_cfg"}
	openCLIPBlockKeys = []string{"ls_init_value", "act_kwargs", "norm_kwargs", "block_type", "qk_norm",
		"scaled_cosine_attn", "scale_heads", "scale_attn_inner", "scale_attn", "scale_fc", "output_tokens"}
	openCLIPVisionKeys = append([]string{"layers", "width", "head_width", "mlp_ratio", "patch_size", "image_size",
		"patch_dropout", "attentional_pool", "attn_pooler_queries", "attn_pooler_heads", "no_ln_pre",
		"pos_embed_type", "final_ln_after_pool", "pool_type", "timm_model_name", "timm_model_pretrained",
		"timm_pool", "timm_proj", "timm_proj_bias", "timm_drop", "timm_drop_path"}, openCLIPBlockKeys...)
	openCLIPTextKeys = append([]string{"context_length", "vocab_size", "hf_tokenizer_name", "tokenizer_mode",
		"tokenizer_kwargs", "width", "heads", "layers", "mlp_ratio", "embed_cls", "pad_id", "eos_id",
		"no_causal_mask", "final_ln_after_pool", "pool_type", "proj_bias", "proj_type", "hf_model_name",
		"hf_model_pretrained", "hf_proj_type", "hf_pooler_type"}, openCLIPBlockKeys...)
)

func parseOpenCLIPConfig(top jsonObject) (*archConfig, error) {
	a := &archConfig{file: top.file, layout: LayoutOpenCLIP, tokens: tokenizer.OpenCLIP}
	mc, err := top.obj("model_cfg")
	if err != nil {
		return nil, err
	}
	if err := mc.onlyKeys(openCLIPModelKeys...); err != nil {
		return nil, err
	}
	switch {
	case mc.has("multimodal_cfg"):
		return nil, mc.unsupported("multimodal_cfg", "CoCa's captioning decoder")
	case mc.has("init_logit_bias"):
		return nil, mc.unsupported("init_logit_bias", "SigLIP's sigmoid-loss models")
	}
	if custom, err := mc.bool("custom_text", false); err != nil || custom {
		return nil, firstErr(err, mc.unsupported("custom_text", "CustomTextCLIP's text.* layout"))
	}
	if !mc.has("embed_dim") {
		return nil, fmt.Errorf("clip: %s: model_cfg.embed_dim is missing", a.file)
	}
	embed, err := mc.int("embed_dim", 0)
	if err != nil {
		return nil, err
	}
	a.check("model_cfg.embed_dim", embed, "text_projection columns", func(c Config) int { return c.EmbedDim })
	quick, err := mc.bool("quick_gelu", false)
	if err != nil {
		return nil, err
	}
	act := ActGELU // open_clip's nn.GELU unless quick_gelu
	if quick {
		act = ActQuickGELU
	}
	vc, err := mc.obj("vision_cfg")
	if err == nil {
		err = a.openCLIPVision(vc, act)
	}
	if err != nil {
		return nil, err
	}
	tc, err := mc.obj("text_cfg")
	if err == nil {
		err = a.openCLIPText(tc, act)
	}
	if err != nil {
		return nil, err
	}
	pc, err := top.obj("preprocess_cfg")
	if err != nil {
		return nil, err
	}
	a.preprocess, err = openCLIPPreprocess(pc)
	return a, err
}

func (a *archConfig) openCLIPVision(o jsonObject, act Activation) error {
	if err := o.onlyKeys(openCLIPVisionKeys...); err != nil {
		return err
	}
	if name, err := o.str("timm_model_name", ""); err != nil || name != "" {
		return firstErr(err, o.unsupported("timm_model_name", "timm image towers"))
	}
	width, err1 := o.int("width", 768)
	headWidth, err2 := o.int("head_width", 64)
	size, err3 := o.side("image_size", 224)
	if err := firstErr(err1, err2, err3); err != nil {
		return err
	}
	if headWidth == 0 {
		return o.bad("head_width", 0, "a positive head width")
	}
	a.visionHeadsKey = o.key("head_width")
	isResNet := false
	if _, list := o.m["layers"].([]any); list {
		isResNet = true
		a.resNet = &isResNet
		// ModifiedResNet reads layers, width, head_width and image_size only (model.py).
		stages, err := o.ints("layers", 4)
		if err != nil {
			return err
		}
		for i, n := range stages {
			a.check(fmt.Sprintf("%s[%d]", o.key("layers"), i), n, fmt.Sprintf("visual.layer%d bottlenecks", i+1),
				func(c Config) int { return c.ResNetLayers[i] })
		}
		a.check(o.key("width"), width, "visual.layer1.0.conv1.weight rows", func(c Config) int { return c.VisionWidth })
		a.check(o.key("image_size"), size, "attnpool positional grid × 32", func(c Config) int { return c.ImageResolution })
		a.visionHeads = width * 32 / headWidth
		return nil
	}
	a.resNet = &isResNet
	layers, err1 := o.int("layers", 12)
	patch, err2 := o.side("patch_size", 16)
	ratio, err3 := o.float("mlp_ratio", 4.0)
	if err := firstErr(err1, err2, err3); err != nil {
		return err
	}
	if patch == 0 || size%patch != 0 {
		return fmt.Errorf("clip: %s: %s %d is not a multiple of %s %d", o.file, o.key("image_size"), size, o.key("patch_size"), patch)
	}
	a.check(o.key("width"), width, "visual.conv1.weight rows", func(c Config) int { return c.VisionWidth })
	a.check(o.key("layers"), layers, "visual.transformer.resblocks", func(c Config) int { return c.VisionLayers })
	a.check(o.key("patch_size"), patch, "visual.conv1.weight kernel", func(c Config) int { return c.PatchSize })
	a.check(o.key("image_size"), size, "visual.positional_embedding grid × patch", func(c Config) int { return c.ImageResolution })
	// int(width * mlp_ratio), truncated as open_clip's Transformer does (bigG: 1664·4.9231 → 8192).
	a.check(o.key("mlp_ratio")+" (×width)", int(float64(width)*ratio), "visual c_fc rows", func(c Config) int { return c.VisionMLPWidth() })
	a.visionHeads = width / headWidth

	if v := o.m["attentional_pool"]; v != nil && v != false {
		return o.unsupported("attentional_pool", "CoCa's attentional pooler")
	}
	if pe, err := o.str("pos_embed_type", "learnable"); err != nil || pe != "learnable" {
		return firstErr(err, o.unsupported("pos_embed_type", "only learnable positional embeddings"))
	}
	if _, err := o.float("patch_dropout", 0); err != nil { // training only: identity at inference
		return err
	}
	pool, err := o.str("pool_type", "tok")
	if err != nil {
		return err
	}
	switch VisionPool(pool) {
	case PoolClassToken, PoolAverage:
		a.pool = VisionPool(pool)
	default:
		return o.unsupported("pool_type", `only "tok" and "avg"`)
	}
	if a.noLnPre, err = o.bool("no_ln_pre", false); err != nil {
		return err
	}
	if a.finalLNAfterPool, err = o.bool("final_ln_after_pool", false); err != nil {
		return err
	}
	a.visionAct, a.visionEps, err = openCLIPBlocks(o, act)
	return err
}

func (a *archConfig) openCLIPText(o jsonObject, act Activation) error {
	if err := o.onlyKeys(openCLIPTextKeys...); err != nil {
		return err
	}
	for _, k := range []struct{ key, why string }{{"hf_model_name", "Hugging Face text towers"},
		{"hf_tokenizer_name", "tokenizers other than CLIP's BPE"}, {"tokenizer_mode", "tokenizers other than CLIP's BPE"}} {
		if s, err := o.str(k.key, ""); err != nil || s != "" {
			return firstErr(err, o.unsupported(k.key, k.why))
		}
	}
	kw, err := o.obj("tokenizer_kwargs")
	if err == nil {
		err = kw.onlyKeys("clean")
	}
	if err != nil {
		return err
	}
	if clean, err := kw.str("clean", "lower"); err != nil || clean != "lower" {
		return firstErr(err, kw.unsupported("clean", `only CLIP's "lower" clean-up`))
	}
	ctx, err1 := o.int("context_length", 77)
	vocab, err2 := o.int("vocab_size", 49408)
	width, err3 := o.int("width", 512)
	heads, err4 := o.int("heads", 8)
	layers, err5 := o.int("layers", 12)
	ratio, err6 := o.float("mlp_ratio", 4.0)
	if err := firstErr(err1, err2, err3, err4, err5, err6); err != nil {
		return err
	}
	a.check(o.key("context_length"), ctx, "positional_embedding rows", func(c Config) int { return c.ContextLength })
	a.check(o.key("vocab_size"), vocab, "token_embedding.weight rows", func(c Config) int { return c.VocabSize })
	a.check(o.key("width"), width, "text_projection rows", func(c Config) int { return c.TextWidth })
	a.check(o.key("layers"), layers, "transformer.resblocks", func(c Config) int { return c.TextLayers })
	a.check(o.key("mlp_ratio")+" (×width)", int(float64(width)*ratio), "text c_fc rows", func(c Config) int { return c.TextMLPWidth() })
	a.textHeads, a.textHeadsKey = heads, o.key("heads")

	for _, k := range []struct{ key, why string }{
		{"embed_cls", "CoCa's class token"}, {"no_causal_mask", "only the causal text transformer"},
		{"final_ln_after_pool", "only ln_final before pooling"}, {"proj_bias", "only a bias-free text projection"},
	} {
		if b, err := o.bool(k.key, false); err != nil || b {
			return firstErr(err, o.unsupported(k.key, k.why))
		}
	}
	if pool, err := o.str("pool_type", "argmax"); err != nil || pool != "argmax" {
		return firstErr(err, o.unsupported("pool_type", "only argmax (EOT) pooling"))
	}
	if proj, err := o.str("proj_type", "linear"); err != nil || proj != "linear" {
		return firstErr(err, o.unsupported("proj_type", "only the linear text projection"))
	}
	a.textAct, a.textEps, err = openCLIPBlocks(o, act)
	return err
}

// openCLIPBlocks reads the options every open_clip transformer tower shares: the activation
// (act_kwargs), the LayerNorm eps (norm_kwargs) and the custom-block switches, refused.
func openCLIPBlocks(o jsonObject, act Activation) (Activation, float64, error) {
	if o.has("ls_init_value") {
		return "", 0, o.unsupported("ls_init_value", "LayerScale")
	}
	if bt, err := o.str("block_type", ""); err != nil || (bt != "" && bt != "default") {
		return "", 0, firstErr(err, o.unsupported("block_type", "only the default residual attention block"))
	}
	for _, k := range []string{"qk_norm", "scaled_cosine_attn", "scale_heads", "scale_attn_inner", "scale_attn", "scale_fc"} {
		if b, err := o.bool(k, false); err != nil || b {
			return "", 0, firstErr(err, o.unsupported(k, "only the default residual attention block"))
		}
	}
	if _, err := o.bool("output_tokens", false); err != nil { // what forward returns, not the numbers
		return "", 0, err
	}
	ak, err := o.obj("act_kwargs")
	if err == nil {
		err = ak.onlyKeys("approximate")
	}
	if err != nil {
		return "", 0, err
	}
	if ak.has("approximate") {
		approx, err := ak.str("approximate", "none")
		switch {
		case err != nil:
			return "", 0, err
		case act == ActQuickGELU:
			return "", 0, ak.unsupported("approximate", "QuickGELU takes no arguments")
		case approx == "tanh":
			act = ActGELUTanh
		case approx != "none":
			return "", 0, ak.unsupported("approximate", `only "none" and "tanh"`)
		}
	}
	nk, err := o.obj("norm_kwargs")
	if err == nil {
		err = nk.onlyKeys("eps")
	}
	if err != nil {
		return "", 0, err
	}
	eps, err := nk.float("eps", DefaultLayerNormEps)
	if err == nil && !(eps > 0 && eps < 1) {
		err = nk.bad("eps", eps, "a small positive number")
	}
	return act, eps, err
}

// openCLIPPreprocess reads preprocess_cfg (PreprocessCfg's fields; open_clip ignores other keys,
// and so does this). Its size is not read: create_model sets it to the image tower's size.
func openCLIPPreprocess(o jsonObject) (imageprep.Transform, error) {
	t := imageprep.OpenAITransform(0)
	if mode, err := o.str("mode", "RGB"); err != nil || mode != "RGB" {
		return t, firstErr(err, o.unsupported("mode", "only RGB inputs"))
	}
	var err1, err2 error
	t.Mean, err1 = o.triple("mean", t.Mean)
	t.Std, err2 = o.triple("std", t.Std)
	interp, err3 := o.str("interpolation", "bicubic")
	mode, err4 := o.str("resize_mode", "shortest")
	fill, err5 := o.int("fill_color", 0)
	if err := firstErr(err1, err2, err3, err4, err5); err != nil {
		return t, err
	}
	switch interp {
	case "bicubic", "random": // image_transform: "random" is bicubic at inference
		t.Interpolation = imageprep.Bicubic
	case "bilinear":
		t.Interpolation = imageprep.Bilinear
	default:
		return t, o.bad("interpolation", interp, "bicubic, bilinear or random")
	}
	switch m := imageprep.ResizeMode(mode); m {
	case imageprep.Shortest, imageprep.Squash, imageprep.Longest:
		t.ResizeMode = m
	default:
		return t, o.bad("resize_mode", mode, "shortest, squash or longest")
	}
	if fill > 255 {
		return t, o.bad("fill_color", fill, "a grey level 0..255")
	}
	t.Fill = uint8(fill)
	return t, nil
}

// side reads an image or patch side: an integer, or a [h, w] pair with h = w.
func (o jsonObject) side(k string, def int) (int, error) {
	if _, list := o.m[k].([]any); !list {
		return o.int(k, def)
	}
	hw, err := o.ints(k, 2)
	if err != nil {
		return 0, err
	}
	if hw[0] != hw[1] {
		return 0, o.unsupported(k, "only square inputs and patches")
	}
	return hw[0], nil
}

// ints reads a list of exactly n non-negative integers.
func (o jsonObject) ints(k string, n int) ([]int, error) {
	list, ok := o.m[k].([]any)
	if !ok || len(list) != n {
		return nil, o.bad(k, o.m[k], fmt.Sprintf("a list of %d integers", n))
	}
	out := make([]int, n)
	for i, v := range list {
		num, isNum := v.(json.Number)
		x, err := num.Int64()
		if !isNum || err != nil || x < 0 || x > 1<<20 {
			return nil, o.bad(k, o.m[k], fmt.Sprintf("a list of %d integers", n))
		}
		out[i] = int(x)
	}
	return out, nil
}

// triple reads a per-channel value: one number for all three channels, or a list of three
// (rounded to float32 as torch's Normalize does).
func (o jsonObject) triple(k string, def [3]float32) ([3]float32, error) {
	v, ok := o.m[k]
	if !ok || v == nil {
		return def, nil
	}
	var out [3]float32
	if n, isNum := v.(json.Number); isNum {
		f, err := n.Float64()
		if err != nil {
			return out, o.bad(k, v, "a number or three")
		}
		return [3]float32{float32(f), float32(f), float32(f)}, nil
	}
	list, isList := v.([]any)
	if !isList || len(list) != 3 {
		return out, o.bad(k, v, "a number or three")
	}
	for i, x := range list {
		n, isNum := x.(json.Number)
		f, err := n.Float64()
		if !isNum || err != nil {
			return out, o.bad(k, v, "a number or three")
		}
		out[i] = float32(f)
	}
	return out, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
