package clip

import (
	"archive/zip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// Bad configs, folders and files in the open_clip and Hugging Face layouts: each is a one-line
// error naming what is wrong, and nothing is loaded.

// variantFolder makes a folder holding a golden variant's weights (linked) and its config as
// edited by edit (the parsed JSON; nil: copied unchanged).
func variantFolder(t *testing.T, variant, weightsName, configName string, edit func(map[string]any)) string {
	t.Helper()
	src := goldens.Path(t, "openclip", "models", variant)
	dir := t.TempDir()
	if weightsName != "" {
		if err := os.Symlink(filepath.Join(src, weightsName), filepath.Join(dir, weightsName)); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(src, configName))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var cfg map[string]any
		if err := json.Unmarshal(data, &cfg); err != nil {
			t.Fatal(err)
		}
		edit(cfg)
		if data, err = json.Marshal(cfg); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, configName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// at walks a path of object keys, creating objects on the way.
func at(cfg map[string]any, path ...string) map[string]any {
	for _, k := range path {
		next, ok := cfg[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			cfg[k] = next
		}
		cfg = next
	}
	return cfg
}

func wantOneLineError(t *testing.T, what string, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", what)
		return
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("%s: error spans lines: %q", what, msg)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("%s: error %q does not say %q", what, msg, p)
		}
	}
}

