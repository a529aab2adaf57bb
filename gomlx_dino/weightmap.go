package dino

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	"github.com/clipsurgery/clipsurgery/weights"
)

// This file is the one place that knows checkpoint names and layouts. Everything else uses the
// authors' state-dict names ("canonical": patch_embed.proj.weight, blocks.N.attn.qkv.weight,
// ...) in their layouts: Linear weights [out, in], qkv [3·width, width] (q | k | v row blocks),
// pos_embed [1, 1+M², width], cls_token [1, 1, width], register_tokens [1, R, width].

// Naming tells which naming convention a checkpoint used.
type Naming string

const (
	NamingAuthors Naming = "authors"     // the released .pth state dicts
	NamingHF      Naming = "huggingface" // transformers ViTModel (DINO) / Dinov2Model, Dinov2WithRegistersModel
)

// hfPatch marks a Hugging Face copy (after its optional model prefix).
const hfPatch = "embeddings.patch_embeddings.projection.weight"

// hfPrefixes are the prefixes a Hugging Face copy saved from a task model carries
// (ViTForImageClassification, Dinov2ForImageClassification, ...).
var hfPrefixes = []string{"vit.", "dinov2.", "dinov2_with_registers."}

// hfIgnored are tensors of a Hugging Face copy that the release does not have: ViTModel's pooler
// and task heads. They are dropped, by name, never silently anything else.
var hfIgnored = regexp.MustCompile(`^(pooler\.dense|classifier)\.(weight|bias)$`)

// hfRenames maps Hugging Face name fragments to the authors' ones, per block and for the rest
// (transformers' convert_dino_to_pytorch.py and convert_dinov2_to_hf.py, read backwards).
var hfRenames = []struct{ from, to string }{
	{"embeddings.cls_token", "cls_token"},
	{"embeddings.mask_token", "mask_token"},
	{"embeddings.register_tokens", "register_tokens"},
	{"embeddings.position_embeddings", "pos_embed"},
	{"embeddings.patch_embeddings.projection.", "patch_embed.proj."},
	{"encoder.layer.", "blocks."},
	{".attention.output.dense.", ".attn.proj."}, // before ViTModel's .output.dense
	{".layernorm_before.", ".norm1."},           // ViTModel
	{".layernorm_after.", ".norm2."},
	{".intermediate.dense.", ".mlp.fc1."},
	{".output.dense.", ".mlp.fc2."},
	{".mlp.weights_in.", ".mlp.w12."}, // Dinov2 SwiGLU
	{".mlp.weights_out.", ".mlp.w3."},
	{".layer_scale1.lambda1", ".ls1.gamma"},
	{".layer_scale2.lambda1", ".ls2.gamma"},
	{"layernorm.", "norm."}, // the final norm (only at the start: block norms are renamed above)
}

var hfQKV = regexp.MustCompile(`^(encoder\.layer\.\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)$`)

// Canonicalize maps a checkpoint in the authors' or Hugging Face naming to canonical tensors. The
// q, k, v of a Hugging Face copy are joined into qkv (read into memory: a lazy file's other
// tensors stay lazy).
func Canonicalize(in map[string]*weights.Tensor) (map[string]*weights.Tensor, Naming, error) {
	prefix, hf := hfPrefix(in)
	if !hf {
		out := make(map[string]*weights.Tensor, len(in))
		for k, v := range in {
			out[k] = v
		}
		return out, NamingAuthors, nil
	}
	out := make(map[string]*weights.Tensor, len(in))
	qkv := map[string]*[3]*weights.Tensor{}
	for name, t := range in {
		short, ok := strings.CutPrefix(name, prefix)
		if !ok {
			return nil, "", fmt.Errorf("dino: Hugging Face checkpoint mixes prefixes: %q beside %q", name, prefix+hfPatch)
		}
		if hfIgnored.MatchString(short) {
			continue
		}
		if m := hfQKV.FindStringSubmatch(short); m != nil {
			canon := renameHF(m[1]) + ".attn.qkv." + m[3]
			if qkv[canon] == nil {
				qkv[canon] = new([3]*weights.Tensor)
			}
			qkv[canon][map[string]int{"query": 0, "key": 1, "value": 2}[m[2]]] = t
			continue
		}
		canon := renameHF(short)
		if canon == short {
			return nil, "", fmt.Errorf("dino: Hugging Face checkpoint has an unexpected tensor %q", name)
		}
		if canon == "mask_token" && len(t.Shape) == 1 { // some exports squeeze it; the release's is [1, width]
			t = reshaped(t, 1, t.Shape[0])
		}
		out[canon] = t
	}
	for canon, parts := range qkv {
		joined, err := concatRows(canon, parts)
		if err != nil {
			return nil, "", err
		}
		out[canon] = joined
	}
	return out, NamingHF, nil
}

