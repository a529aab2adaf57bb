package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
	"github.com/clipsurgery/clipsurgery/tools/internal/explaincli"
)

// The explain job:
//
//	images (path, name stem) ── Reshuffle ── explainFn
//	  listed here: a folder,     spread over   explain one image, write its files
//	  a glob or a list file      the workers   (explaincli.ExplainImage through a Beam
//	                                           filesystem sink: temp + rename)
//
// Every output has a deterministic name (image stem and target, as tools/clipsurgery names
// them) and the same bytes on every attempt, so a retried bundle rewrites identical files.

func init() {
	register.DoFn2x1[context.Context, imageJob, error](&explainFn{})
}

// imageJob is one image to explain: its path (any Beam filesystem) and its outputs' name stem.
type imageJob struct {
	Path, Base string
}

const imageUsage = "images: a file, a folder, a glob ('photos/*.jpg', 'gs://bucket/x/*.png') or @LIST (a file naming one image a line), on any Beam filesystem"

func runExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runExplainWith(ctx, args, stdout, stderr, nil)
}

// runExplainWith is runExplain with the per-image DoFn wrapped by wrap (nil: none), for the tests
// that inject failures.
func runExplainWith(ctx context.Context, args []string, stdout, stderr io.Writer, wrap func(*explainFn) any) error {
	c, ro, jobArgs, err := parseExplain(args, stderr, true)
	if err != nil {
		return err
	}
	if err := checkWorkerPaths(ro, map[string]string{"image": c.Image, "out": c.Out, "weights": c.Ckpt.Weights,
		"text-weights": c.TextWeights, "vfm": vfmPath(c.VFM)}); err != nil {
		return err
	}
	if err := surgery.CheckTargets(c.Targets, c.Options()); err != nil {
		return err
	}
	images, err := listInputs(ctx, c.Image)
	if err != nil {
		return err
	}
	bases := explaincli.OutputBases(images)
	if _, err := explaincli.OutputNames(c, images, bases, c.Out); err != nil {
		return err
	}
	if err := checkOutputFolder(ctx, c.Out); err != nil {
		return err
	}
	if ro.inProcess() {
		// The workers are this process: load the models now and check the options against them.
		ex, err := explainExplainer(ctx, c, stderr)
		if err != nil {
			return err
		}
		if err := explainVFM(ctx, c, stderr); err != nil {
			return err
		}
		if err := ex.CheckOptions(c.Options()); err != nil {
			return err
		}
		if _, err := samPredictor(ctx, c, stderr); err != nil {
			return err
		}
	}
	jobs := make([]imageJob, len(images))
	for i, p := range images {
		jobs[i] = imageJob{Path: p, Base: bases[i]}
	}
	initBeam(ro.verbose)
	p, s := beam.NewPipelineWithRoot()
	var fn any = &explainFn{Args: jobArgs, InProcess: ro.inProcess()}
	if wrap != nil {
		fn = wrap(fn.(*explainFn))
	}
	explainPipeline(s, jobs, fn)
	progress.start(stderr, len(jobs), len(jobs) > 1, ro.workers)
	counters, err := execute(ctx, ro, p)
	progress.finish()
	if ro.inProcess() && ctx.Err() == nil { // interrupted: main exits after its grace period
		progress.settle(settleLimit)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "pipeline explain: %s; files in %s\n", describeCounters(counters), c.Out)
	if n := counters[counterFailed]; n > 0 {
		return fmt.Errorf("%d of %d images failed (their errors are above, or in the workers' logs)", n, len(jobs))
	}
	return nil
}

// parseExplain reads the explain job's flags (tools/clipsurgery's) and the backend
// (GOMLX_BACKEND): on the launcher from the command line with Beam's flags, returning the runner
// options and the job's own flags for the workers; on a worker from those (explainFn.Args).
func parseExplain(args []string, stderr io.Writer, launcher bool) (*explaincli.Config, *runOptions, []string, error) {
	fs := flag.NewFlagSet("pipeline explain", flag.ContinueOnError)
	xf := explaincli.Register(fs, imageUsage)
	ro, jobArgs, err := parseFlags(fs, args, stderr, "pipeline explain -image FILE|DIR|GLOB|@LIST -text TEXT[,TEXT...] [options] [--runner R …]", launcher)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := xf.Resolve(fs)
	if err != nil {
		return nil, nil, nil, err
	}
	if c.AutoTemplates {
		return nil, nil, nil, refuseAutoTemplates("explain", "clipsurgery")
	}
	if c.Backend, err = modelkit.BackendFromEnv(); err != nil {
		return nil, nil, nil, err
	}
	return c, ro, jobArgs, nil
}

// explainPipeline adds the explain job to s: fn (an explainFn, or a test's wrapper of one) on
// every image.
func explainPipeline(s beam.Scope, jobs []imageJob, fn any) {
	beam.ParDo0(s, fn, beam.Reshuffle(s, beam.CreateList(s, jobs)))
}

const (
	counterExplained = "images_explained"
	counterFailed    = "images_failed"
)