func TestOpenCLIPConfigErrors(t *testing.T) {
	const oc, safe = OpenCLIPConfigName, "open_clip_model.safetensors"
	vision := func(k string, v any) func(map[string]any) {
		return func(c map[string]any) { at(c, "model_cfg", "vision_cfg")[k] = v }
	}
	text := func(k string, v any) func(map[string]any) {
		return func(c map[string]any) { at(c, "model_cfg", "text_cfg")[k] = v }
	}
	model := func(k string, v any) func(map[string]any) {
		return func(c map[string]any) { at(c, "model_cfg")[k] = v }
	}
	for _, c := range []struct {
		name  string
		edit  func(map[string]any)
		parts []string
	}{
		{"vision width contradicts", vision("width", 256), []string{oc, "model_cfg.vision_cfg.width 256 contradicts the weights", "128"}},
		{"vision layers contradict", vision("layers", 12), []string{"model_cfg.vision_cfg.layers 12 contradicts"}},
		{"patch contradicts", vision("patch_size", 32), []string{"model_cfg.vision_cfg.patch_size 32 contradicts"}},
		{"image size contradicts", vision("image_size", 256), []string{"model_cfg.vision_cfg.image_size 256 contradicts"}},
		{"image size off the patch grid", vision("image_size", 230), []string{"image_size 230 is not a multiple"}},
		{"mlp ratio contradicts", vision("mlp_ratio", 2.0), []string{"model_cfg.vision_cfg.mlp_ratio", "contradicts"}},
		{"head width wider than the tower", vision("head_width", 200), []string{"model_cfg.vision_cfg.head_width gives 0 heads"}},
		{"ResNet config, ViT weights", vision("layers", []int{3, 4, 6, 3}), []string{"ModifiedResNet image tower but the weights hold a ViT"}},
		{"text heads do not split the width", text("heads", 3), []string{"model_cfg.text_cfg.heads gives 3 heads"}},
		{"context contradicts", text("context_length", 64), []string{"model_cfg.text_cfg.context_length 64 contradicts"}},
		{"vocab contradicts", text("vocab_size", 32000), []string{"model_cfg.text_cfg.vocab_size 32000 contradicts"}},
		{"embed dim contradicts", model("embed_dim", 512), []string{"model_cfg.embed_dim 512 contradicts"}},
		{"embed dim missing", func(c map[string]any) { delete(at(c, "model_cfg"), "embed_dim") }, []string{"embed_dim is missing"}},
		{"unknown vision option", vision("rope_theta", 10000), []string{"unknown architecture option model_cfg.vision_cfg.rope_theta"}},
		{"unknown model option", model("moe_experts", 8), []string{"unknown architecture option model_cfg.moe_experts"}},
		{"LayerScale", vision("ls_init_value", 1e-4), []string{"model_cfg.vision_cfg.ls_init_value", "LayerScale"}},
		{"timm tower", vision("timm_model_name", "vit_base_patch16_224"), []string{"timm_model_name", "timm image towers"}},
		{"attentional pool", vision("attentional_pool", true), []string{"attentional_pool", "not supported"}},
		{"pool none", vision("pool_type", "none"), []string{"pool_type", "not supported"}},
		{"sin-cos positions", vision("pos_embed_type", "sin_cos_2d"), []string{"pos_embed_type"}},
		{"qk norm", vision("qk_norm", true), []string{"model_cfg.vision_cfg.qk_norm"}},
		{"norm without affine", vision("norm_kwargs", map[string]any{"elementwise_affine": false}), []string{"norm_kwargs.elementwise_affine"}},
		{"quick_gelu with a GELU argument", func(c map[string]any) {
			at(c, "model_cfg")["quick_gelu"] = true
			at(c, "model_cfg", "text_cfg", "act_kwargs")["approximate"] = "tanh"
		}, []string{"act_kwargs.approximate", "QuickGELU"}},
		{"no_ln_pre with ln_pre weights", vision("no_ln_pre", true), []string{"no_ln_pre is true but the weights hold visual.ln_pre.weight"}},
		{"HF tokenizer", text("hf_tokenizer_name", "bert-base-uncased"), []string{"hf_tokenizer_name", "CLIP's BPE"}},
		{"text without causal mask", text("no_causal_mask", true), []string{"no_causal_mask"}},
		{"text pooling", text("pool_type", "last"), []string{"text_cfg.pool_type"}},
		{"SigLIP", model("init_logit_bias", -10), []string{"init_logit_bias", "SigLIP"}},
		{"CoCa", model("multimodal_cfg", map[string]any{"layers": 12}), []string{"multimodal_cfg", "CoCa"}},
		{"custom text layout", model("custom_text", true), []string{"custom_text"}},
		{"width not a number", vision("width", "wide"), []string{"model_cfg.vision_cfg.width is wide, want a non-negative integer"}},
		{"nearest interpolation", func(c map[string]any) { at(c, "preprocess_cfg")["interpolation"] = "nearest" }, []string{"preprocess_cfg.interpolation"}},
		{"zero std", func(c map[string]any) { at(c, "preprocess_cfg")["std"] = 0 }, []string{"preprocessing", "std"}},
		{"grey-scale input", func(c map[string]any) { at(c, "preprocess_cfg")["mode"] = "L" }, []string{"preprocess_cfg.mode"}},
	} {
		dir := variantFolder(t, "gelu", safe, oc, c.edit)
		m, err := LoadFile(dir, LoadOptions{})
		if m != nil {
			t.Errorf("%s: a model was loaded", c.name)
		}
		wantOneLineError(t, c.name, err, c.parts...)
		if err != nil {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

func TestHFConfigErrors(t *testing.T) {
	const hf, safe = HFConfigName, "model.safetensors"
	for _, c := range []struct {
		name  string
		edit  func(map[string]any)
		parts []string
	}{
		{"activation", func(c map[string]any) { at(c, "vision_config")["hidden_act"] = "relu" }, []string{hf, "vision_config.hidden_act"}},
		{"width contradicts", func(c map[string]any) { at(c, "text_config")["hidden_size"] = 32 }, []string{"text_config.hidden_size 32 contradicts"}},
		{"legacy dict overrides", func(c map[string]any) { at(c, "vision_config_dict")["num_hidden_layers"] = 5 }, []string{"vision_config.num_hidden_layers 5 contradicts"}},
		{"MLP contradicts", func(c map[string]any) { at(c, "vision_config")["intermediate_size"] = 3072 }, []string{"vision_config.intermediate_size 3072 contradicts"}},
		{"heads do not split", func(c map[string]any) { at(c, "text_config")["num_attention_heads"] = 5 }, []string{"text_config.num_attention_heads gives 5 heads"}},
		{"default heads do not split", func(c map[string]any) { delete(at(c, "vision_config"), "num_attention_heads") }, []string{"vision_config.num_attention_heads gives 12 heads"}},
		{"other model type", func(c map[string]any) { c["model_type"] = "siglip" }, []string{"model_type", "SigLIP"}},
		{"negative eps", func(c map[string]any) { at(c, "text_config")["layer_norm_eps"] = -1 }, []string{"text_config.layer_norm_eps"}},
		{"pooling at another id", func(c map[string]any) { at(c, "text_config")["eos_token_id"] = 7 }, []string{"eos_token_id"}},
		{"projection contradicts", func(c map[string]any) { c["projection_dim"] = 512 }, []string{"projection_dim 512 contradicts"}},
	} {
		dir := variantFolder(t, "hf_gelu", safe, hf, c.edit)
		_, err := LoadFile(dir, LoadOptions{})
		wantOneLineError(t, c.name, err, c.parts...)
		if err != nil {
			t.Logf("%s: %v", c.name, err)
		}
	}
	// A processor that is not CLIP's (no centre crop) or disagrees with the model's size.
	for name, pre := range map[string]string{
		"no centre crop":   `{"do_center_crop": false}`,
		"crop contradicts": `{"crop_size": {"height": 256, "width": 256}, "size": {"shortest_edge": 256}}`,
		"resize then crop": `{"crop_size": 224, "size": 256}`,
		"nearest":          `{"resample": 0}`,
		"not JSON":         `{"resample": `,
	} {
		dir := variantFolder(t, "hf_gelu", safe, hf, nil)
		if err := os.WriteFile(filepath.Join(dir, HFPreprocessorName), []byte(pre), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadFile(dir, LoadOptions{})
		wantOneLineError(t, name, err, HFPreprocessorName)
		if err != nil {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestOpenCLIPFolderErrors(t *testing.T) {
	// A folder with its config but no weights.
	dir := variantFolder(t, "gelu", "", OpenCLIPConfigName, nil)
	_, err := LoadFile(dir, LoadOptions{})
	wantOneLineError(t, "no weights", err, dir, "holds no checkpoint", "open_clip_model.safetensors")

	// A .bin in open_clip's layout whose pickle calls a global: the safe reader refuses it.
	dir = variantFolder(t, "quickgelu", "", OpenCLIPConfigName, nil)
	f, err := os.Create(filepath.Join(dir, "open_clip_pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, body := range map[string]string{
		"open_clip_pytorch_model/data.pkl": "\x80\x02\x8c\x08builtins\x8c\x04eval\x93\x8c\x0bprint('hi')\x85R.",
		"open_clip_pytorch_model/version":  "3\n",
	} {
		w, _ := zw.Create(name)
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	m, err := LoadFile(dir, LoadOptions{})
	if m != nil {
		t.Error("pickle tricks: a model was loaded")
	}
	wantOneLineError(t, "pickle tricks", err, "open_clip_pytorch_model.bin", "builtins.eval")

	// The two ways of overriding the config exclude each other; a named config must exist.
	gelu := goldens.Path(t, "openclip", "models", "gelu")
	_, err = LoadFile(gelu, LoadOptions{OpenAIConventions: true, ConfigFile: filepath.Join(gelu, OpenCLIPConfigName)})
	wantOneLineError(t, "both overrides", err, "exclude each other")
	_, err = LoadFile(gelu, LoadOptions{ConfigFile: filepath.Join(t.TempDir(), "absent.json")})
	wantOneLineError(t, "absent config", err, "absent.json")
	// Without its config, the tiny model's 16-wide text tower has no heads by OpenAI's rule.
	_, err = LoadFile(gelu, LoadOptions{OpenAIConventions: true})
	wantOneLineError(t, "OpenAI conventions on a 16-wide text tower", err, "need a config saying the heads")
	// A config that is neither layout.
	dir = variantFolder(t, "gelu", "open_clip_model.safetensors", OpenCLIPConfigName, func(c map[string]any) {
		c["cfg"] = c["model_cfg"]
		delete(c, "model_cfg")
	})
	_, err = LoadFile(dir, LoadOptions{})
	wantOneLineError(t, "neither layout", err, "neither an open_clip config")
}

// A config named explicitly completes weights that have none beside them, and gives open_clip's
// numbers.
func TestConfigFileOption(t *testing.T) {
	dir := t.TempDir()
	src := goldens.Path(t, "openclip", "models", "gelu")
	weightsPath := filepath.Join(dir, "weights.safetensors")
	if err := os.Symlink(filepath.Join(src, "open_clip_model.safetensors"), weightsPath); err != nil {
		t.Fatal(err)
	}
	m, err := LoadFile(weightsPath, LoadOptions{ConfigFile: filepath.Join(src, OpenCLIPConfigName)})
	if err != nil {
		t.Fatal(err)
	}
	if m.Layout != LayoutOpenCLIP || m.Config.VisionTower().Act != ActGELU {
		t.Fatalf("layout %s, activation %s", m.Layout, m.Config.VisionTower().Act)
	}
	input := goldens.Load(t, "openclip/preprocess/shortest_bicubic_224/chelsea.openai.f32.npy")
	f, err := m.EncodeImagePooled(input.F32, 1, 224, 224)
	if err != nil {
		t.Fatal(err)
	}
	goldens.AssertClose(t, "image_features", f.Data, f.Shape, goldens.Load(t, "openclip/gelu/image_features.f32.npy"), atol, rtol)
}
