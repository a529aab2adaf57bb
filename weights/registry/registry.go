// Package registry maps every model name the reference (xmed-lab/CLIP_Surgery clip/clip.py) accepts to
// the checkpoint it downloads, and fetches that checkpoint into a verified local cache (see Fetch).
//
// Sources of the facts below (checked with the project's search tools, not over the network):
//   - URLs: the `_MODELS` table of xmed-lab/CLIP_Surgery clip/clip.py (commit 9f5be11f), which lists the
//     nine OpenAI names and their nine "CS-" twins pointing at the same URLs. The same nine URLs appear in
//     mlfoundations/open_clip src/open_clip/pretrained.py ("openai" tags) and, for RN50 and ViT-B/32, in
//     openai/CLIP clip/clip.py (older commits list fewer models; the digests agree where both list one).
//   - SHA-256: as in the reference's _download, the digest is the URL's second-to-last path segment.
//   - Arch: mlfoundations/open_clip model_configs/{RN50,RN101,RN50x4,RN50x16,RN50x64,ViT-B-32,ViT-L-14,
//     ViT-L-14-336-quickgelu}.json; ViT-B/16 is ViT-B/32 with 16-pixel patches (CLIP paper, table 20).
//     Head counts follow OpenAI's build_model: ViT width/64, ResNet width*32/64, text width/64.
//   - Hugging Face alternatives: see hfNote below.
package registry

import (
	"errors"
	"fmt"
	"strings"
)

// VisionKind is the image tower family.
type VisionKind string

const (
	ViT    VisionKind = "ViT"
	ResNet VisionKind = "ResNet" // OpenAI's ModifiedResNet (3-conv stem, anti-aliased strides, attention pool)
)

// Arch holds the hyper-parameters needed to build a model before reading its weights. They can also be
// inferred from the state dict (as build_model does); keeping them here lets callers validate a
// checkpoint against the name it was asked for.
type Arch struct {
	Vision          VisionKind
	InputResolution int    // square input side, pixels
	PatchSize       int    // ViT only; 0 for ResNet
	VisionWidth     int    // ViT: transformer width; ResNet: stem width (64 * width multiplier)
	VisionLayers    int    // ViT: transformer blocks; ResNet: sum of VisionStages
	VisionStages    [4]int // ResNet: bottleneck blocks per stage; zero for ViT
	VisionHeads     int    // ViT: width/64; ResNet attention pool: width*32/64
	EmbedDim        int    // joint image-text embedding size
	TextWidth       int
	TextLayers      int
	TextHeads       int // width/64
	ContextLength   int // 77 for every OpenAI model
	VocabSize       int // 49408 for every OpenAI model
}

// Model is one registry entry: where its checkpoint lives and how to check it.
type Model struct {
	Name    string // exactly as the reference spells it, e.g. "CS-ViT-B/16"
	File    string // cache file name: the URL's last segment, e.g. "ViT-B-16.pt"
	URL     string
	SHA256  string // lowercase hex, the URL's second-to-last segment
	Surgery bool   // "CS-" prefix: build the architecture-surgery variant; same checkpoint
	Arch    Arch

	// HFRepo/HFFile is an alternative copy on the Hugging Face hub with the same tensor names as the
	// OpenAI state dict (open_clip layout), fetched with FetchHF. Not byte-identical to File: it is a
	// different container (see hfNote), so SHA256 does not apply to it.
	HFRepo, HFFile string
	// HFTransformersRepo is the transformers-format copy (openai/clip-vit-*), ViT models only. Its tensor
	// names differ (vision_model.encoder.layers.N...), so it needs a name mapping before use.
	HFTransformersRepo string
}

// Base is the name without the "CS-" prefix.
func (m Model) Base() string { return strings.TrimPrefix(m.Name, surgeryPrefix) }

const surgeryPrefix = "CS-"

// ErrUnknownModel is wrapped by Lookup's error for names the reference does not accept.
var ErrUnknownModel = errors.New("unknown model name")

const azure = "https://openaipublic.azureedge.net/clip/models/"

// hfNote — what was verified about the Hugging Face alternatives (stored public code/docs only, the hub
// itself was not reachable from here):
//   - timm/<tower>.openai repo names: verified for all nine in timm's model cfgs (hf_hub_id) and
//     open_clip's newer pretrained.py (hf_hub="timm/resnet50_clip.openai/", ...).
//   - open_clip_model.safetensors: seen pinned by third-party code for resnet50_clip (sha256 da0baa37…),
//     vit_base_patch16_clip_224 (4b869929…), vit_large_patch14_clip_224 (9ce2e8a8…),
//     vit_base_patch32_clip_224 and vit_large_patch14_clip_336 (path/URL references).
//   - open_clip_pytorch_model.bin: named as hf_hub_filename in timm's cfgs for resnet101/50x4/50x16/50x64;
//     whether those four repos also carry open_clip_model.safetensors was NOT verified, so the .bin
//     (a torch.save zip, readable by package weights) is listed for them.
//   - "model.safetensors" in the timm repos is timm's own image-tower-only layout: unsuitable (no text).
//   - openai/clip-vit-*: a recorded transformers log shows main of clip-vit-base-patch32 serving
//     pytorch_model.bin and 404 for model.safetensors (which lives in a refs/pr branch); the other three
//     were not checked file by file.

