package registry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DINO and DINOv2 backbones: the twelve the authors release through torch.hub (facebookresearch/dino
// hubconf.py: dino_vits16, dino_vits8, dino_vitb16, dino_vitb8; facebookresearch/dinov2
// hub/backbones.py: dinov2_vit{s,b,l,g}14 and their _reg twins), with, for each, the authors' .pth
// and the Hugging Face copy. Sources (read with the project's search tools, nothing downloaded):
//   - URLs: hubconf.py of facebookresearch/dino (commit 7c446df5) and dinov2's hub/utils.py
//     _DINOV2_BASE_URL + hub/backbones.py's "<base>/<model>/<model>[_reg4]_pretrain.pth".
//   - Hugging Face repos: transformers' convert_dino_to_pytorch.py (facebook/dino-vit{s,b}{8,16}),
//     convert_dinov2_to_hf.py (facebook/dinov2-{small,base,large,giant}) and the
//     Dinov2WithRegisters config (facebook/dinov2-with-registers-{small,base,large,giant}).
//   - Checksums: neither release publishes any (torch.hub's check_hash needs a hash in the file
//     name; these have none). So the .pth files are never downloaded here: a copy placed by hand in
//     the checkpoint cache, or the one torch.hub already downloaded ($TORCH_HOME/hub/checkpoints),
//     is used as it is; downloads go through the hub, whose SHA-256 of each file is checked.

// DINOCheckpoint is one released DINO or DINOv2 backbone.
type DINOCheckpoint struct {
	// Name is the canonical name, the backbone's size as dino.Config.Name spells it
	// ("dinov2-b14-reg"); a checkpoint loaded under it must have that configuration.
	Name string
	Hub  string // the torch.hub entry point ("dinov2_vitb14_reg"), also accepted as a name
	// HFRepo holds the same weights in transformers' layout (config.json + model.safetensors or
	// pytorch_model.bin).
	HFRepo string
	// URL and File are the authors' .pth (a torch.save state dict); no digest is published.
	URL, File string
}

const (
	dinoBase   = "https://dl.fbaipublicfiles.com/dino/"
	dinov2Base = "https://dl.fbaipublicfiles.com/dinov2/"
)

// dinoCheckpoints is in the hub entry points' order.
var dinoCheckpoints = []DINOCheckpoint{
	dinoV1("s16", "dino_vits16", "dino_deitsmall16_pretrain"),
	dinoV1("s8", "dino_vits8", "dino_deitsmall8_pretrain"),
	dinoV1("b16", "dino_vitb16", "dino_vitbase16_pretrain"),
	dinoV1("b8", "dino_vitb8", "dino_vitbase8_pretrain"),
	dinoV2("s", "small"), dinoV2("b", "base"), dinoV2("l", "large"), dinoV2("g", "giant"),
	dinoV2Reg("s", "small"), dinoV2Reg("b", "base"), dinoV2Reg("l", "large"), dinoV2Reg("g", "giant"),
}

func dinoV1(size, hub, file string) DINOCheckpoint {
	return DINOCheckpoint{Name: "dino-" + size, Hub: hub, HFRepo: "facebook/" + strings.ReplaceAll(hub, "_", "-"),
		URL: dinoBase + file + "/" + file + ".pth", File: file + ".pth"}
}

func dinoV2(size, hf string) DINOCheckpoint {
	model := "dinov2_vit" + size + "14"
	return DINOCheckpoint{Name: "dinov2-" + size + "14", Hub: model, HFRepo: "facebook/dinov2-" + hf,
		URL: dinov2Base + model + "/" + model + "_pretrain.pth", File: model + "_pretrain.pth"}
}

func dinoV2Reg(size, hf string) DINOCheckpoint {
	model := "dinov2_vit" + size + "14"
	return DINOCheckpoint{Name: "dinov2-" + size + "14-reg", Hub: model + "_reg", HFRepo: "facebook/dinov2-with-registers-" + hf,
		URL: dinov2Base + model + "/" + model + "_reg4_pretrain.pth", File: model + "_reg4_pretrain.pth"}
}

// DINONames lists the canonical DINO and DINOv2 names, in the hub entry points' order.
func DINONames() []string {
	out := make([]string, len(dinoCheckpoints))
	for i, c := range dinoCheckpoints {
		out[i] = c.Name
	}
	return out
}

// DINOCheckpoints returns every entry (copies).
func DINOCheckpoints() []DINOCheckpoint { return slices.Clone(dinoCheckpoints) }

// LookupDINO returns a backbone by canonical name ("dinov2-b14-reg"), torch.hub entry point
// ("dinov2_vitb14_reg") or Hugging Face repo ("facebook/dinov2-with-registers-base"); case is
// ignored.
func LookupDINO(name string) (DINOCheckpoint, error) {
	key := strings.ToLower(strings.TrimSpace(name))
	for _, c := range dinoCheckpoints {
		if key == c.Name || key == c.Hub || key == strings.ToLower(c.HFRepo) {
			return c, nil
		}
	}
	return DINOCheckpoint{}, fmt.Errorf("%w %q; available DINO models = [%s]", ErrUnknownModel, name, strings.Join(DINONames(), ", "))
}

// DINO's Hugging Face layout: the weights files in transformers' order, and the config.
var dinoHFWeights = []string{"model.safetensors", "pytorch_model.bin"}

const dinoHFConfig = "config.json"

// EnvTorchHome is PyTorch's cache root; torch.hub keeps checkpoints in $TORCH_HOME/hub/checkpoints
// (default ~/.cache/torch/hub/checkpoints).
const EnvTorchHome = "TORCH_HOME"

// FetchDINO returns a local checkpoint of c and, for a Hugging Face copy, its config.json (""
// for the authors' .pth), trying in turn:
//  1. c.File in the checkpoint cache (Options.CacheDir, ~/.cache/clip), then in torch.hub's
//     checkpoint folder: the authors' .pth, placed by hand or downloaded by torch.hub. No
//     network; used as it is (no digest is published to check it against).
//  2. c.HFRepo on the Hugging Face hub (FetchHF's semantics: the hub cache first, shared with
//     Python): config.json and the first of model.safetensors, pytorch_model.bin, each checked
//     against the hub's SHA-256.
//
// When both fail the error is one line naming the hub repo and the .pth URL and where to put each.
func FetchDINO(ctx context.Context, c DINOCheckpoint, opt Options) (weights, config string, err error) {
	dir, err := opt.cacheDir()
	if err != nil {
		return "", "", err
	}
	local := []string{filepath.Join(dir, c.File)}
	if th, ok := torchHubDir(); ok {
		local = append(local, filepath.Join(th, c.File))
	}
	for _, p := range local {
		if isRegular(p) {
			return p, "", nil
		}
	}
	pick := func(has func(string) bool) ([]string, error) {
		for _, f := range dinoHFWeights {
			if has(f) {
				if !has(dinoHFConfig) {
					return nil, fmt.Errorf("repo %s holds %s but not its %s", c.HFRepo, f, dinoHFConfig)
				}
				return []string{dinoHFConfig, f}, nil
			}
		}
		return nil, fmt.Errorf("repo %s holds none of %s", c.HFRepo, strings.Join(dinoHFWeights, ", "))
	}
	paths, r, hubErr := fetchHub(ctx, c.HFRepo, "", pick, opt)
	if hubErr == nil {
		return paths[1], paths[0], nil
	}
	if ctx.Err() != nil {
		return "", "", hubErr
	}
	if !isUnavailable(hubErr) || r == nil {
		return "", "", fmt.Errorf("%s: %w", c.Name, hubErr)
	}
	var ue *UnavailableError
	if errors.As(hubErr, &ue) {
		hubErr = ue.Err
	}
	return "", "", &UnavailableError{File: c.File, Dir: dir, URL: c.URL, Err: fmt.Errorf("Hugging Face repo %s: %w", c.HFRepo, hubErr),
		Hint: fmt.Sprintf("to place it by hand, either run `hf download %s` (huggingface_hub) where the hub is reachable and copy its "+
			"folder %s into the Hugging Face cache %s ($%s / $%s), or download the authors' %s and save it as %s in %s",
			c.HFRepo, r.folder(), r.cache, EnvHFHubCache, EnvHFHome, c.URL, c.File, dir)}
}

// torchHubDir is torch.hub's checkpoint folder: $TORCH_HOME/hub/checkpoints, else
// $XDG_CACHE_HOME/torch/hub/checkpoints, else ~/.cache/torch/hub/checkpoints.
func torchHubDir() (string, bool) {
	if th := os.Getenv(EnvTorchHome); th != "" {
		return filepath.Join(th, "hub", "checkpoints"), true
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "torch", "hub", "checkpoints"), true
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", false
	}
	return filepath.Join(home, ".cache", "torch", "hub", "checkpoints"), true
}
