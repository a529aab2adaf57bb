package clip

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// lookupModel is registry.Lookup; tests replace it to serve a small fixture under a registry URL.
var lookupModel = registry.Lookup

// releasedConfigOf is ReleasedConfig; tests replace it so that a tiny fixture passes for a name.
var releasedConfigOf = ReleasedConfig

// source is the checkpoint file Load found for a name or path, and what the name promises.
type source struct {
	path    string
	surgery bool               // build for CLIP Surgery: "CS-" names, files and hub names
	release string             // the reference's name when it is one
	want    *Config            // the architecture that name promises, checked after the build
	hub     *registry.HubModel // hub names: the weights' config beside them, the tag's QuickGELU
}

// resolveSource finds the checkpoint of nameOrPath:
//   - one of the reference's names (registry.Names()): registry.Obtain — a verified file in the
//     checkpoint cache, else the Hugging Face copy (hub cache first), else the reference's URL;
//   - an existing file: itself;
//   - "hf-hub:org/name[@rev]" or an open_clip tag ("ViT-B-16/laion2b_s34b_b88k"): the repo's
//     weights and config in the Hugging Face cache (registry.FetchHubModel).
//
// The hub's cache, address and offline switch come from the environment as for Python
// (HF_HUB_CACHE / HF_HOME, HF_ENDPOINT, HF_HUB_OFFLINE), besides opt.Offline / CLIPSURGERY_OFFLINE.
func resolveSource(ctx context.Context, nameOrPath string, opt LoadOptions) (source, error) {
	ropt := opt.Options
	if entry, err := lookupModel(nameOrPath); err == nil {
		path, err := registry.Obtain(ctx, entry, ropt)
		if err != nil {
			return source{}, fmt.Errorf("clip.Load %s: %w", nameOrPath, err)
		}
		s := source{path: path, surgery: entry.Surgery, release: entry.Name}
		if want, ok := releasedConfigOf(entry.Name); ok {
			s.want = &want
		}
		return s, nil
	}
	ref, isHub, hubErr := registry.ParseHubName(nameOrPath)
	// An existing file wins over a tag-like name ("ViT-B-16/x" can be a relative path); "hf-hub:"
	// always names the hub.
	if !strings.HasPrefix(nameOrPath, registry.HubPrefix) {
		_, err := os.Stat(nameOrPath)
		switch {
		case err == nil:
			return source{path: nameOrPath, surgery: true}, nil
		case isHub:
		case looksLikePath(nameOrPath):
			return source{}, fmt.Errorf("clip.Load: checkpoint file %s: %w", nameOrPath, err)
		default:
			return source{}, fmt.Errorf("clip.Load: %w %q (neither a file nor a model name); valid names: %s, "+
				"or a Hugging Face repo as %sorg/name, or an open_clip tag such as ViT-B-16/laion2b_s34b_b88k",
				registry.ErrUnknownModel, nameOrPath, strings.Join(registry.Names(), ", "), registry.HubPrefix)
		}
	}
	if hubErr != nil {
		return source{}, fmt.Errorf("clip.Load: %w", hubErr)
	}
	hm, err := registry.FetchHubModel(ctx, ref, ropt)
	if err != nil {
		return source{}, fmt.Errorf("clip.Load %w", err)
	}
	return source{path: hm.Weights, surgery: true, hub: &hm}, nil
}

// check verifies the built model against what the name promised.
func (s source) check(c Config) error {
	if s.want == nil {
		return nil
	}
	return checkReleased(c, *s.want, s.release)
}
