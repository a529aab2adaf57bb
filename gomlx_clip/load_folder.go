package clip

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadFile takes a checkpoint file or a folder holding one (a Hugging Face hub snapshot, an
// open_clip export), and reads the config file beside the weights (see configFor). This file is
// that part of loading.

// weightsFileNames are the names a folder's checkpoint may have, in open_clip's order of
// preference (factory._find_checkpoint_in_dir): open_clip's hub files first, then a Hugging Face
// CLIPModel's.
var weightsFileNames = []string{
	"open_clip_model.safetensors", "open_clip_pytorch_model.safetensors",
	"open_clip_pytorch_model.bin", "open_clip_pytorch_model.pth",
	"model.safetensors", "pytorch_model.bin", "pytorch_model.pth", "model.pth",
}

// WeightsFileNames lists the checkpoint names LoadFile looks for in a folder, preferred first.
func WeightsFileNames() []string { return append([]string(nil), weightsFileNames...) }

// weightsFile returns path itself for a file, and the preferred checkpoint inside a folder.
func weightsFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() {
		return path, nil // weights.Open reports a missing or unreadable file with its own message
	}
	for _, name := range weightsFileNames {
		p := filepath.Join(path, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("clip: folder %s holds no checkpoint (looked for %s)", path, strings.Join(weightsFileNames, ", "))
}

// configFor finds and reads the config that completes the checkpoint at path, whose tensors are
// named as naming says:
//
//   - LoadOptions.OpenAIConventions: none (OpenAI's CLIP conventions, whatever lies beside);
//   - LoadOptions.ConfigFile: that file (either layout, told by its content);
//   - else the file beside the weights that belongs to their naming: open_clip_config.json for
//     OpenAI-named tensors (open_clip saves OpenAI's names), config.json for Hugging Face-named
//     ones; none when it is absent (a plain OpenAI checkpoint, today's behaviour).
//
// A config that is present but unreadable or malformed is an error, never skipped.
//
// With LoadOptions.quickGELU (Load, for an open_clip pretrained tag trained with QuickGELU), an
// open_clip config's towers get QuickGELU, as open_clip's force_quick_gelu does.
func configFor(path string, naming Naming, opt LoadOptions) (*archConfig, error) {
	var file string
	switch {
	case opt.OpenAIConventions && opt.ConfigFile != "":
		return nil, errors.New("clip: LoadOptions.OpenAIConventions and ConfigFile exclude each other")
	case opt.OpenAIConventions:
		return nil, nil
	case opt.ConfigFile != "":
		file = opt.ConfigFile
	default:
		name := OpenCLIPConfigName
		if naming == NamingHF {
			name = HFConfigName
		}
		file = filepath.Join(filepath.Dir(path), name)
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	arch, err := readArchConfig(file)
	if err == nil && opt.quickGELU && arch.layout == LayoutOpenCLIP {
		arch.visionAct, arch.textAct = ActQuickGELU, ActQuickGELU
	}
	return arch, err
}
