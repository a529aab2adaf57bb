// Package registry maps every model name the reference (xmed-lab/CLIP_Surgery clip/clip.py) accepts to
// the places its weights are published, and fetches them into a verified local cache: Obtain tries a
// file placed by hand in the checkpoint cache, then the Hugging Face hub copy (FetchHF, the Hugging Face
// cache layout), then the reference's URL (Fetch). It also resolves Hugging Face hub names
// ("hf-hub:org/name" and open_clip's pretrained tags, see hubnames.go) to a weights file and its config.
//
// Sources of the facts below (checked with the project's search tools, not over the network):
//   - URLs: the `_MODELS` table of xmed-lab/CLIP_Surgery clip/clip.py (commit 9f5be11f), which lists the
//     nine OpenAI names and their nine "CS-" twins pointing at the same URLs. The same nine URLs appear in
//     older mlfoundations/open_clip src/open_clip/pretrained.py ("openai" tags) and, for RN50 and ViT-B/32,
//     in openai/CLIP clip/clip.py. Those URLs (openaipublic.azureedge.net) now answer 404 (openai/CLIP
//     issue #516), which is why the hub copy comes first.
//   - SHA-256: as in the reference's _download, the digest is the URL's second-to-last path segment.
//   - The architecture each name promises is not here (the registry sits below the model packages):
//     see clip.ReleasedConfig.
//   - Hugging Face copies: see hubNote below.
package registry

import (
	"errors"
	"fmt"
	"strings"
)

// Model is one registry entry: where its checkpoint lives and how to check it.
type Model struct {
	Name    string // exactly as the reference spells it, e.g. "CS-ViT-B/16"
	File    string // cache file name: the URL's last segment, e.g. "ViT-B-16.pt"
	URL     string
	SHA256  string // lowercase hex, the URL's second-to-last segment
	Surgery bool   // "CS-" prefix: build the architecture-surgery variant; same checkpoint

	// HFRepo holds the same weights on the Hugging Face hub in open_clip's layout (OpenAI tensor names,
	// float32); HFFile is the weights file of that repo verified to exist (see hubNote). Obtain loads
	// whichever of OpenCLIPWeightFiles the repo serves, in open_clip's order. The hub file is a different
	// container from File (float32 safetensors or a torch.save zip, not TorchScript), so SHA256 does not
	// apply to it: the hub's own SHA-256 of the file is checked instead.
	HFRepo, HFFile string
	// HFTransformersRepo is the transformers CLIPModel copy (openai/clip-vit-*), ViT models only. Its
	// tensor names differ (vision_model.encoder.layers.N...); it loads as "hf-hub:"+HFTransformersRepo.
	HFTransformersRepo string
}

// Base is the name without the "CS-" prefix.
func (m Model) Base() string { return strings.TrimPrefix(m.Name, surgeryPrefix) }

const surgeryPrefix = "CS-"

// ErrUnknownModel is wrapped by Lookup's error for names the reference does not accept.
var ErrUnknownModel = errors.New("unknown model name")

const azure = "https://openaipublic.azureedge.net/clip/models/"

