// Command evaluate measures training-free CLIP methods on a segmentation dataset: open-vocabulary
// semantic segmentation (mIoU, mAcc, aAcc as mmsegmentation), CLIP Surgery's explainability mIoU
// and mSC, and the pointing game — several methods side by side on the same images and the same
// cached text features (package surgery/evaluate defines every metric).
//
//	evaluate -data VOCdevkit/VOC2012 -methods surgery,raw              # VOC layout, "val" split
//	evaluate -data mydata -weights ViT-B-16.pt -json out.json -csv out.csv -limit 100
//	evaluate -data VOC2012 -classes cls_voc21.txt -prob-thd 0.1       # peers' background handling
//	evaluate -data VOC2012 -methods sclip -slide -size 224 -stride 112  # peers' sliding windows
//	evaluate -data VOC2012 -methods naclip -templates auto           # FLOSS's templates per class
//	evaluate -data VOCdevkit/VOC2012 -benchmark voc21 -protocol sclip   # SCLIP's published protocol
//
// The table goes to stdout, progress with ETA to stderr. Bad images are skipped, counted and
// listed at the end; every other bad input ends the command with a one-line error. Ctrl-C stops
// after the current image, prints the partial table and writes no file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/safefile"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
	"github.com/clipsurgery/clipsurgery/weights/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "evaluate: interrupted; no file written")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "evaluate: "+strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " "))
		os.Exit(1)
	}
}

type config struct {
	data, layout, split, classes string
	benchmark, protocol          string
	ckpt                         cli.Checkpoint // -model, -weights, -cache, -offline
	methods                      []clip.Method
	run                          evaluate.Config
	jsonOut, csvOut              string
	quiet                        bool
	autoTemplates                bool   // -templates auto
	vfm                          string // -vfm: ProxyCLIP's VFM, name or checkpoint
}

