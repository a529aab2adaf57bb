package clip

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	"github.com/clipsurgery/clipsurgery/weights"
)

// This file is the one place that knows checkpoint names and layouts. Everything else uses the
// OpenAI state-dict names ("canonical"), with the OpenAI layouts: Linear weights [out, in],
// in_proj_weight [3W, W] (q | k | v row blocks), visual.proj and text_projection [W, E].

// Naming tells which naming convention a checkpoint used.
type Naming string

const (
	NamingOpenAI Naming = "openai"
	NamingHF     Naming = "huggingface"
)

// ignoredTensors are stored by some writers but carry nothing the encoders use.
var ignoredTensors = regexp.MustCompile(`(^|\.)(num_batches_tracked|position_ids)$|^(input_resolution|context_length|vocab_size)$`)

// Canonicalize maps a checkpoint in OpenAI or Hugging Face CLIPModel naming to canonical tensors.
func Canonicalize(in map[string]*weights.Tensor) (map[string]*weights.Tensor, Naming, error) {
	if _, hf := in["text_model.embeddings.token_embedding.weight"]; hf {
		out, err := fromHF(in)
		return out, NamingHF, err
	}
	if _, hf := in["vision_model.embeddings.patch_embedding.weight"]; hf {
		out, err := fromHF(in)
		return out, NamingHF, err
	}
	out := make(map[string]*weights.Tensor, len(in))
	for name, t := range in {
		if !ignoredTensors.MatchString(name) {
			out[name] = t
		}
	}
	return out, NamingOpenAI, nil
}

// hfRenames maps Hugging Face name fragments to OpenAI ones, applied in order.
var hfRenames = []struct{ from, to string }{
	{"text_model.embeddings.token_embedding.weight", "token_embedding.weight"},
	{"text_model.embeddings.position_embedding.weight", "positional_embedding"},
	{"text_model.final_layer_norm.", "ln_final."},
	{"text_model.encoder.layers.", "transformer.resblocks."},
	{"vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight"},
	{"vision_model.embeddings.class_embedding", "visual.class_embedding"},
	{"vision_model.embeddings.position_embedding.weight", "visual.positional_embedding"},
	{"vision_model.pre_layrnorm.", "visual.ln_pre."},
	{"vision_model.post_layernorm.", "visual.ln_post."},
	{"vision_model.encoder.layers.", "visual.transformer.resblocks."},
	{".self_attn.out_proj.", ".attn.out_proj."},
	{".layer_norm1.", ".ln_1."},
	{".layer_norm2.", ".ln_2."},
	{".mlp.fc1.", ".mlp.c_fc."},
	{".mlp.fc2.", ".mlp.c_proj."},
}

var hfQKV = regexp.MustCompile(`^(.*)\.self_attn\.([qkv])_proj\.(weight|bias)$`)

func fromHF(in map[string]*weights.Tensor) (map[string]*weights.Tensor, error) {
	out := make(map[string]*weights.Tensor, len(in))
	qkv := map[string]*[3]*weights.Tensor{} // canonical in_proj name -> q, k, v parts
	for name, t := range in {
		if ignoredTensors.MatchString(name) {
			continue
		}
		switch name {
		case "visual_projection.weight", "text_projection.weight":
			tt, err := transpose2D(t)
			if err != nil {
				return nil, err
			}
			canon := "visual.proj"
			if name == "text_projection.weight" {
				canon = "text_projection"
			}
			tt.Name = canon
			out[canon] = tt
			continue
		}
		if m := hfQKV.FindStringSubmatch(name); m != nil {
			canon := renameHF(m[1]) + ".attn.in_proj_" + m[3]
			parts := qkv[canon]
			if parts == nil {
				parts = new([3]*weights.Tensor)
				qkv[canon] = parts
			}
			parts[strings.Index("qkv", m[2])] = t
			continue
		}
		canon := renameHF(name)
		if canon == name && name != "logit_scale" {
			return nil, fmt.Errorf("clip: Hugging Face checkpoint has an unexpected tensor %q", name)
		}
		out[canon] = t
	}
	for canon, parts := range qkv {
		for i, p := range parts {
			if p == nil {
				return nil, fmt.Errorf("clip: Hugging Face checkpoint lacks the %c_proj part of %s", "qkv"[i], canon)
			}
		}
		joined, err := concatRows(canon, parts[:])
		if err != nil {
			return nil, err
		}
		out[canon] = joined
	}
	return out, nil
}

func renameHF(name string) string {
	for _, r := range hfRenames {
		name = strings.Replace(name, r.from, r.to, 1)
	}
	return name
}

func transpose2D(t *weights.Tensor) (*weights.Tensor, error) {
	if len(t.Shape) != 2 {
		return nil, fmt.Errorf("clip: tensor %q has shape %v, expected a matrix", t.Name, t.Shape)
	}
	if err := t.Load(); err != nil { // a lazy tensor (weights.Open): its values are needed here
		return nil, err
	}
	r, c := t.Shape[0], t.Shape[1]
	out := make([]float32, len(t.F32))
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			out[j*r+i] = t.F32[i*c+j]
		}
	}
	return &weights.Tensor{Name: t.Name, Shape: []int{c, r}, DType: t.DType, F32: out}, nil
}

