package clip

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gomlx/compute"

	"github.com/clipsurgery/clipsurgery/gomlx_clip/tokenizer"
	"github.com/clipsurgery/clipsurgery/internal/embedcache"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// LoadOptions control Load and LoadFile, with the same shape as sam.LoadOptions. The zero value
// downloads into the default cache (~/.cache/clip, or $CLIPSURGERY_CACHE) on the default backend,
// silently.
type LoadOptions struct {
	// Options say where Load caches a released checkpoint and how it downloads it (cache folder,
	// offline, progress, mirror, HTTP client): registry.Fetch's options, passed on as they are.
	registry.Options

	Backend compute.Backend // nil = modelkit.BackendFromEnv() (GOMLX_BACKEND, pure Go when unset)

	// ScoreBudget bounds the attention scores built at once, in bytes (Config.ScoreBudget);
	// 0 = the backend's default (modelkit.ScoreBudgetFor).
	ScoreBudget int

	// TextTower is a checkpoint whose text tower completes a file that holds only the image tower
	// (visual.* tensors). When empty, such a file's safetensors metadata "text_tower_from" (a file
	// name in the same folder) is used if present.
	TextTower string

	// OpenAIConventions loads the weights as OpenAI's CLIP (QuickGELU, LayerNorm eps 1e-5,
	// width/64 heads, OpenAI's tokenizer and preprocessing), ignoring any config beside them.
	OpenAIConventions bool
	// ConfigFile names the config to read (an open_clip_config.json or a Hugging Face config.json,
	// told by content) instead of the one beside the weights (see LoadFile).
	ConfigFile string

	quickGELU bool // open_clip's force_quick_gelu, for a pretrained tag trained with QuickGELU (Load)
}

// Load returns the CLIP model named nameOrPath, ready for EncodeImage / EncodeText. Its
// preprocessing size, the checkpoint's native input resolution (224 for ViT-B/16, 288 for
// RN50x4), is m.Config.ImageResolution.
//
// nameOrPath is either one of the reference's model names (registry.Names(): "ViT-B/16", "RN50",
// ..., and their "CS-" twins; Model.Method is MethodSurgery for "CS-" names, MethodRaw for plain
// ones) — the checkpoint is then taken from the checkpoint cache, the Hugging Face cache or hub, or
// the reference's URL (registry.Obtain; see resolveSource) and checked against ReleasedConfig — or
// the path of a .pt (TorchScript), .pth (torch.save) or .safetensors checkpoint in OpenAI or Hugging
// Face naming, or a Hugging Face hub name ("hf-hub:org/name", an open_clip tag such as
// "ViT-B-16/laion2b_s34b_b88k"). A file or hub name carries no "CS-" prefix: it is loaded for CLIP
// Surgery (Model.Method = MethodSurgery), the purpose of this module; callers wanting another method
// set Model.Method or ask for one per call.
//
// Names are matched exactly, as the reference does; an unknown name that is not an existing file
// gives an error listing the valid names.
func Load(ctx context.Context, nameOrPath string, opt LoadOptions) (m *Model, err error) {
	defer func() { // NewModel and the graph code it reaches may panic; no panic leaves Load
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("clip.Load %q: %v", nameOrPath, r)
		}
	}()
	if nameOrPath == "" {
		return nil, errors.New("clip.Load: empty model name or path")
	}
	src, err := resolveSource(ctx, nameOrPath, opt)
	if err != nil {
		return nil, err
	}
	// The config beside a hub checkpoint completes it (LoadFile); a pretrained tag open_clip
	// builds with QuickGELU gets it whatever that config says (open_clip's force_quick_gelu).
	opt.quickGELU = src.hub != nil && src.hub.QuickGELU
	m, err = LoadFile(src.path, opt)
	if err != nil {
		return nil, err
	}
	if err := src.check(m.Config); err != nil {
		return nil, fmt.Errorf("clip.Load %s (%s): %w", nameOrPath, src.path, err)
	}
	if src.release != "" {
		// The reference's names are its models, tokenized as it does (clip.tokenize), whatever
		// layout their copy comes in.
		m.Config.Tokenizer = tokenizer.OpenAI
	}
	m.Method = MethodRaw
	if src.surgery {
		m.Method = MethodSurgery
	}
	return m, nil
}

// looksLikePath tells a mistyped file name from a mistyped model name, for the error message.
func looksLikePath(s string) bool {
	switch strings.ToLower(filepath.Ext(s)) {
	case ".pt", ".pth", ".safetensors", ".bin":
		return true
	}
	return strings.HasPrefix(s, ".") || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "~")
}