// explainFn explains one image and writes its files. Args are the job's flags, parsed again on
// the worker (explaincli, as on the command line).
type explainFn struct {
	Args      []string
	InProcess bool // the run's progress line and messages are this process's (Prism in-process)

	cfg               *explaincli.Config
	ex                *surgery.Explainer
	pred              *sam.Predictor
	sink              beamSink
	explained, failed beam.Counter
}

// Setup parses the flags and takes the process's models (loaded once per worker; a SAM predictor
// of this instance's own) and the output filesystem.
func (f *explainFn) Setup(ctx context.Context) error {
	c, _, _, err := parseExplain(f.Args, io.Discard, false)
	if err != nil {
		return err
	}
	if f.ex, err = explainExplainer(ctx, c, os.Stderr); err != nil {
		return err
	}
	if f.pred, err = samPredictor(ctx, c, os.Stderr); err != nil {
		return err
	}
	if err := explainVFM(ctx, c, os.Stderr); err != nil {
		return err
	}
	fsys, err := filesystem.New(ctx, c.Out)
	if err != nil {
		return err
	}
	f.cfg, f.sink = c, beamSink{fsys: fsys, dir: c.Out}
	f.explained = beam.NewCounter(counterNS, counterExplained)
	f.failed = beam.NewCounter(counterNS, counterFailed)
	return nil
}

// ProcessElement explains the image; a bad image is a counted failure with its name in the log,
// not a failed bundle (tools/clipsurgery goes on with the other images of a folder too).
func (f *explainFn) ProcessElement(ctx context.Context, job imageJob) error {
	if f.InProcess {
		defer progress.begin()()
	}
	pix, err := readInput(ctx, job.Path)
	if err == nil {
		sink := f.sink
		sink.ctx = ctx
		err = explaincli.ExplainImage(ctx, f.ex, f.pred, f.cfg, job.Path, pix, job.Base, sink)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		f.failed.Inc(ctx, 1)
		progress.message(ctx, f.InProcess, cli.OneLine(err.Error()))
	} else {
		f.explained.Inc(ctx, 1)
	}
	if f.InProcess {
		progress.add(err != nil)
	}
	return nil
}

// Teardown closes the output filesystem.
func (f *explainFn) Teardown() error {
	if f.sink.fsys != nil {
		return f.sink.fsys.Close()
	}
	return nil
}

// readInput reads an image: a local file as tools/clipsurgery reads it (regular files only,
// bounded), any other filesystem's through Beam (bounded the same).
func readInput(ctx context.Context, path string) (*imageprep.Pixels, error) {
	if !hasScheme(path) {
		return explaincli.ReadImage(path)
	}
	fsys, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	r, err := fsys.OpenRead(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer r.Close()
	return explaincli.DecodeImage(path, r)
}

// listInputs resolves -image: @LIST names one image a line (blank lines and # comments skipped);
// a glob lists its matches that are images; a local file or folder is what tools/clipsurgery
// reads; a path on another filesystem is a folder when it has images under it, else one file.
func listInputs(ctx context.Context, spec string) ([]string, error) {
	var images []string
	switch {
	case strings.HasPrefix(spec, "@"):
		data, err := readAll(ctx, spec[1:])
		if err != nil {
			return nil, fmt.Errorf("-image %s: %w", spec, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
				images = append(images, l)
			}
		}
		if len(images) == 0 {
			return nil, fmt.Errorf("-image %s: the list names no image", spec)
		}
		return images, nil
	case strings.ContainsAny(spec, "*?["):
		return listGlob(ctx, spec, spec)
	case !hasScheme(spec):
		images, skipped, err := explaincli.ListImages(spec)
		for _, s := range skipped {
			fmt.Fprintf(os.Stderr, "pipeline explain: skipping %v\n", s)
		}
		return images, err
	}
	if images, err := listGlob(ctx, joinPath(spec, "*"), spec); err == nil {
		return images, nil
	}
	return []string{spec}, nil
}

// listGlob lists the images among glob's matches, sorted.
func listGlob(ctx context.Context, glob, spec string) ([]string, error) {
	fsys, err := filesystem.New(ctx, glob)
	if err != nil {
		return nil, fmt.Errorf("-image %s: %v", spec, cli.OneLine(err.Error()))
	}
	defer fsys.Close()
	matches, err := fsys.List(ctx, glob)
	if err != nil {
		return nil, fmt.Errorf("-image %s: %w", spec, err)
	}
	var images []string
	for _, m := range matches {
		if explaincli.IsImageName(m) {
			images = append(images, m)
		}
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("-image %s: no image files match", spec)
	}
	sort.Strings(images)
	return images, nil
}

// readAll reads a whole (small) file of any Beam filesystem.
func readAll(ctx context.Context, path string) ([]byte, error) {
	fsys, err := filesystem.New(ctx, path)
	if err != nil {
		return nil, err
	}
	defer fsys.Close()
	return filesystem.Read(ctx, fsys, path)
}