func parseArgs(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	var methods string
	var thresholds, templates string
	fs := flag.NewFlagSet("evaluate", flag.ContinueOnError)
	fs.StringVar(&c.data, "data", "", "dataset folder (Pascal VOC layout or images/ + masks/ + classes.txt)")
	fs.StringVar(&c.layout, "layout", "", "force the layout: voc or generic (default: detected)")
	fs.StringVar(&c.benchmark, "benchmark", "", "open -data as one of the field's benchmarks: "+strings.Join(evaluate.BenchmarkNames(), ", ")+
		" (mmsegmentation's converted layouts; default: detected when -layout is not given)")
	fs.StringVar(&c.protocol, "protocol", "", "evaluate a peer's published protocol on the -benchmark: "+strings.Join(evaluate.ProtocolNames(), ", ")+
		" (resize, windows, class file, templates, thresholds, PAMR from its configs; excludes -methods, -classes, -size, -slide, -stride, -templates, -prob-thd, -logit-scale)")
	fs.IntVar(&c.run.WindowBatch, "window-batch", evaluate.DefaultWindowBatch, "with -protocol: sliding windows of one image per encoder call")
	fs.StringVar(&c.split, "split", "", "split: VOC's ImageSets/Segmentation/<split>.txt (default val), a benchmark's split (default its validation split)")
	fs.StringVar(&c.classes, "classes", "", "class file: one class per line, names separated by commas (default <data>/classes.txt; VOC: the 21 VOC classes)")
	fs.StringVar(&methods, "methods", string(clip.MethodSurgery), "comma-separated methods evaluated side by side: "+strings.Join(clip.MethodNames(), ", ")+
		"; a method with modifiers joined by + (naclip,naclip+resclip: "+strings.Join(clip.ModifierNames(), ", ")+")")
	c.ckpt.AddFlags(fs)
	fs.IntVar(&c.run.Model.Size, "size", 0, "model input side (default the model's, e.g. 224); the window side with -slide")
	fs.BoolVar(&c.run.Model.Slide, "slide", false, "sliding windows of -size over each image at its own resolution, averaged where they overlap (mmsegmentation's slide mode, as SCLIP, ClearCLIP, NACLIP evaluate)")
	fs.IntVar(&c.run.Model.Stride, "stride", 0, "step of the -slide windows in pixels (default half a window)")
	fs.StringVar(&c.vfm, "vfm", "", "vision foundation model of proxyclip (among -methods or -protocol proxyclip): a DINO / DINOv2 name (e.g. dinov2-b14), "+
		"a SAM name (sam_vit_b) or a checkpoint; loaded once")
	fs.StringVar(&templates, "templates", "", cli.TemplatesUsage+`; "auto": each class's templates chosen on the evaluated images by FLOSS (label-free, among the 80 ImageNet templates; one method)`)
	fs.IntVar(&c.run.Limit, "limit", 0, "evaluate the first N images only (0 = all)")
	fs.Float64Var(&c.run.Scoring.ProbThreshold, "prob-thd", 0, "background below this softmax probability (the peers' prob_thd; 0 = plain argmax)")
	fs.Float64Var(&c.run.Scoring.LogitScale, "logit-scale", evaluate.DefaultLogitScale, "softmax temperature with -prob-thd")
	fs.BoolVar(&c.run.NoBackground, "no-background", false, "class 0 is an object class, not the background")
	fs.Float64Var(&c.run.PointingTolerance, "pg-tolerance", evaluate.DefaultPointingTolerance, "pointing game tolerance in pixels")
	fs.StringVar(&thresholds, "explain-thresholds", "", "explainability threshold grid, comma-separated (default 0.05,0.10,…,0.95)")
	fs.StringVar(&c.jsonOut, "json", "", "write the full report as JSON to this file")
	fs.StringVar(&c.csvOut, "csv", "", "write the per-class metrics as CSV to this file")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress line")
	if err := cli.Parse(fs, args, stderr, "evaluate -data DIR [-methods surgery,raw] [options]"); err != nil {
		return nil, err
	}
	if c.data == "" {
		return nil, errors.New("-data is required (see -h)")
	}
	if err := c.ckpt.Check(fs); err != nil {
		return nil, err
	}
	if err := cli.CheckInputSize(fs, c.run.Model.Size, c.run.Model.Slide, c.run.Model.Stride); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.protocol != "" && !slices.Contains(evaluate.ProtocolNames(), c.protocol) {
		return nil, fmt.Errorf("-protocol %q: want one of %s", c.protocol, strings.Join(evaluate.ProtocolNames(), ", "))
	}
	if c.protocol != "" {
		for _, name := range []string{"methods", "classes", "size", "slide", "stride", "templates", "prob-thd", "logit-scale"} {
			if set[name] {
				return nil, fmt.Errorf("-%s: -protocol %s sets it", name, c.protocol)
			}
		}
		c.run.Scoring = evaluate.Scoring{} // the flags' defaults are not the preset's
	} else if set["window-batch"] {
		return nil, errors.New("-window-batch applies to -protocol only")
	}
	var err error
	if c.methods, err = evaluate.ParseMethods(methods); err != nil {
		return nil, fmt.Errorf("-methods: %w", err)
	}
	if c.protocol == "" {
		c.run.Methods = c.methods
	}
	if err := c.checkVFM(); err != nil {
		return nil, err
	}
	if set["templates"] && strings.TrimSpace(templates) == "auto" {
		if len(c.methods) != 1 {
			return nil, errors.New("-templates auto chooses templates from one method's predictions: give a single -methods")
		}
		c.autoTemplates = true
	} else if set["templates"] { // given but empty is an error, as in clipsurgery
		if c.run.Model.Templates, err = cli.ParseTemplates(templates); err != nil {
			return nil, err
		}
	}
	if thresholds != "" {
		for _, s := range strings.Split(thresholds, ",") {
			var v float32
			if _, err := fmt.Sscan(strings.TrimSpace(s), &v); err != nil {
				return nil, fmt.Errorf("-explain-thresholds: %q is not a number", s)
			}
			c.run.ExplainThresholds = append(c.run.ExplainThresholds, v)
		}
	}
	if c.run.PointingTolerance == 0 {
		c.run.PointingTolerance = 0.5 // distances are 0 or ≥ 1: 0 asks for the peak inside the mask
	}
	return c, nil
}

