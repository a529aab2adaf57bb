package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
	"github.com/clipsurgery/clipsurgery/weights/registry"
	"github.com/gomlx/compute"
)

// config is the parsed command line.
type config struct {
	image       string
	targets     []string
	labels      []string       // nil = surgery.DemoClasses()
	ckpt        cli.Checkpoint // -model, -weights, -cache, -offline
	textWeights string
	backend     compute.Backend // from GOMLX_BACKEND, chosen in run before anything loads
	out         string
	size        int
	single      bool
	method      clip.Method // "" = the model's default (surgery for CS- names and files)
	modifiers   clip.Modifiers
	features    surgery.FeatureSurgeryMode
	slide       bool
	stride      int
	threshold   float64
	writeNpy    bool
	writeJSON   bool
	sam         string      // SAM checkpoint file or released name ("" = no SAM stage)
	vfm         string      // ProxyCLIP's VFM: name or checkpoint ("" = none; -method proxyclip needs one)
	vfmModel    surgery.VFM // -vfm loaded once (loadVFM), shared by every image

	templates      []string               // nil = the 85 of the reference
	autoTemplates  bool                   // -templates auto: FLOSS picks each label's templates on the images
	experts        int                    // -template-experts: templates kept per label with -templates auto
	classTemplates surgery.ClassTemplates // what -templates auto picked (set by run)
	presence       float64                // -presence: the gate's threshold (0 = off)
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
	var labels, templates, method, modifiers, features string
	var raw, noFeatures bool
	fs := flag.NewFlagSet("clipsurgery", flag.ContinueOnError)
	fs.StringVar(&c.image, "image", "", "image file, or a folder (every image in it)")
	fs.Var(&texts, "text", "target text (repeatable or comma-separated); \"a+b\" is a combined target")
	fs.StringVar(&labels, "labels", "", "label set: comma list or @file (one label per line); default the 59 demo classes")
	c.ckpt.AddFlags(fs)
	fs.StringVar(&c.textWeights, "text-weights", "", "checkpoint holding the text tower, for an image-tower-only -weights file")
	fs.StringVar(&c.out, "out", ".", "output folder")
	fs.IntVar(&c.size, "size", 0, "model input size, a multiple of the patch size (default the model's, e.g. 224; the demo also uses 512)")
	fs.BoolVar(&c.single, "single", false, "single-text mode: any text, redundant features from the empty prompt, no label set")
	fs.StringVar(&method, "method", "", "image encoder method: "+strings.Join(clip.MethodNames(), ", ")+" (default the model's: surgery for CS- names and files, raw for plain names)")
	fs.StringVar(&modifiers, "modifiers", "", "modifiers composed with the method, comma-separated: "+strings.Join(clip.ModifierNames(), ", ")+
		" (also -method naclip+resclip)")
	fs.BoolVar(&raw, "raw", false, "original CLIP similarity maps (no surgery), for comparison: same as -method raw")
	fs.StringVar(&features, "feature-surgery", "", "feature surgery on top of the method: on, off (default the method's own: "+featureSurgeryDefaults()+")")
	fs.BoolVar(&noFeatures, "no-feature-surgery", false, "same as -feature-surgery off")
	fs.BoolVar(&c.slide, "slide", false, "sliding windows of the model's input size over the image at its own resolution, averaged where they overlap (for large images)")
	fs.IntVar(&c.stride, "stride", 0, "step of the -slide windows in pixels (default half a window)")
	fs.Float64Var(&c.threshold, "threshold", surgery.DefaultThreshold, "point threshold t in (0, 1]")
	fs.BoolVar(&c.writeNpy, "npy", false, "also write each map as <image>_<text>.npy (float32 H×W, 0..1)")
	fs.StringVar(&c.sam, "sam", "", "SAM checkpoint file or name (sam_vit_b, sam_vit_l, sam_vit_h): also write <image>_<text>_sam.png (with -npy the mask as uint8 .npy)")
	fs.BoolVar(&c.writeJSON, "json", false, "also write the SAM point prompts as <image>_points.json")
	fs.StringVar(&c.vfm, "vfm", "", "vision foundation model of -method proxyclip: a DINO / DINOv2 name ("+
		strings.Join(registry.DINONames(), ", ")+"), a SAM name (sam_vit_b, ...) or a checkpoint file / Hugging Face folder of either")
	fs.StringVar(&templates, "templates", "", cli.TemplatesUsage+`; "auto": each label's templates picked on the images at hand by FLOSS (label-free, among the 80 ImageNet templates)`)
	fs.IntVar(&c.experts, "template-experts", surgery.DefaultExperts, "with -templates auto: templates kept per label (FLOSS's N)")
	fs.Float64Var(&c.presence, "presence", 0, "presence gate in [0, 1]: no points (and no -sam mask) for a target whose CLIP probability among the labels is below it (0 = off)")
	fs.BoolVar(&c.noTextCache, "no-text-cache", false, "do not read or store prompt embeddings in the cache (also CLIPSURGERY_TEXT_CACHE=0)")
	fs.BoolVar(&c.textCacheInfo, "text-cache-info", false, "print where the prompt-embedding cache is and its size, then exit")
	fs.BoolVar(&c.textCacheClear, "text-cache-clear", false, "delete the cached prompt embeddings, then exit")
	if err := cli.Parse(fs, args, stderr, "clipsurgery -image FILE|DIR -text TEXT[,TEXT...] [options]"); err != nil {
		return nil, err
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
	if err := c.ckpt.Check(fs); err != nil {
		return nil, err
	}
	if c.textWeights != "" && c.ckpt.Weights == "" {
		return nil, errors.New("-text-weights completes a -weights file; give -weights too")
	}
	// Checked as the float32 that is used: 1e-50 is positive as a float64 but 0 as a float32,
	// which the library would read as "unset" and replace by the default.
	if t := float32(c.threshold); !(t > 0 && t <= 1) || math.IsNaN(c.threshold) {
		return nil, fmt.Errorf("-threshold %v: must be in (0, 1] (as a float32: %v)", c.threshold, t)
	}
	if err := cli.CheckInputSize(fs, c.size, c.slide, c.stride); err != nil {
		return nil, err
	}
	var err error
	if c.method, c.modifiers, err = clip.ParseMethodWithModifiers(method); err != nil {
		return nil, fmt.Errorf("-method: %v", err)
	}
	if more, err := clip.ParseModifiers(modifiers); err != nil {
		return nil, fmt.Errorf("-modifiers: %v", err)
	} else if c.modifiers, err = clip.ParseModifiers(string(c.modifiers) + "," + string(more)); err != nil {
		return nil, fmt.Errorf("-modifiers: %v", err)
	}
	if raw {
		if c.method != clip.MethodDefault && c.method != clip.MethodRaw {
			return nil, fmt.Errorf("-raw means -method raw; it contradicts -method %s", c.method)
		}
		c.method = clip.MethodRaw
	}
	if err := checkVFMFlag(c.method, c.vfm); err != nil {
		return nil, err
	}
	switch features {
	case "", "on", "off":
		c.features = surgery.FeatureSurgeryMode(features)
	default:
		return nil, fmt.Errorf("-feature-surgery %q: want on or off", features)
	}
	if noFeatures {
		if c.features == surgery.FeatureSurgeryOn {
			return nil, errors.New("-no-feature-surgery contradicts -feature-surgery on")
		}
		c.features = surgery.FeatureSurgeryOff
	}
	if t := float32(c.presence); !(t >= 0 && t <= 1) || math.IsNaN(c.presence) {
		return nil, fmt.Errorf("-presence %v: must be in [0, 1] (0 = no gate)", c.presence)
	}
	switch {
	case set["templates"] && strings.TrimSpace(templates) == "auto":
		if c.single {
			return nil, errors.New("-templates auto ranks templates over a label set; -single has none")
		}
		if c.experts < 1 {
			return nil, fmt.Errorf("-template-experts %d: must be at least 1", c.experts)
		}
		c.autoTemplates = true
	case set["template-experts"]:
		return nil, errors.New("-template-experts needs -templates auto")
	case set["templates"]:
		var err error
		if c.templates, err = cli.ParseTemplates(templates); err != nil {
			return nil, err
		}
	}
	if set["labels"] {
		if c.single {
			return nil, errors.New("-labels has no effect with -single (single-text mode has no label set)")
		}
		if c.labels, err = parseLabels(labels); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// parseLabels reads "-labels a,b,c" or "-labels @file" (cli.ParseList), at most
// surgery.DefaultMaxLabels labels.
func parseLabels(v string) ([]string, error) {
	items, _, err := cli.ParseList("labels", v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("-labels %.100q: empty label set", v)
	}
	if len(items) > surgery.DefaultMaxLabels {
		return nil, fmt.Errorf("-labels: %d labels, above the limit of %d (each is 85 prompts through the text encoder)",
			len(items), surgery.DefaultMaxLabels)
	}
	return items, nil
}

func (c *config) options() surgery.Options {
	return surgery.Options{Size: c.size, Labels: c.labels, Templates: c.templates, ClassTemplates: c.classTemplates,
		Single: c.single, Threshold: float32(c.threshold), Method: c.method, Modifiers: c.modifiers, FeatureSurgery: c.features,
		Slide: c.slide, Stride: c.stride, PresenceThreshold: float32(c.presence), VFM: c.vfmModel}
}

// featureSurgeryDefaults says which methods use feature surgery by default, from the method table.
func featureSurgeryDefaults() string {
	var on []string
	for _, m := range clip.Methods() {
		if m.FeatureSurgery {
			on = append(on, string(m.Name))
		}
	}
	return "on for " + strings.Join(on, ", ") + ", off for the others"
}