// concatRows stacks q, k, v along the first axis, as nn.MultiheadAttention stores them.
func concatRows(name string, parts []*weights.Tensor) (*weights.Tensor, error) {
	rest := parts[0].Shape[1:]
	rows := 0
	var data []float32
	for _, p := range parts {
		if err := p.Load(); err != nil { // a lazy tensor (weights.Open): its values are needed here
			return nil, err
		}
		if len(p.Shape) != len(parts[0].Shape) || fmt.Sprint(p.Shape[1:]) != fmt.Sprint(rest) {
			return nil, fmt.Errorf("clip: q/k/v parts of %s have mismatched shapes", name)
		}
		rows += p.Shape[0]
		data = append(data, p.F32...)
	}
	return &weights.Tensor{Name: name, Shape: append([]int{rows}, rest...), DType: parts[0].DType, F32: data}, nil
}

// ExpectedShapes lists every canonical tensor a model of this config needs, with its shape.
func ExpectedShapes(c Config) map[string][]int {
	s := map[string][]int{
		"token_embedding.weight": {c.VocabSize, c.TextWidth},
		"positional_embedding":   {c.ContextLength, c.TextWidth},
		"ln_final.weight":        {c.TextWidth},
		"ln_final.bias":          {c.TextWidth},
		"text_projection":        {c.TextWidth, c.EmbedDim},
	}
	addBlocks(s, "", c.TextWidth, c.TextMLPWidth(), c.TextLayers)
	if c.Vision == ViT {
		w := c.VisionWidth
		s["visual.conv1.weight"] = []int{w, 3, c.PatchSize, c.PatchSize}
		s["visual.class_embedding"] = []int{w}
		s["visual.positional_embedding"] = []int{c.NativeGrid*c.NativeGrid + 1, w}
		lns := []string{"visual.ln_post"}
		if !c.NoLnPre {
			lns = append(lns, "visual.ln_pre")
		}
		for _, ln := range lns {
			s[ln+".weight"], s[ln+".bias"] = []int{w}, []int{w}
		}
		s["visual.proj"] = []int{w, c.EmbedDim}
		addBlocks(s, "visual.", w, c.VisionMLPWidth(), c.VisionLayers)
		return s
	}
	w := c.VisionWidth
	conv := func(name string, out, in, k int) { s[name+".weight"] = []int{out, in, k, k} }
	bn := func(name string, ch int) {
		for _, p := range []string{"weight", "bias", "running_mean", "running_var"} {
			s[name+"."+p] = []int{ch}
		}
	}
	conv("visual.conv1", w/2, 3, 3)
	bn("visual.bn1", w/2)
	conv("visual.conv2", w/2, w/2, 3)
	bn("visual.bn2", w/2)
	conv("visual.conv3", w, w/2, 3)
	bn("visual.bn3", w)
	inplanes := w
	for stage := 0; stage < 4; stage++ {
		planes := w << stage
		for i := 0; i < c.ResNetLayers[stage]; i++ {
			p := fmt.Sprintf("visual.layer%d.%d.", stage+1, i)
			conv(p+"conv1", planes, inplanes, 1)
			bn(p+"bn1", planes)
			conv(p+"conv2", planes, planes, 3)
			bn(p+"bn2", planes)
			conv(p+"conv3", planes*4, planes, 1)
			bn(p+"bn3", planes*4)
			if i == 0 && (stage > 0 || inplanes != planes*4) {
				conv(p+"downsample.0", planes*4, inplanes, 1)
				bn(p+"downsample.1", planes*4)
			}
			inplanes = planes * 4
		}
	}
	d := c.AttnPoolWidth()
	s["visual.attnpool.positional_embedding"] = []int{c.NativeGrid*c.NativeGrid + 1, d}
	for _, p := range []string{"q_proj", "k_proj", "v_proj"} {
		s["visual.attnpool."+p+".weight"], s["visual.attnpool."+p+".bias"] = []int{d, d}, []int{d}
	}
	s["visual.attnpool.c_proj.weight"], s["visual.attnpool.c_proj.bias"] = []int{c.EmbedDim, d}, []int{c.EmbedDim}
	return s
}

func addBlocks(s map[string][]int, prefix string, w, mlp, layers int) {
	for i := 0; i < layers; i++ {
		p := fmt.Sprintf("%stransformer.resblocks.%d.", prefix, i)
		s[p+"attn.in_proj_weight"], s[p+"attn.in_proj_bias"] = []int{3 * w, w}, []int{3 * w}
		s[p+"attn.out_proj.weight"], s[p+"attn.out_proj.bias"] = []int{w, w}, []int{w}
		s[p+"mlp.c_fc.weight"], s[p+"mlp.c_fc.bias"] = []int{mlp, w}, []int{mlp}
		s[p+"mlp.c_proj.weight"], s[p+"mlp.c_proj.bias"] = []int{w, mlp}, []int{w}
		for _, ln := range []string{"ln_1", "ln_2"} {
			s[p+ln+".weight"], s[p+ln+".bias"] = []int{w}, []int{w}
		}
	}
}

// CheckTensors fails loudly on missing, unexpected or mis-shaped tensors, listing them all
// (modelkit.CheckShapes); the non-float ones are refused when the model is built.
func CheckTensors(c Config, t map[string]*weights.Tensor) error {
	got := make(map[string][]int, len(t))
	for name, x := range t {
		got[name] = x.Shape
	}
	return modelkit.CheckShapes(fmt.Sprintf("clip: checkpoint does not fit %s", c), ExpectedShapes(c), got,
		func(name string, _ []int) bool { return name == "logit_scale" })
}