// spec is one row of the table below.
type spec struct {
	name, hash, file string
	arch             Arch
	hfRepo, hfFile   string
	hfTransformers   string
}

const (
	ocSafe = "open_clip_model.safetensors"
	ocBin  = "open_clip_pytorch_model.bin"
)

func vit(res, patch, width, layers, embed, textWidth int) Arch {
	return Arch{Vision: ViT, InputResolution: res, PatchSize: patch, VisionWidth: width, VisionLayers: layers,
		VisionHeads: width / 64, EmbedDim: embed, TextWidth: textWidth, TextLayers: 12, TextHeads: textWidth / 64,
		ContextLength: 77, VocabSize: 49408}
}

func resnet(res, width int, stages [4]int, embed, textWidth int) Arch {
	return Arch{Vision: ResNet, InputResolution: res, VisionWidth: width,
		VisionLayers: stages[0] + stages[1] + stages[2] + stages[3], VisionStages: stages,
		VisionHeads: width * 32 / 64, EmbedDim: embed, TextWidth: textWidth, TextLayers: 12,
		TextHeads: textWidth / 64, ContextLength: 77, VocabSize: 49408}
}

// specs is in the reference's order; the CS- twins are generated from it so they cannot drift.
var specs = []spec{
	{"RN50", "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762", "RN50.pt",
		resnet(224, 64, [4]int{3, 4, 6, 3}, 1024, 512), "timm/resnet50_clip.openai", ocSafe, ""},
	{"RN101", "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599", "RN101.pt",
		resnet(224, 64, [4]int{3, 4, 23, 3}, 512, 512), "timm/resnet101_clip.openai", ocBin, ""},
	{"RN50x4", "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd", "RN50x4.pt",
		resnet(288, 80, [4]int{4, 6, 10, 6}, 640, 640), "timm/resnet50x4_clip.openai", ocBin, ""},
	{"RN50x16", "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa", "RN50x16.pt",
		resnet(384, 96, [4]int{6, 8, 18, 8}, 768, 768), "timm/resnet50x16_clip.openai", ocBin, ""},
	{"RN50x64", "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c", "RN50x64.pt",
		resnet(448, 128, [4]int{3, 15, 36, 10}, 1024, 1024), "timm/resnet50x64_clip.openai", ocBin, ""},
	{"ViT-B/32", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af", "ViT-B-32.pt",
		vit(224, 32, 768, 12, 512, 512), "timm/vit_base_patch32_clip_224.openai", ocSafe, "openai/clip-vit-base-patch32"},
	{"ViT-B/16", "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f", "ViT-B-16.pt",
		vit(224, 16, 768, 12, 512, 512), "timm/vit_base_patch16_clip_224.openai", ocSafe, "openai/clip-vit-base-patch16"},
	{"ViT-L/14", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836", "ViT-L-14.pt",
		vit(224, 14, 1024, 24, 768, 768), "timm/vit_large_patch14_clip_224.openai", ocSafe, "openai/clip-vit-large-patch14"},
	{"ViT-L/14@336px", "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02", "ViT-L-14-336px.pt",
		vit(336, 14, 1024, 24, 768, 768), "timm/vit_large_patch14_clip_336.openai", ocSafe, "openai/clip-vit-large-patch14-336"},
}

var (
	models = map[string]Model{}
	names  []string
)

func init() {
	var twins []string
	for _, s := range specs {
		m := Model{Name: s.name, File: s.file, URL: azure + s.hash + "/" + s.file, SHA256: s.hash, Arch: s.arch,
			HFRepo: s.hfRepo, HFFile: s.hfFile, HFTransformersRepo: s.hfTransformers}
		models[m.Name] = m
		names = append(names, m.Name)
		m.Name, m.Surgery = surgeryPrefix+m.Name, true
		models[m.Name] = m
		twins = append(twins, m.Name)
	}
	names = append(names, twins...) // reference order: plain names first, then the CS- block
}

// Lookup returns the entry for an exact reference name ("ViT-B/16", "CS-RN50", ...). Matching is exact,
// like the reference's `name in _MODELS`, so typos fail loudly instead of picking a neighbour.
func Lookup(name string) (Model, error) {
	if m, ok := models[name]; ok {
		return m, nil
	}
	return Model{}, fmt.Errorf("%w %q; available models = [%s]", ErrUnknownModel, name, strings.Join(names, ", "))
}

// Names lists every accepted name in the reference's order. The slice is a copy.
func Names() []string { return append([]string(nil), names...) }