// hfPrefix tells a Hugging Face copy by its patch embedding and returns its model prefix.
func hfPrefix(in map[string]*weights.Tensor) (string, bool) {
	for _, p := range append([]string{""}, hfPrefixes...) {
		if _, ok := in[p+hfPatch]; ok {
			return p, true
		}
	}
	return "", false
}

func renameHF(name string) string {
	for _, r := range hfRenames {
		if r.from == "layernorm." {
			if rest, ok := strings.CutPrefix(name, r.from); ok {
				name = r.to + rest
			}
			continue
		}
		name = strings.Replace(name, r.from, r.to, 1)
	}
	return name
}

// reshaped is t under another shape of the same size (a view: the data is shared).
func reshaped(t *weights.Tensor, shape ...int) *weights.Tensor {
	c := *t
	c.Shape = shape
	return &c
}

// concatRows stacks q, k, v along the first axis, as the authors' qkv Linear stores them.
func concatRows(name string, parts *[3]*weights.Tensor) (*weights.Tensor, error) {
	var rows int
	var data []float32
	for i, p := range parts {
		if p == nil {
			return nil, fmt.Errorf("dino: Hugging Face checkpoint lacks the %s part of %s", []string{"query", "key", "value"}[i], name)
		}
		if len(p.Shape) == 0 || !slices.Equal(p.Shape[1:], parts[0].Shape[1:]) {
			return nil, fmt.Errorf("dino: query/key/value parts of %s have shapes %v, %v, %v", name,
				parts[0].Shape, parts[1].Shape, parts[2].Shape)
		}
		if err := p.Load(); err != nil { // a lazy tensor (weights.Open): its values are needed here
			return nil, fmt.Errorf("dino: %s: %w", name, err)
		}
		rows += p.Shape[0]
		data = append(data, p.F32...)
	}
	return &weights.Tensor{Name: name, Shape: append([]int{rows}, parts[0].Shape[1:]...), DType: parts[0].DType, F32: data}, nil
}

// hfConfig is what a Hugging Face config.json says about a DINO copy (ViTConfig,
// Dinov2Config, Dinov2WithRegistersConfig): the one place its field names are read.
type hfConfig struct {
	ModelType         string  `json:"model_type"`
	HiddenSize        int     `json:"hidden_size"`
	NumHiddenLayers   int     `json:"num_hidden_layers"`
	NumAttentionHeads int     `json:"num_attention_heads"`
	IntermediateSize  int     `json:"intermediate_size"` // ViT
	MLPRatio          float64 `json:"mlp_ratio"`         // Dinov2
	HiddenAct         string  `json:"hidden_act"`
	ImageSize         int     `json:"image_size"`
	PatchSize         int     `json:"patch_size"`
	NumChannels       int     `json:"num_channels"`
	QKVBias           *bool   `json:"qkv_bias"`
	UseSwiGLU         bool    `json:"use_swiglu_ffn"`
	NumRegisterTokens *int    `json:"num_register_tokens"`
}

// hfFamilies maps model_type to the release.
var hfFamilies = map[string]Family{"vit": V1, "dinov2": V2, "dinov2_with_registers": V2}

// parseHFConfig reads a config.json.
func parseHFConfig(data []byte) (*hfConfig, error) {
	var h hfConfig
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("dino: config.json: %w", err)
	}
	if _, ok := hfFamilies[h.ModelType]; !ok {
		return nil, fmt.Errorf("dino: config.json has model_type %q, not a DINO copy (want vit, dinov2 or dinov2_with_registers)", h.ModelType)
	}
	return &h, nil
}