// hubNote — which hub copy serves the 18 names, and why (stored public code and pages only; the hub
// itself was not reachable from here):
//   - Repos: mlfoundations/open_clip src/open_clip/pretrained.py (commit 89fb801f, 2026-06) gives every
//     "openai" tag only a hub location, hf_hub="timm/<tower>.openai/", since commit 84f7d2f (2024-10-23,
//     "All default pretrained weights pushed to HF hub ... OpenAI models no longer use special path that
//     loads from torchscript archive"). Each carries quick_gelu=True.
//   - Files: for such an entry open_clip asks for open_clip_pytorch_model.bin (HF_WEIGHTS_NAME) and first
//     tries its safetensors alternative open_clip_model.safetensors (pretrained.download_pretrained_from_hf,
//     _get_safe_alternatives), so every one of the nine repos serves at least one of the two: that order is
//     what Obtain follows (OpenCLIPWeightFiles), so all 18 names are served whichever the repo has. Both are
//     float32 copies of OpenAI's state dict (the .pt files hold float16) under OpenAI's tensor names.
//     Seen per repo: resnet50 (both, file listing at commit 00fd562; safetensors sha256 da0baa37...,
//     408,291,932 bytes, pinned by third-party code at revision ec3d92cf), resnet50x4 (both, b4f04ca),
//     resnet50x16 (both, 8fe1f69), resnet50x64 (both, 7361950), vit_base_patch32 (both, ab5b8ef; also
//     pinned at main: safetensors sha256 e6d1bd77..., 605,143,284 bytes), resnet101 (repo tagged
//     Safetensors; timm's byobnet.py named open_clip_pytorch_model.bin as hf_hub_filename, 2024-06..10),
//     vit_base_patch16 (open_clip_model.safetensors pinned at main, sha256 4b869929...), vit_large_patch14
//     (open_clip_model.safetensors, sha256 9ce2e8a8...), vit_large_patch14_clip_336
//     (open_clip_pytorch_model.bin in a cached snapshot 81e38efc; timm's vision_transformer.py names it as
//     hf_hub_filename since 2023-11; its safetensors was not seen). HFFile is the file seen for each.
//   - Not used: timm's own files in these repos (model.safetensors, pytorch_model.bin, config.json) are
//     timm's, not open_clip's layout nor a CLIPModel (resnet50x4's model.safetensors is a 349 MB image
//     tower beside the 714 MB open_clip copy); Obtain never takes them.
//   - quick_gelu: the open_clip_config.json of timm/vit_base_patch32_clip_224.openai (commit ab5b8ef) says
//     "quick_gelu": true, and open_clip's push_pretrained_to_hf_hub sets it for every "openai" upload since
//     commit 58e4e39 (2024-06), before these repos were pushed. The 18 names are loaded with OpenAI's
//     conventions (QuickGELU) whatever config sits beside the weights.
//   - openai/clip-vit-*: transformers CLIPModel copies of the four ViTs only (no ResNet), so they cannot
//     serve all 18; a recorded transformers log shows main of clip-vit-base-patch32 serving
//     pytorch_model.bin and 404 for model.safetensors (which lives in a refs/pr branch).

// spec is one row of the table below.
type spec struct {
	name, hash, file string
	hfRepo, hfFile   string
	hfTransformers   string
}

// The weights files of open_clip's hub layout and its config (open_clip src/open_clip/constants.py).
const (
	ocSafe   = "open_clip_model.safetensors"
	ocBin    = "open_clip_pytorch_model.bin"
	ocConfig = "open_clip_config.json"
)

// OpenCLIPWeightFiles lists the weights files of open_clip's hub layout in the order open_clip loads
// them (safetensors first). The slice is a copy.
func OpenCLIPWeightFiles() []string { return []string{ocSafe, ocBin} }

// specs is in the reference's order; the CS- twins are generated from it so they cannot drift.
// Columns: name, SHA-256 and file of the reference's URL; hub repo and the weights file seen there.
var specs = []spec{
	{"RN50", "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762", "RN50.pt",
		"timm/resnet50_clip.openai", ocSafe, ""},
	{"RN101", "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599", "RN101.pt",
		"timm/resnet101_clip.openai", ocBin, ""},
	{"RN50x4", "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd", "RN50x4.pt",
		"timm/resnet50x4_clip.openai", ocSafe, ""},
	{"RN50x16", "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa", "RN50x16.pt",
		"timm/resnet50x16_clip.openai", ocSafe, ""},
	{"RN50x64", "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c", "RN50x64.pt",
		"timm/resnet50x64_clip.openai", ocSafe, ""},
	{"ViT-B/32", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af", "ViT-B-32.pt",
		"timm/vit_base_patch32_clip_224.openai", ocSafe, "openai/clip-vit-base-patch32"},
	{"ViT-B/16", "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f", "ViT-B-16.pt",
		"timm/vit_base_patch16_clip_224.openai", ocSafe, "openai/clip-vit-base-patch16"},
	{"ViT-L/14", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836", "ViT-L-14.pt",
		"timm/vit_large_patch14_clip_224.openai", ocSafe, "openai/clip-vit-large-patch14"},
	{"ViT-L/14@336px", "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02", "ViT-L-14-336px.pt",
		"timm/vit_large_patch14_clip_336.openai", ocBin, "openai/clip-vit-large-patch14-336"},
}

var (
	models = map[string]Model{}
	names  []string
)

func init() {
	var twins []string
	for _, s := range specs {
		m := Model{Name: s.name, File: s.file, URL: azure + s.hash + "/" + s.file, SHA256: s.hash,
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
