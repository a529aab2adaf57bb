// Package evalcli is the command line of a dataset evaluation, shared by tools/evaluate and the
// evaluate job of tools/pipeline so that both read the same flags the same way: the dataset, the
// checkpoint, the methods and every metric option, resolved into an evaluate.Config.
package evalcli

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
)

// Config is a parsed evaluation command line.
type Config struct {
	Data, Layout, Split, Classes string
	Benchmark                    string
	Ckpt                         cli.Checkpoint // -model, -weights, -cache, -offline
	Run                          evaluate.Config
	JSONOut, CSVOut              string
	Quiet                        bool
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
	fs.StringVar(&c.Split, "split", "", "split: VOC's ImageSets/Segmentation/<split>.txt (default val), a benchmark's split (default its validation split)")
	fs.StringVar(&c.Classes, "classes", "", "class file: one class per line, names separated by commas (default <data>/classes.txt; VOC: the 21 VOC classes)")
	fs.StringVar(&f.methods, "methods", string(clip.MethodSurgery), "comma-separated methods evaluated side by side: "+strings.Join(clip.MethodNames(), ", "))
	c.Ckpt.AddFlags(fs)
	fs.IntVar(&c.Run.Model.Size, "size", 0, "model input side (default the model's, e.g. 224); the window side with -slide")
	fs.BoolVar(&c.Run.Model.Slide, "slide", false, "sliding windows of -size over each image at its own resolution, averaged where they overlap (mmsegmentation's slide mode, as SCLIP, ClearCLIP, NACLIP evaluate)")
	fs.IntVar(&c.Run.Model.Stride, "stride", 0, "step of the -slide windows in pixels (default half a window)")
	fs.StringVar(&f.templates, "templates", "", cli.TemplatesUsage)
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
	var err error
	if c.Run.Methods, err = evaluate.ParseMethods(f.methods); err != nil {
		return nil, fmt.Errorf("-methods: %w", err)
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["templates"] { // given but empty is an error, as in clipsurgery
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
// Context59, …) sets Run.NoBackground.
func (c *Config) OpenDataset() (*evaluate.Dataset, error) {
	ds, err := evaluate.Open(c.Data, evaluate.DatasetOptions{Layout: evaluate.Layout(c.Layout), Split: c.Split,
		ClassFile: c.Classes, Benchmark: c.Benchmark})
	if err != nil {
		return nil, err
	}
	if b, err := evaluate.LookupBenchmark(ds.Benchmark); err == nil && !b.Background {
		c.Run.NoBackground = true // class 0 is an object
	}
	return ds, nil
}