// run is the whole command, callable in-process by the tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseArgs(args, stderr)
	if err != nil {
		return err
	}
	ds, err := evaluate.Open(c.data, evaluate.DatasetOptions{Layout: evaluate.Layout(c.layout), Split: c.split,
		ClassFile: c.classes, Benchmark: c.benchmark})
	if err != nil {
		return err
	}
	if b, err := evaluate.LookupBenchmark(ds.Benchmark); err == nil && !b.Background {
		c.run.NoBackground = true // VOC20, Context59, …: class 0 is an object
	}
	if c.protocol != "" {
		if ds.Benchmark == "" {
			return fmt.Errorf("-protocol %s: %s was not opened as a benchmark (name it with -benchmark)", c.protocol, c.data)
		}
		p, err := evaluate.LookupProtocol(c.protocol, ds.Benchmark)
		if err != nil {
			return err
		}
		c.run.Protocol = &p
	}
	for _, out := range []string{c.jsonOut, c.csvOut} { // fail before hours of work, not after
		if out != "" {
			if st, err := os.Stat(filepath.Dir(out)); err != nil || !st.IsDir() {
				return fmt.Errorf("output %s: folder %s does not exist", out, filepath.Dir(out))
			}
		}
	}
	m, err := c.ckpt.Load(ctx, clip.LoadOptions{Progress: stderr})
	if err != nil {
		return err
	}
	ex, err := surgery.NewExplainer(m)
	if err != nil {
		return err
	}
	if c.vfm != "" {
		if c.run.Model.VFM, err = surgery.LoadVFM(ctx, c.vfm, surgery.VFMLoadOptions{
			Options: registry.Options{CacheDir: c.ckpt.CacheDir, Offline: c.ckpt.Offline, Progress: stderr}}); err != nil {
			return fmt.Errorf("-vfm: %w", err)
		}
	}
	if !c.quiet {
		c.run.Progress = stderr
	}
	if c.autoTemplates {
		if err := selectTemplates(ctx, ex, ds, c, c.run.Progress); err != nil {
			return err
		}
	}
	rep, err := evaluate.Run(ctx, ex, ds, c.run)
	if rep != nil && (err == nil || rep.Interrupted) {
		if terr := rep.WriteTable(stdout); terr != nil {
			return terr
		}
	}
	if err != nil {
		return err
	}
	if c.jsonOut != "" {
		if err := writeAtomic(c.jsonOut, rep.WriteJSON); err != nil {
			return err
		}
	}
	if c.csvOut != "" {
		if err := writeAtomic(c.csvOut, rep.WriteCSV); err != nil {
			return err
		}
	}
	return nil
}

// writeAtomic writes a file through a temporary file in the same folder, so that a failure never
// leaves half a file.
func writeAtomic(path string, write func(io.Writer) error) error {
	if err := safefile.WriteAtomic(path, write); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// checkVFM: -vfm is given exactly when a method evaluated reads a VFM (proxyclip among -methods,
// or -protocol proxyclip).
func (c *config) checkVFM() error {
	methods := c.methods
	if c.protocol != "" {
		methods = []clip.Method{clip.Method(c.protocol)}
	}
	needsVFM := false
	for _, m := range methods {
		base, _, _ := strings.Cut(string(m), clip.ModifierSeparator) // proxyclip+resclip reads one too
		if spec, err := clip.LookupMethod(base); err == nil && spec.VFM {
			needsVFM = true
		}
	}
	switch {
	case needsVFM && c.vfm == "":
		return errors.New("-methods or -protocol includes proxyclip: give its VFM with -vfm (e.g. dinov2-b14, sam_vit_b or a checkpoint)")
	case !needsVFM && c.vfm != "":
		return errors.New("-vfm is read by proxyclip only; it is neither among -methods nor the -protocol")
	}
	return nil
}
