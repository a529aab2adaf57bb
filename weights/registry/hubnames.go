package registry

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// HubPrefix marks a Hugging Face hub name, as in open_clip: "hf-hub:laion/CLIP-ViT-B-16-laion2B-s34B-b88K".
// A revision may follow an "@" ("hf-hub:org/name@<commit>").
const HubPrefix = "hf-hub:"

// HubRef is a CLIP checkpoint on the hub: a repo, a revision ("" = Options.HFRevision, "main"), and
// what the name itself says about the model.
type HubRef struct {
	Name     string // as given
	Repo     string
	Revision string
	// QuickGELU: the name is an open_clip pretrained tag that open_clip builds with QuickGELU
	// (quick_gelu=True in pretrained.py) whatever the repo's config says.
	QuickGELU bool
}

// pretrainedTag is one row of the tag table.
type pretrainedTag struct {
	repo      string
	quickGELU bool
}

// pretrainedTags holds open_clip's pretrained tags of the common published ViT CLIP models: model →
// tag → hub repo. Source: mlfoundations/open_clip src/open_clip/pretrained.py at commit 89fb801f
// (2026-06): _VITB32, _VITB16, _VITL14, _VITL14_336, _VITH14 and _VITbigG14, the "openai", LAION-2B,
// DataComp-XL, DFN and MetaCLIP entries. quick_gelu is that file's flag. Two tags also change the
// preprocessing there (ViT-L-14 laion2b_s32b_b82k: mean/std 0.5; ViT-H-14 dfn5b: squash resize); the
// open_clip_config.json of both repos says the same, and the config is what the loader reads.
var pretrainedTags = map[string]map[string]pretrainedTag{
	"ViT-B-32": {
		"openai":                {"timm/vit_base_patch32_clip_224.openai", true},
		"laion2b_s34b_b79k":     {"laion/CLIP-ViT-B-32-laion2B-s34B-b79K", false},
		"datacomp_xl_s13b_b90k": {"laion/CLIP-ViT-B-32-DataComp.XL-s13B-b90K", false},
		"metaclip_400m":         {"timm/vit_base_patch32_clip_224.metaclip_400m", true},
		"metaclip_fullcc":       {"timm/vit_base_patch32_clip_224.metaclip_2pt5b", true},
	},
	"ViT-B-16": {
		"openai":                {"timm/vit_base_patch16_clip_224.openai", true},
		"laion2b_s34b_b88k":     {"laion/CLIP-ViT-B-16-laion2B-s34B-b88K", false},
		"datacomp_xl_s13b_b90k": {"laion/CLIP-ViT-B-16-DataComp.XL-s13B-b90K", false},
		"dfn2b":                 {"apple/DFN2B-CLIP-ViT-B-16", true},
		"metaclip_400m":         {"timm/vit_base_patch16_clip_224.metaclip_400m", true},
		"metaclip_fullcc":       {"timm/vit_base_patch16_clip_224.metaclip_2pt5b", true},
	},
	"ViT-L-14": {
		"openai":                {"timm/vit_large_patch14_clip_224.openai", true},
		"laion2b_s32b_b82k":     {"laion/CLIP-ViT-L-14-laion2B-s32B-b82K", false},
		"datacomp_xl_s13b_b90k": {"laion/CLIP-ViT-L-14-DataComp.XL-s13B-b90K", false},
		"dfn2b":                 {"apple/DFN2B-CLIP-ViT-L-14", true},
		"dfn2b_s39b":            {"apple/DFN2B-CLIP-ViT-L-14-39B", false},
		"metaclip_400m":         {"timm/vit_large_patch14_clip_224.metaclip_400m", true},
		"metaclip_fullcc":       {"timm/vit_large_patch14_clip_224.metaclip_2pt5b", true},
	},
	"ViT-L-14-336": {
		"openai": {"timm/vit_large_patch14_clip_336.openai", true},
	},
	"ViT-H-14": {
		"laion2b_s32b_b79k":   {"laion/CLIP-ViT-H-14-laion2B-s32B-b79K", false},
		"dfn5b":               {"apple/DFN5B-CLIP-ViT-H-14", true},
		"metaclip_fullcc":     {"timm/vit_huge_patch14_clip_224.metaclip_2pt5b", true},
		"metaclip_altogether": {"timm/vit_huge_patch14_clip_224.metaclip_altogether", false},
	},
	"ViT-bigG-14": {
		"laion2b_s39b_b160k": {"laion/CLIP-ViT-bigG-14-laion2B-39B-b160k", false},
		"metaclip_fullcc":    {"timm/vit_gigantic_patch14_clip_224.metaclip_2pt5b", true},
	},
}