// LoadFile reads a checkpoint file (any format weights.Read accepts) or the preferred one of a
// folder (WeightsFileNames: open_clip's hub layout, a Hugging Face CLIPModel), completes a
// visual-only file with a text tower (LoadOptions.TextTower or the file's "text_tower_from"
// metadata) and builds the model, its architecture completed by the config beside the weights
// (open_clip_config.json or config.json; see configFor and LoadOptions.ConfigFile,
// OpenAIConventions). Its native input resolution (Config.ImageResolution) is the one the shapes
// imply; a TorchScript scalar input_resolution in the file must agree with it. Model.Method is set
// to MethodSurgery (see Load).
func LoadFile(path string, opt LoadOptions) (m *Model, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("clip: loading %s: %v", path, r)
		}
	}()
	if path, err = weightsFile(path); err != nil {
		return nil, err
	}
	id, idOK := embedcache.FileIdentity(path) // before reading: see TextWeightsDigest
	// Open, not Read: the weights go from the file straight into the backend's buffers.
	ck, err := weights.Open(path)
	if err != nil {
		return nil, fmt.Errorf("clip: reading checkpoint %s: %w", path, err)
	}
	defer ck.Close()
	canon, naming, err := Canonicalize(ck.Tensors)
	if err != nil {
		return nil, fmt.Errorf("clip: checkpoint %s: %w", path, err)
	}
	if err := notCLIP(path, canon); err != nil {
		return nil, err
	}
	arch, err := configFor(path, naming, opt)
	if err != nil {
		return nil, err
	}
	sources := [][]byte{id}
	if _, hasText := canon["token_embedding.weight"]; !hasText {
		textID, textOK, closeText, err := addTextTower(canon, path, ck.Metadata, opt.TextTower)
		if err != nil {
			return nil, err
		}
		defer closeText()
		sources, idOK = append(sources, textID), idOK && textOK
	}
	// canon is ours alone: release each host copy once it is on the backend (peak ~1 copy, not 2).
	m, err = newModelWith(canon, opt.Backend, true, arch)
	if err != nil {
		return nil, fmt.Errorf("clip: checkpoint %s: %w", path, err)
	}
	m.Naming, m.Layout = naming, LayoutOpenAI
	if arch != nil {
		m.Layout = arch.layout
	}
	m.Method = MethodSurgery
	if opt.ScoreBudget != 0 {
		m.Config.ScoreBudget = opt.ScoreBudget
	}
	if idOK {
		m.sources = sources
	}
	if r, ok := scalarInt(ck.Tensors["input_resolution"]); ok && r != m.Config.ImageResolution {
		return nil, fmt.Errorf("clip: checkpoint %s says input_resolution %d but its positional embedding is for %d",
			path, r, m.Config.ImageResolution)
	}
	if c, ok := scalarInt(ck.Tensors["context_length"]); ok && c != m.Config.ContextLength {
		return nil, fmt.Errorf("clip: checkpoint %s says context_length %d but its text positional embedding has %d rows",
			path, c, m.Config.ContextLength)
	}
	if v, ok := scalarInt(ck.Tensors["vocab_size"]); ok && v != m.Config.VocabSize {
		return nil, fmt.Errorf("clip: checkpoint %s says vocab_size %d but its token embedding has %d rows",
			path, v, m.Config.VocabSize)
	}
	return m, nil
}

// addTextTower copies the text tower (every canonical tensor outside visual.*) of another checkpoint
// into canon: released image-only files and the golden vit32/rn files share one text tower. It
// returns the identity of the file it read (embedcache.FileIdentity, taken before reading) and
// a function that closes it once the model is built (its tensors are read lazily: weights.Open).
func addTextTower(canon map[string]*weights.Tensor, path string, meta map[string]string, textTower string) (_ []byte, _ bool, closeFile func() error, _ error) {
	src := textTower
	if src == "" {
		from := meta["text_tower_from"]
		if from == "" {
			return nil, false, nil, fmt.Errorf("clip: checkpoint %s has no text tower (no token_embedding.weight); "+
				"give the checkpoint that holds it (LoadOptions.TextTower, -text-weights)", path)
		}
		// Only a file name beside the checkpoint: metadata must not point anywhere else.
		src = filepath.Join(filepath.Dir(path), filepath.Base(from))
	}
	id, idOK := embedcache.FileIdentity(src)
	ck, err := weights.Open(src)
	if err != nil {
		return nil, false, nil, fmt.Errorf("clip: reading the text tower of %s from %s: %w", path, src, err)
	}
	text, _, err := Canonicalize(ck.Tensors)
	if err != nil {
		ck.Close()
		return nil, false, nil, fmt.Errorf("clip: text tower checkpoint %s: %w", src, err)
	}
	n := 0
	for name, t := range text {
		if !strings.HasPrefix(name, "visual.") {
			if _, dup := canon[name]; !dup {
				canon[name] = t
				n++
			}
		}
	}
	if _, ok := canon["token_embedding.weight"]; !ok || n == 0 {
		ck.Close()
		return nil, false, nil, fmt.Errorf("clip: %s holds no text tower for %s", src, path)
	}
	return id, idOK, ck.Close, nil
}

// scalarInt reads a one-element integer tensor (TorchScript's input_resolution etc.).
func scalarInt(t *weights.Tensor) (int, bool) {
	if t == nil || t.Numel() != 1 {
		return 0, false
	}
	if len(t.I64) == 1 {
		return int(t.I64[0]), true
	}
	var v [1]float32
	if t.ReadF32(v[:], 0) == nil {
		return int(v[0]), true
	}
	return 0, false
}
