// Package evalcli is the command line of a dataset evaluation, shared by tools/evaluate and the
// evaluate job of tools/pipeline so that both read the same flags the same way: the dataset, the
// checkpoint, the methods and every metric option, resolved into an evaluate.Config.
package evalcli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// Config is a parsed evaluation command line.
type Config struct {
	Data, Layout, Split, Classes string
	Benchmark                    string
	// Protocol names a peer's preset (evaluate.ProtocolNames); OpenDataset sets Run.Protocol to
	// its values on the benchmark.
	Protocol string
	// VFM is ProxyCLIP's VFM, name or checkpoint (LoadVFM loads it for Run.Model.VFM).
	VFM             string
	Ckpt            cli.Checkpoint // -model, -weights, -cache, -offline
	Run             evaluate.Config
	JSONOut, CSVOut string
	Quiet           bool
	// AutoTemplates is -templates auto: FLOSS chooses each class's templates on the evaluated
	// images with the one method (Run.Methods[0]) before the evaluation, which the command does.
	AutoTemplates bool
}

// Flags are the evaluation flags registered on a flag set; Resolve reads them once it is parsed.
type Flags struct {
	c                              Config
	methods, thresholds, templates string
}

// Register adds the evaluation flags to fs.
func Register(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	c := &f.c
	fs.StringVar(&c.Data, "data", "", "dataset folder (Pascal VOC layout or images/ + masks/ + classes.txt)")
	fs.StringVar(&c.Layout, "layout", "", "force the layout: voc or generic (default: detected)")
	fs.StringVar(&c.Benchmark, "benchmark", "", "open -data as one of the field's benchmarks: "+strings.Join(evaluate.BenchmarkNames(), ", ")+
		" (mmsegmentation's converted layouts; default: detected when -layout is not given)")
	fs.StringVar(&c.Protocol, "protocol", "", "evaluate a peer's published protocol on the -benchmark: "+strings.Join(evaluate.ProtocolNames(), ", ")+
		" (resize, windows, class file, templates, thresholds, PAMR from its configs; excludes -methods, -classes, -size, -slide, -stride, -templates, -prob-thd, -logit-scale)")
	fs.IntVar(&c.Run.WindowBatch, "window-batch", evaluate.DefaultWindowBatch, "with -protocol: sliding windows of one image per encoder call")
	fs.StringVar(&c.Split, "split", "", "split: VOC's ImageSets/Segmentation/<split>.txt (default val), a benchmark's split (default its validation split)")
	fs.StringVar(&c.Classes, "classes", "", "class file: one class per line, names separated by commas (default <data>/classes.txt; VOC: the 21 VOC classes)")
	fs.StringVar(&f.methods, "methods", string(clip.MethodSurgery), "comma-separated methods evaluated side by side: "+strings.Join(clip.MethodNames(), ", ")+
		"; a method with modifiers joined by + (naclip,naclip+resclip: "+strings.Join(clip.ModifierNames(), ", ")+")")
	c.Ckpt.AddFlags(fs)
	fs.IntVar(&c.Run.Model.Size, "size", 0, "model input side (default the model's, e.g. 224); the window side with -slide")
	fs.BoolVar(&c.Run.Model.Slide, "slide", false, "sliding windows of -size over each image at its own resolution, averaged where they overlap (mmsegmentation's slide mode, as SCLIP, ClearCLIP, NACLIP evaluate)")
	fs.IntVar(&c.Run.Model.Stride, "stride", 0, "step of the -slide windows in pixels (default half a window)")
	fs.StringVar(&c.VFM, "vfm", "", "vision foundation model of proxyclip (among -methods or -protocol proxyclip): a DINO / DINOv2 name (e.g. dinov2-b14), "+
		"a SAM name (sam_vit_b) or a checkpoint; loaded once")
	fs.StringVar(&f.templates, "templates", "", cli.TemplatesUsage+`; "auto": each class's templates chosen on the evaluated images by FLOSS (label-free, among the 80 ImageNet templates; one method)`)
	fs.IntVar(&c.Run.Limit, "limit", 0, "evaluate the first N images only (0 = all)")
	fs.Float64Var(&c.Run.Scoring.ProbThreshold, "prob-thd", 0, "background below this softmax probability (the peers' prob_thd; 0 = plain argmax)")
	fs.Float64Var(&c.Run.Scoring.LogitScale, "logit-scale", evaluate.DefaultLogitScale, "softmax temperature with -prob-thd")
	fs.BoolVar(&c.Run.NoBackground, "no-background", false, "class 0 is an object class, not the background")
	fs.Float64Var(&c.Run.PointingTolerance, "pg-tolerance", evaluate.DefaultPointingTolerance, "pointing game tolerance in pixels")
	fs.StringVar(&f.thresholds, "explain-thresholds", "", "explainability threshold grid, comma-separated (default 0.05,0.10,…,0.95)")
	fs.StringVar(&c.JSONOut, "json", "", "write the full report as JSON to this file")
	fs.StringVar(&c.CSVOut, "csv", "", "write the per-class metrics as CSV to this file")
	fs.BoolVar(&c.Quiet, "quiet", false, "no progress line")
	return f
}

