// Package cli is what the commands under tools share: flag parsing that ends in one-line errors,
// and the flags that choose and load a CLIP checkpoint (-model, -weights, -cache, -offline).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// DefaultModel is the checkpoint a command uses without -model / -weights.
const DefaultModel = "CS-ViT-B/16"

// Parse parses args with fs (made with flag.ContinueOnError). -h prints "usage: "+usage and the
// flags to stderr and returns flag.ErrHelp; a bad flag or a stray argument is a one-line error
// (the flag package's own messages are not printed).
func Parse(fs *flag.FlagSet, args []string, stderr io.Writer, usage string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "usage: "+usage)
			fs.PrintDefaults()
			return err
		}
		return fmt.Errorf("%v (see -h)", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags come as -name value; see -h)", fs.Arg(0))
	}
	return nil
}

// Checkpoint is the flags that choose a CLIP checkpoint.
type Checkpoint struct {
	Model    string // -model: a released name, downloaded once into the cache
	Weights  string // -weights: a checkpoint file or folder instead of Model (no network)
	CacheDir string // -cache: "" = $CLIPSURGERY_CACHE or ~/.cache/clip
	Offline  bool   // -offline (registry also honours $CLIPSURGERY_OFFLINE)
}

// AddFlags registers -model (default DefaultModel), -weights, -cache and -offline on fs.
func (c *Checkpoint) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Model, "model", DefaultModel, "model (downloaded once into the cache): one of "+strings.Join(registry.Names(), ", ")+
		"; or a Hugging Face repo as hf-hub:org/name, or an open_clip tag such as ViT-B-16/laion2b_s34b_b88k (README, Weights)")
	fs.StringVar(&c.Weights, "weights", "", "checkpoint instead of -model, no network: a file (.pt, .pth, .bin, .safetensors; "+
		"an open_clip_config.json or config.json beside it is read) or an open_clip / Hugging Face CLIPModel folder")
	fs.StringVar(&c.CacheDir, "cache", "", "checkpoint cache folder (default $CLIPSURGERY_CACHE or ~/.cache/clip)")
	fs.BoolVar(&c.Offline, "offline", false, "never download (also CLIPSURGERY_OFFLINE=1)")
}

// Check refuses -model together with -weights; call it after fs (with AddFlags) is parsed.
func (c *Checkpoint) Check(fs *flag.FlagSet) error {
	model := false
	fs.Visit(func(f *flag.Flag) { model = model || f.Name == "model" })
	if c.Weights != "" && model {
		return errors.New("give -model or -weights, not both")
	}
	return nil
}

// Load opens -weights (which must exist) or else -model with clip.Load; opt's CacheDir and
// Offline are the flags'.
func (c *Checkpoint) Load(ctx context.Context, opt clip.LoadOptions) (*clip.Model, error) {
	src := c.Model
	if c.Weights != "" {
		src = c.Weights
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("-weights: %w", err)
		}
	}
	opt.CacheDir, opt.Offline = c.CacheDir, c.Offline
	m, err := clip.Load(ctx, src, opt)
	return m, err
}

// CheckInputSize validates -size, -slide and -stride as parsed by fs: -size positive when given
// and at most clip.DefaultMaxImageSide (above it, sliding windows are the way), -stride only with
// -slide and positive. The model checks the rest (-size a multiple of the patch size, -stride at
// most the window side) once it is loaded.
func CheckInputSize(fs *flag.FlagSet, size int, slide bool, stride int) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if size < 0 || (set["size"] && size == 0) {
		return fmt.Errorf("-size %d: must be a positive multiple of the patch size", size)
	}
	if size > clip.DefaultMaxImageSide {
		return fmt.Errorf("-size %d is above the largest input side %d; for a large image use -slide (windows of the model's size, e.g. -slide -size 224)",
			size, clip.DefaultMaxImageSide)
	}
	if set["stride"] && !slide {
		return errors.New("-stride needs -slide")
	}
	if stride < 0 || (set["stride"] && stride == 0) {
		return fmt.Errorf("-stride %d: must be a positive number of pixels, at most the window side", stride)
	}
	return nil
}

// OneLine folds a multi-line message (wrapped errors, Beam's job errors) into one line, so that
// a command's error stays the one line it prints.
func OneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
