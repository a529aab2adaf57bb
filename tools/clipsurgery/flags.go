package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// DefaultModel is the checkpoint the command uses without -model / -weights.
const DefaultModel = "CS-ViT-B/16"

// config is the parsed command line.
type config struct {
	image       string
	targets     []string
	labels      []string // nil = clip.DemoClasses
	model       string
	weights     string
	textWeights string
	cacheDir    string
	offline     bool
	out         string
	size        int
	single      bool
	raw         bool
	threshold   float64
	writeNpy    bool
	writeJSON   bool
	sam         string // SAM checkpoint file or released name ("" = no SAM stage)

	templates      []string // nil = the 85 of the reference
	noTextCache    bool
	textCacheInfo  bool
	textCacheClear bool
}

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		*l = append(*l, strings.TrimSpace(s))
	}
	return nil
}

func parseArgs(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	var texts listFlag
	var labels, templates string
	fs := flag.NewFlagSet("clipsurgery", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned as one line; -h prints the usage below
	fs.StringVar(&c.image, "image", "", "image file, or a folder (every image in it)")
	fs.Var(&texts, "text", "target text (repeatable or comma-separated); \"a+b\" is a combined target")
	fs.StringVar(&labels, "labels", "", "label set: comma list or @file (one label per line); default the 59 demo classes")
	fs.StringVar(&c.model, "model", DefaultModel, "model name (downloaded once into the cache): "+strings.Join(registry.Names(), ", "))
	fs.StringVar(&c.weights, "weights", "", "checkpoint file (.pt, .pth, .safetensors) instead of -model; no network")
	fs.StringVar(&c.textWeights, "text-weights", "", "checkpoint holding the text tower, for an image-tower-only -weights file")
	fs.StringVar(&c.cacheDir, "cache", "", "checkpoint cache folder (default $CLIPSURGERY_CACHE or ~/.cache/clip)")
	fs.BoolVar(&c.offline, "offline", false, "never download (also CLIPSURGERY_OFFLINE=1)")
	fs.StringVar(&c.out, "out", ".", "output folder")
	fs.IntVar(&c.size, "size", 0, "model input size, a multiple of the patch size (default the model's, e.g. 224; the demo also uses 512)")
	fs.BoolVar(&c.single, "single", false, "single-text mode: any text, redundant features from the empty prompt, no label set")
	fs.BoolVar(&c.raw, "raw", false, "original CLIP similarity maps (no surgery), for comparison")
	fs.Float64Var(&c.threshold, "threshold", surgery.DefaultThreshold, "point threshold t in (0, 1]")
	fs.BoolVar(&c.writeNpy, "npy", false, "also write each map as <image>_<text>.npy (float32 H×W, 0..1)")
	fs.StringVar(&c.sam, "sam", "", "SAM checkpoint file or name (sam_vit_b, sam_vit_l, sam_vit_h): also write <image>_<text>_sam.png (with -npy the mask as uint8 .npy)")
	fs.BoolVar(&c.writeJSON, "json", false, "also write the SAM point prompts as <image>_points.json")
	fs.StringVar(&templates, "templates", "", "prompt templates, {} = the class: comma list or @file (one per line); default the reference's 85")
	fs.BoolVar(&c.noTextCache, "no-text-cache", false, "do not read or store prompt embeddings in the cache (also CLIPSURGERY_TEXT_CACHE=0)")
	fs.BoolVar(&c.textCacheInfo, "text-cache-info", false, "print where the prompt-embedding cache is and its size, then exit")
	fs.BoolVar(&c.textCacheClear, "text-cache-clear", false, "delete the cached prompt embeddings, then exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "usage: clipsurgery -image FILE|DIR -text TEXT[,TEXT...] [options]")
			fs.PrintDefaults()
			return nil, err
		}
		return nil, fmt.Errorf("%v (see -h)", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags come as -name value; see -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.textCacheInfo || c.textCacheClear {
		return c, nil // a cache command: no image needed
	}
	if c.image == "" {
		return nil, errors.New("-image is required")
	}
	for _, t := range texts {
		if t != "" {
			c.targets = append(c.targets, t)
		}
	}
	if len(c.targets) == 0 {
		return nil, errors.New("-text is required (one or more target texts)")
	}
	if c.weights != "" && set["model"] {
		return nil, errors.New("give -model or -weights, not both")
	}
	if c.textWeights != "" && c.weights == "" {
		return nil, errors.New("-text-weights completes a -weights file; give -weights too")
	}
	if !(c.threshold > 0 && c.threshold <= 1) || math.IsNaN(c.threshold) {
		return nil, fmt.Errorf("-threshold %v: must be in (0, 1]", c.threshold)
	}
	if c.size < 0 || (set["size"] && c.size == 0) {
		return nil, fmt.Errorf("-size %d: must be a positive multiple of the patch size", c.size)
	}
	if set["templates"] {
		var err error
		if c.templates, err = parseTemplates(templates); err != nil {
			return nil, err
		}
	}
	if set["labels"] {
		if c.single {
			return nil, errors.New("-labels has no effect with -single (single-text mode has no label set)")
		}
		var err error
		if c.labels, err = parseLabels(labels); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// parseLabels reads "-labels a,b,c" or "-labels @file" (one label per line, blank lines and lines
// starting with # skipped).
func parseLabels(v string) ([]string, error) {
	var items []string
	if path, ok := strings.CutPrefix(v, "@"); ok {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("-labels: %w", err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line != "" && !strings.HasPrefix(line, "#") {
				items = append(items, line)
			}
		}
	} else {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("-labels %q: empty label set", v)
	}
	return items, nil
}

func (c *config) options() surgery.Options {
	o := surgery.Options{Size: c.size, Labels: c.labels, Templates: c.templates, Single: c.single, Threshold: float32(c.threshold)}
	if c.raw {
		o.Method = surgery.MethodRaw
	}
	return o
}
