package dino

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/clipsurgery/clipsurgery/internal/safefile"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/clipsurgery/clipsurgery/weights/registry"
	"github.com/gomlx/compute"
)

// LoadOptions control Load and LoadFile, with the same shape as clip.LoadOptions and
// sam.LoadOptions. The zero value downloads into the default caches on the default backend,
// silently.
type LoadOptions struct {
	// Options say where Load caches a released checkpoint and how it downloads it (cache folder,
	// offline, progress, mirror, HTTP client): registry.FetchDINO's options, passed on as they are.
	registry.Options

	Backend compute.Backend // nil = modelkit.BackendFromEnv() (GOMLX_BACKEND, pure Go when unset)

	// ScoreBudget bounds the attention scores built at once, in bytes (Config.ScoreBudget);
	// 0 = the backend's default (modelkit.ScoreBudgetFor).
	ScoreBudget int

	// Heads is the attention head count, which a state dict does not show. 0 = the config.json
	// of a Hugging Face copy, else the releases' 64-wide heads (Width/64).
	Heads int

	// MaxSide bounds the input side (Model.MaxSide); 0 = DefaultMaxImageSide.
	MaxSide int
}

// maxConfigBytes bounds a config.json read (they are a few hundred bytes).
const maxConfigBytes = 1 << 20

// Load loads a backbone by name — a canonical name ("dinov2-b14", "dino-b8", "dinov2-s14-reg";
// registry.DINONames), a torch.hub entry point ("dinov2_vitb14_reg") or the Hugging Face repo of
// one ("facebook/dinov2-base") — taken from the checkpoint cache, torch.hub's cache or the Hugging
// Face hub (registry.FetchDINO) and checked to have that name's configuration; or by path
// (LoadFile).
func Load(ctx context.Context, nameOrPath string, opt LoadOptions) (*Model, error) {
	if nameOrPath == "" {
		return nil, errors.New("dino.Load: empty model name or path")
	}
	ck, err := registry.LookupDINO(nameOrPath)
	if err != nil {
		if _, statErr := os.Stat(nameOrPath); statErr == nil || !errors.Is(err, registry.ErrUnknownModel) {
			return LoadFile(nameOrPath, opt)
		}
		return nil, fmt.Errorf("dino: %q is neither a checkpoint file nor a model name: %w", nameOrPath, err)
	}
	path, config, err := registry.FetchDINO(ctx, ck, opt.Options)
	if err != nil {
		return nil, fmt.Errorf("dino: %w", err)
	}
	m, err := loadFile(path, config, opt)
	if err != nil {
		return nil, err
	}
	if got := m.Config.Name(); got != ck.Name {
		return nil, fmt.Errorf("dino: %s holds a %s backbone, but %s is one", path, got, ck.Name)
	}
	return m, nil
}

// LoadFile reads a checkpoint — the authors' .pth (torch.save of the state dict), or a Hugging Face
// copy (model.safetensors or pytorch_model.bin; a folder holding one of them) — and builds the
// model. A Hugging Face copy's config.json beside the weights gives the head count and is checked
// against the shapes; the authors' .pth needs none.
func LoadFile(path string, opt LoadOptions) (*Model, error) {
	config := ""
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		found := ""
		for _, f := range []string{"model.safetensors", "pytorch_model.bin"} {
			if st, err := os.Stat(filepath.Join(path, f)); err == nil && st.Mode().IsRegular() {
				found = filepath.Join(path, f)
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("dino: folder %s holds neither model.safetensors nor pytorch_model.bin", path)
		}
		path = found
	}
	if c := filepath.Join(filepath.Dir(path), "config.json"); safefile.Check(c) == nil {
		config = c
	}
	return loadFile(path, config, opt)
}

// loadFile reads the weights at path and the Hugging Face config (config "" = none; it is read only
// for a checkpoint in Hugging Face naming).
func loadFile(path, config string, opt LoadOptions) (m *Model, err error) {
	defer func() { // graph code and the readers may panic; no panic leaves the loader
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("dino: loading %s: %v", path, r)
		}
	}()
	// Open, not Read: the weights go from the file straight into the backend's buffers.
	ck, err := weights.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dino: reading checkpoint %s: %w", path, err)
	}
	defer ck.Close()
	var hf *hfConfig
	if _, isHF := hfPrefix(ck.Tensors); isHF && config != "" {
		if hf, err = readHFConfig(config); err != nil {
			return nil, err
		}
	}
	// The state dict is ours: drop each host tensor once it is on the backend.
	m, err = newModel(ck.Tensors, opt.Backend, true, opt.Heads, hf)
	if err != nil {
		return nil, fmt.Errorf("%w (checkpoint %s)", err, path)
	}
	if opt.ScoreBudget != 0 {
		m.Config.ScoreBudget = opt.ScoreBudget
	}
	m.MaxSide = opt.MaxSide
	return m, nil
}

func readHFConfig(path string) (*hfConfig, error) {
	data, err := safefile.ReadFile(path, maxConfigBytes) // a regular file, bounded: never a FIFO or a huge file
	if err != nil {
		return nil, fmt.Errorf("dino: config %w", err)
	}
	h, err := parseHFConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return h, nil
}