// PretrainedTags lists the open_clip names ParseHubName knows ("ViT-B-16/laion2b_s34b_b88k", ...),
// sorted, with their hub repos.
func PretrainedTags() [][2]string {
	var out [][2]string
	for model, tags := range pretrainedTags {
		for tag, t := range tags {
			out = append(out, [2]string{model + "/" + tag, t.repo})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// ParseHubName recognises a hub name: "hf-hub:org/name[@revision]" or an open_clip pretrained tag
// "ViT-B-16/laion2b_s34b_b88k" (also "ViT-B-16:laion2b_s34b_b88k"; the tag is normalised as open_clip
// does: lower case, "-" as "_"). ok is false when name is neither, so that the caller can try it as a
// file; err is set for a name that is one but is malformed or an unknown tag of a known model.
func ParseHubName(name string) (ref HubRef, ok bool, err error) {
	if rest, found := strings.CutPrefix(name, HubPrefix); found {
		repo, rev, _ := strings.Cut(rest, "@")
		repo = strings.TrimSuffix(repo, "/")
		err := checkRepoID(repo)
		if err == nil && rev != "" {
			err = checkRevision(rev)
		}
		if err != nil {
			return HubRef{}, true, fmt.Errorf("%q: %w", name, err)
		}
		return HubRef{Name: name, Repo: repo, Revision: rev}, true, nil
	}
	i := strings.IndexAny(name, "/:")
	if i < 0 {
		return HubRef{}, false, nil
	}
	model, tag := name[:i], strings.ReplaceAll(strings.ToLower(name[i+1:]), "-", "_")
	tags, known := pretrainedTags[model]
	if !known {
		return HubRef{}, false, nil
	}
	t, found := tags[tag]
	if !found {
		var list []string
		for k := range tags {
			list = append(list, model+"/"+k)
		}
		slices.Sort(list)
		return HubRef{}, true, fmt.Errorf("registry: no pretrained tag %q for %s; known: %s (or name any repo as %sorg/name)",
			name[i+1:], model, strings.Join(list, ", "), HubPrefix)
	}
	return HubRef{Name: name, Repo: t.repo, QuickGELU: t.quickGELU}, true, nil
}

// Layouts of a CLIP checkpoint on the hub.
const (
	LayoutOpenCLIP     = "open_clip"    // open_clip_config.json + open_clip_model.safetensors / open_clip_pytorch_model.bin
	LayoutTransformers = "transformers" // config.json + model.safetensors (transformers CLIPModel)
)

// clipLayouts are the weights files FetchHubModel looks for, in open_clip's order
// (factory._find_checkpoint_in_dir), each with the config that must sit beside it.
var clipLayouts = []struct{ weights, config, layout string }{
	{ocSafe, ocConfig, LayoutOpenCLIP},
	{ocBin, ocConfig, LayoutOpenCLIP},
	{"model.safetensors", "config.json", LayoutTransformers},
}

// HubModel is a CLIP checkpoint in the hub cache: its weights file and, in the same snapshot folder,
// its config.
type HubModel struct {
	HubRef
	Layout          string // LayoutOpenCLIP or LayoutTransformers
	Weights, Config string // local paths
}

// FetchHubModel returns the weights and config of ref from the hub cache, downloading what it lacks
// (FetchHF's semantics). The weights file is the first of open_clip_model.safetensors,
// open_clip_pytorch_model.bin, model.safetensors the repo holds; the repo must hold its config
// (open_clip_config.json, or config.json for model.safetensors). Errors are one line; failures that
// a copy by hand would fix are *UnavailableError.
func FetchHubModel(ctx context.Context, ref HubRef, opt Options) (HubModel, error) {
	hm := HubModel{HubRef: ref}
	pick := func(has func(string) bool) ([]string, error) {
		for _, l := range clipLayouts {
			if !has(l.weights) {
				continue
			}
			if !has(l.config) {
				return nil, fmt.Errorf("repo %s holds %s but not its config %s", ref.Repo, l.weights, l.config)
			}
			hm.Layout = l.layout
			return []string{l.config, l.weights}, nil
		}
		var all []string
		for _, l := range clipLayouts {
			all = append(all, l.weights)
		}
		return nil, fmt.Errorf("repo %s holds no CLIP weights (none of %s)", ref.Repo, strings.Join(all, ", "))
	}
	paths, r, err := fetchHub(ctx, ref.Repo, ref.Revision, pick, opt)
	if err != nil {
		return HubModel{}, fmt.Errorf("%s: %w", ref.Name, r.unavailable(err)) // by hand: the whole repo
	}
	hm.Config, hm.Weights = paths[0], paths[1]
	return hm, nil
}