// Resolve checks the parsed flags and returns the configuration (call after fs.Parse).
func (f *Flags) Resolve(fs *flag.FlagSet) (*Config, error) {
	c := f.c
	if c.Data == "" {
		return nil, errors.New("-data is required (see -h)")
	}
	if err := c.Ckpt.Check(fs); err != nil {
		return nil, err
	}
	if err := cli.CheckInputSize(fs, c.Run.Model.Size, c.Run.Model.Slide, c.Run.Model.Stride); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if c.Protocol != "" && !slices.Contains(evaluate.ProtocolNames(), c.Protocol) {
		return nil, fmt.Errorf("-protocol %q: want one of %s", c.Protocol, strings.Join(evaluate.ProtocolNames(), ", "))
	}
	if c.Protocol != "" {
		for _, name := range []string{"methods", "classes", "size", "slide", "stride", "templates", "prob-thd", "logit-scale"} {
			if set[name] {
				return nil, fmt.Errorf("-%s: -protocol %s sets it", name, c.Protocol)
			}
		}
		c.Run.Scoring = evaluate.Scoring{} // the flags' defaults are not the preset's
	} else if set["window-batch"] {
		return nil, errors.New("-window-batch applies to -protocol only")
	}
	methods, err := evaluate.ParseMethods(f.methods)
	if err != nil {
		return nil, fmt.Errorf("-methods: %w", err)
	}
	if c.Protocol == "" {
		c.Run.Methods = methods
	} else {
		methods = []clip.Method{clip.Method(c.Protocol)}
	}
	if err := checkVFM(methods, c.VFM); err != nil {
		return nil, err
	}
	if set["templates"] && strings.TrimSpace(f.templates) == "auto" {
		if len(methods) != 1 {
			return nil, errors.New("-templates auto chooses templates from one method's predictions: give a single -methods")
		}
		c.AutoTemplates = true
	} else if set["templates"] { // given but empty is an error, as in clipsurgery
		if c.Run.Model.Templates, err = cli.ParseTemplates(f.templates); err != nil {
			return nil, err
		}
	}
	if f.thresholds != "" {
		for _, s := range strings.Split(f.thresholds, ",") {
			var v float32
			if _, err := fmt.Sscan(strings.TrimSpace(s), &v); err != nil {
				return nil, fmt.Errorf("-explain-thresholds: %q is not a number", s)
			}
			c.Run.ExplainThresholds = append(c.Run.ExplainThresholds, v)
		}
	}
	if c.Run.PointingTolerance == 0 {
		c.Run.PointingTolerance = 0.5 // distances are 0 or ≥ 1: 0 asks for the peak inside the mask
	}
	return &c, nil
}

// OpenDataset opens -data as the flags say; a benchmark without a background class (VOC20,
// Context59, …) sets Run.NoBackground, and -protocol sets Run.Protocol to the preset's values on
// the dataset's benchmark.
func (c *Config) OpenDataset() (*evaluate.Dataset, error) {
	ds, err := evaluate.Open(c.Data, evaluate.DatasetOptions{Layout: evaluate.Layout(c.Layout), Split: c.Split,
		ClassFile: c.Classes, Benchmark: c.Benchmark})
	if err != nil {
		return nil, err
	}
	if b, err := evaluate.LookupBenchmark(ds.Benchmark); err == nil && !b.Background {
		c.Run.NoBackground = true // class 0 is an object
	}
	if c.Protocol != "" {
		if ds.Benchmark == "" {
			return nil, fmt.Errorf("-protocol %s: %s was not opened as a benchmark (name it with -benchmark)", c.Protocol, c.Data)
		}
		p, err := evaluate.LookupProtocol(c.Protocol, ds.Benchmark)
		if err != nil {
			return nil, err
		}
		c.Run.Protocol = &p
	}
	return ds, nil
}

// LoadVFM loads -vfm, the model of Run.Model.VFM (loaded once and shared: a VFM is safe for
// concurrent use); nil without -vfm.
func (c *Config) LoadVFM(ctx context.Context, stderr io.Writer) (surgery.VFM, error) {
	if c.VFM == "" {
		return nil, nil
	}
	v, err := surgery.LoadVFM(ctx, c.VFM, surgery.VFMLoadOptions{
		Options: registry.Options{CacheDir: c.Ckpt.CacheDir, Offline: c.Ckpt.Offline, Progress: stderr}})
	if err != nil {
		return nil, fmt.Errorf("-vfm: %w", err)
	}
	return v, nil
}

// checkVFM: -vfm is given exactly when a method evaluated reads a VFM (proxyclip among -methods,
// or -protocol proxyclip).
func checkVFM(methods []clip.Method, vfm string) error {
	needsVFM := false
	for _, m := range methods {
		needsVFM = needsVFM || clip.ReadsVFM(string(m)) // with its modifiers too
	}
	switch {
	case needsVFM && vfm == "":
		return errors.New("-methods or -protocol includes proxyclip: give its VFM with -vfm (e.g. dinov2-b14, sam_vit_b or a checkpoint)")
	case !needsVFM && vfm != "":
		return errors.New("-vfm is read by proxyclip only; it is neither among -methods nor the -protocol")
	}
	return nil
}