// apply completes c with the config's head count and checks every size it states against the
// shapes (c from InferConfig): a config that disagrees with its weights is an error, not a choice.
func (h *hfConfig) apply(c Config) (Config, error) {
	fam := hfFamilies[h.ModelType]
	var bad []string
	check := func(what string, stated, got int) {
		if stated != 0 && stated != got {
			bad = append(bad, fmt.Sprintf("%s %d (weights: %d)", what, stated, got))
		}
	}
	check("hidden_size", h.HiddenSize, c.Width)
	check("num_hidden_layers", h.NumHiddenLayers, c.Depth)
	check("patch_size", h.PatchSize, c.PatchSize)
	check("num_channels", h.NumChannels, 3)
	if c.FFN == FFNMLP {
		check("intermediate_size", h.IntermediateSize, c.MLPHidden)
		if h.MLPRatio > 0 && int(h.MLPRatio*float64(c.Width)) != c.MLPHidden {
			bad = append(bad, fmt.Sprintf("mlp_ratio %g (weights: hidden %d)", h.MLPRatio, c.MLPHidden))
		}
	}
	if h.NumRegisterTokens != nil && h.ModelType == "dinov2_with_registers" {
		check("num_register_tokens", *h.NumRegisterTokens, c.Registers)
	}
	if fam != c.Family {
		bad = append(bad, fmt.Sprintf("model_type %s (weights: %s)", h.ModelType, c.Family))
	}
	if h.UseSwiGLU != (c.FFN == FFNSwiGLU) {
		bad = append(bad, fmt.Sprintf("use_swiglu_ffn %v (weights: %s FFN)", h.UseSwiGLU, c.FFN))
	}
	if h.HiddenAct != "" && h.HiddenAct != "gelu" && c.FFN == FFNMLP {
		bad = append(bad, fmt.Sprintf("hidden_act %q (the releases use exact GELU)", h.HiddenAct))
	}
	if len(bad) > 0 {
		return Config{}, fmt.Errorf("dino: config.json disagrees with the weights: %s", strings.Join(bad, ", "))
	}
	if h.NumAttentionHeads > 0 {
		c.Heads = h.NumAttentionHeads
	}
	return c, c.Validate()
}

// ExpectedShapes lists every canonical tensor of the backbone's state dict for a configuration.
func ExpectedShapes(c Config) map[string][]int {
	s, _ := expectedShapes(c)
	return s
}

// expectedShapes is ExpectedShapes and the set of Linear weights among them: the Model stores
// those transposed to [in, out] (modelkit.Dense).
func expectedShapes(c Config) (s map[string][]int, dense map[string]bool) {
	s, dense = map[string][]int{}, map[string]bool{}
	w := c.Width
	linear := func(prefix string, out, in int, bias bool) {
		s[prefix+".weight"] = []int{out, in}
		dense[prefix+".weight"] = true
		if bias {
			s[prefix+".bias"] = []int{out}
		}
	}
	norm := func(prefix string) { s[prefix+".weight"], s[prefix+".bias"] = []int{w}, []int{w} }
	s["patch_embed.proj.weight"] = []int{w, 3, c.PatchSize, c.PatchSize}
	s["patch_embed.proj.bias"] = []int{w}
	s["cls_token"] = []int{1, 1, w}
	s["pos_embed"] = []int{1, 1 + c.NativeGrid*c.NativeGrid, w}
	if c.Registers > 0 {
		s["register_tokens"] = []int{1, c.Registers, w}
	}
	for i := range c.Depth {
		b := blockName(i)
		norm(b + ".norm1")
		norm(b + ".norm2")
		linear(b+".attn.qkv", 3*w, w, c.QKVBias)
		linear(b+".attn.proj", w, w, true)
		if c.FFN == FFNSwiGLU {
			linear(b+".mlp.w12", 2*c.MLPHidden, w, true)
			linear(b+".mlp.w3", w, c.MLPHidden, true)
		} else {
			linear(b+".mlp.fc1", c.MLPHidden, w, true)
			linear(b+".mlp.fc2", w, c.MLPHidden, true)
		}
		if c.LayerScale {
			s[b+".ls1.gamma"], s[b+".ls2.gamma"] = []int{w}, []int{w}
		}
	}
	norm("norm")
	return s, dense
}

// unusedTensors are tensors a release's state dict holds that inference does not use: DINOv2's
// mask_token (masked image modelling in training). They are accepted with their shape and not
// uploaded.
func unusedTensors(c Config) map[string][]int {
	if c.Family == V2 {
		return map[string][]int{"mask_token": {1, c.Width}}
	}
	return nil
}

func blockName(i int) string { return fmt.Sprintf("blocks.%d", i) }

// CheckShapes compares a state dict with ExpectedShapes(c) and lists every missing, unexpected
// and wrongly shaped tensor in one error (modelkit.CheckShapes).
func CheckShapes(c Config, shapes map[string][]int) error {
	extra := unusedTensors(c)
	return modelkit.CheckShapes(fmt.Sprintf("dino: checkpoint does not match the %s configuration it implies", c.Name()),
		ExpectedShapes(c), shapes, func(name string, shape []int) bool {
			want, ok := extra[name]
			return ok && slices.Equal(want, shape)
		})
}
