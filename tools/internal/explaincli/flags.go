// Package explaincli is what the commands that draw CLIP Surgery maps share: the flags of
// tools/clipsurgery (also the explain job of tools/pipeline), the model and SAM loading, and the
// outputs of one image (overlays, .npy maps, points JSON, SAM masks) with their names, written
// through a Sink (local files for the CLI, a Beam filesystem for the pipeline).
package explaincli

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
	"github.com/clipsurgery/clipsurgery/weights/registry"
	"github.com/gomlx/compute"
)

// Config is a parsed explain command line.
type Config struct {
	Image       string
	Targets     []string
	Labels      []string       // nil = surgery.DemoClasses()
	Ckpt        cli.Checkpoint // -model, -weights, -cache, -offline
	TextWeights string
	Backend     compute.Backend // chosen by the command (GOMLX_BACKEND) before anything loads
	Out         string
	Size        int
	Single      bool
	Method      clip.Method // "" = the model's default (surgery for CS- names and files)
	Modifiers   clip.Modifiers
	Features    surgery.FeatureSurgeryMode
	Slide       bool
	Stride      int
	Threshold   float64
	WriteNpy    bool
	WriteJSON   bool
	SAM         string // SAM checkpoint file or released name ("" = no SAM stage)
	VFM         string // ProxyCLIP's VFM: name or checkpoint ("" = none; -method proxyclip needs one)
	// VFMModel is -vfm loaded once (LoadVFM) by the command, shared by every image.
	VFMModel  surgery.VFM
	Templates []string // nil = the 85 of the reference
	// AutoTemplates is -templates auto: FLOSS picks each label's templates on the images, which
	// the command does before explaining any (ClassTemplates); Experts is -template-experts.
	AutoTemplates  bool
	Experts        int
	ClassTemplates surgery.ClassTemplates // what -templates auto picked (set by the command)
	Presence       float64                // -presence: the gate's threshold (0 = off)
	NoTextCache    bool
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

// Flags are the explain flags registered on a flag set; Resolve reads them once it is parsed.
type Flags struct {
	c                                   Config
	texts                               listFlag
	labels, templates, method, features string
	modifiers                           string
	raw, noFeatures                     bool
}

// Register adds the explain flags to fs; imageUsage describes -image (what the command lists).
func Register(fs *flag.FlagSet, imageUsage string) *Flags {
	f := &Flags{}
	c := &f.c
	fs.StringVar(&c.Image, "image", "", imageUsage)
	fs.Var(&f.texts, "text", "target text (repeatable or comma-separated); \"a+b\" is a combined target")
	fs.StringVar(&f.labels, "labels", "", "label set: comma list or @file (one label per line); default the 59 demo classes")
	c.Ckpt.AddFlags(fs)
	fs.StringVar(&c.TextWeights, "text-weights", "", "checkpoint holding the text tower, for an image-tower-only -weights file")
	fs.StringVar(&c.Out, "out", ".", "output folder")
	fs.IntVar(&c.Size, "size", 0, "model input size, a multiple of the patch size (default the model's, e.g. 224; the demo also uses 512)")
	fs.BoolVar(&c.Single, "single", false, "single-text mode: any text, redundant features from the empty prompt, no label set")
	fs.StringVar(&f.method, "method", "", "image encoder method: "+strings.Join(clip.MethodNames(), ", ")+" (default the model's: surgery for CS- names and files, raw for plain names)")
	fs.StringVar(&f.modifiers, "modifiers", "", "modifiers composed with the method, comma-separated: "+strings.Join(clip.ModifierNames(), ", ")+
		" (also -method naclip+resclip)")
	fs.BoolVar(&f.raw, "raw", false, "original CLIP similarity maps (no surgery), for comparison: same as -method raw")
	fs.StringVar(&f.features, "feature-surgery", "", "feature surgery on top of the method: on, off (default the method's own: "+featureSurgeryDefaults()+")")
	fs.BoolVar(&f.noFeatures, "no-feature-surgery", false, "same as -feature-surgery off")
	fs.BoolVar(&c.Slide, "slide", false, "sliding windows of the model's input size over the image at its own resolution, averaged where they overlap (for large images)")
	fs.IntVar(&c.Stride, "stride", 0, "step of the -slide windows in pixels (default half a window)")
	fs.Float64Var(&c.Threshold, "threshold", surgery.DefaultThreshold, "point threshold t in (0, 1]")
	fs.BoolVar(&c.WriteNpy, "npy", false, "also write each map as <image>_<text>.npy (float32 H×W, 0..1)")
	fs.StringVar(&c.SAM, "sam", "", "SAM checkpoint file or name (sam_vit_b, sam_vit_l, sam_vit_h): also write <image>_<text>_sam.png (with -npy the mask as uint8 .npy)")
	fs.BoolVar(&c.WriteJSON, "json", false, "also write the SAM point prompts as <image>_points.json")
	fs.StringVar(&c.VFM, "vfm", "", "vision foundation model of -method proxyclip: a DINO / DINOv2 name ("+
		strings.Join(registry.DINONames(), ", ")+"), a SAM name (sam_vit_b, ...) or a checkpoint file / Hugging Face folder of either")
	fs.StringVar(&f.templates, "templates", "", cli.TemplatesUsage+`; "auto": each label's templates picked on the images at hand by FLOSS (label-free, among the 80 ImageNet templates)`)
	fs.IntVar(&c.Experts, "template-experts", surgery.DefaultExperts, "with -templates auto: templates kept per label (FLOSS's N)")
	fs.Float64Var(&c.Presence, "presence", 0, "presence gate in [0, 1]: no points (and no -sam mask) for a target whose CLIP probability among the labels is below it (0 = off)")
	fs.BoolVar(&c.NoTextCache, "no-text-cache", false, "do not read or store prompt embeddings in the cache (also CLIPSURGERY_TEXT_CACHE=0)")
	return f
}

// Checkpoint is the checkpoint flags as parsed, for a command that needs nothing else.
func (f *Flags) Checkpoint() cli.Checkpoint { return f.c.Ckpt }

// Resolve checks the parsed flags and returns the configuration (call after fs.Parse).
func (f *Flags) Resolve(fs *flag.FlagSet) (*Config, error) {
	c := f.c
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if c.Image == "" {
		return nil, errors.New("-image is required")
	}
	for _, t := range f.texts {
		if t != "" {
			c.Targets = append(c.Targets, t)
		}
	}
	if len(c.Targets) == 0 {
		return nil, errors.New("-text is required (one or more target texts)")
	}
	if err := c.Ckpt.Check(fs); err != nil {
		return nil, err
	}
	if c.TextWeights != "" && c.Ckpt.Weights == "" {
		return nil, errors.New("-text-weights completes a -weights file; give -weights too")
	}
	// Checked as the float32 that is used: 1e-50 is positive as a float64 but 0 as a float32,
	// which the library would read as "unset" and replace by the default.
	if t := float32(c.Threshold); !(t > 0 && t <= 1) || math.IsNaN(c.Threshold) {
		return nil, fmt.Errorf("-threshold %v: must be in (0, 1] (as a float32: %v)", c.Threshold, t)
	}
	if err := cli.CheckInputSize(fs, c.Size, c.Slide, c.Stride); err != nil {
		return nil, err
	}
	var err error
	if c.Method, c.Modifiers, err = clip.ParseMethodWithModifiers(f.method); err != nil {
		return nil, fmt.Errorf("-method: %v", err)
	}
	if more, err := clip.ParseModifiers(f.modifiers); err != nil {
		return nil, fmt.Errorf("-modifiers: %v", err)
	} else if c.Modifiers, err = clip.ParseModifiers(string(c.Modifiers) + "," + string(more)); err != nil {
		return nil, fmt.Errorf("-modifiers: %v", err)
	}
	if f.raw {
		if c.Method != clip.MethodDefault && c.Method != clip.MethodRaw {
			return nil, fmt.Errorf("-raw means -method raw; it contradicts -method %s", c.Method)
		}
		c.Method = clip.MethodRaw
	}
	if err := checkVFMFlag(c.Method, c.VFM); err != nil {
		return nil, err
	}
	switch f.features {
	case "", "on", "off":
		c.Features = surgery.FeatureSurgeryMode(f.features)
	default:
		return nil, fmt.Errorf("-feature-surgery %q: want on or off", f.features)
	}
	if f.noFeatures {
		if c.Features == surgery.FeatureSurgeryOn {
			return nil, errors.New("-no-feature-surgery contradicts -feature-surgery on")
		}
		c.Features = surgery.FeatureSurgeryOff
	}
	if t := float32(c.Presence); !(t >= 0 && t <= 1) || math.IsNaN(c.Presence) {
		return nil, fmt.Errorf("-presence %v: must be in [0, 1] (0 = no gate)", c.Presence)
	}
	switch {
	case set["templates"] && strings.TrimSpace(f.templates) == "auto":
		if c.Single {
			return nil, errors.New("-templates auto ranks templates over a label set; -single has none")
		}
		if c.Experts < 1 {
			return nil, fmt.Errorf("-template-experts %d: must be at least 1", c.Experts)
		}
		c.AutoTemplates = true
	case set["template-experts"]:
		return nil, errors.New("-template-experts needs -templates auto")
	case set["templates"]:
		if c.Templates, err = cli.ParseTemplates(f.templates); err != nil {
			return nil, err
		}
	}
	if set["labels"] {
		if c.Single {
			return nil, errors.New("-labels has no effect with -single (single-text mode has no label set)")
		}
		if c.Labels, err = parseLabels(f.labels); err != nil {
			return nil, err
		}
	}
	return &c, nil
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

// Options are the surgery options of the command line.
func (c *Config) Options() surgery.Options {
	return surgery.Options{Size: c.Size, Labels: c.Labels, Templates: c.Templates, ClassTemplates: c.ClassTemplates,
		Single: c.Single, Threshold: float32(c.Threshold), Method: c.Method, Modifiers: c.Modifiers, FeatureSurgery: c.Features,
		Slide: c.Slide, Stride: c.Stride, PresenceThreshold: float32(c.Presence), VFM: c.VFMModel}
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
