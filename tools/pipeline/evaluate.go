package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
	"github.com/clipsurgery/clipsurgery/tools/internal/evalcli"
)

// The evaluate job:
//
//	images (index, ID) ── Reshuffle ── evaluateFn ──────── mergeFn ──────── writeReportFn
//	  from the dataset     spread over   one image → its    Combine:          table, JSON, CSV
//	  listed here          the workers   own Report         exact sums        (atomic writes)
//
// evaluateFn is surgery/evaluate's Evaluator.Image: areas and counts are integers and the score
// contrasts exact sums (Report.Merge), so the combined report is the same bytes whatever the
// bundles and their order, and equals tools/evaluate's on the same input. A runner combines only
// the outputs of committed bundles: a retried bundle counts once.

func init() {
	register.DoFn4x1[context.Context, imageRef, func(partial), func(string), error](&evaluateFn{})
	register.DoFn2x1[context.Context, partial, error](&writeReportFn{})
	register.Combiner1[partial](&mergeFn{})
	register.Emitter1[partial]()
	register.Emitter1[string]()
	register.Function2x0(logSkip)
	beam.RegisterCoder(reflect.TypeOf(partial{}), encodePartial, decodePartial)
}

// imageRef is one dataset image: its position in the dataset's list and its ID, which the worker
// checks against its own listing of the dataset.
type imageRef struct {
	Index int
	ID    string
}

// partial is one image's report, or a merge of several (nil: none yet).
type partial struct{ rep *evaluate.Report }

func encodePartial(p partial) ([]byte, error) {
	if p.rep == nil {
		return nil, nil
	}
	return p.rep.MarshalState()
}

func decodePartial(b []byte) (partial, error) {
	if len(b) == 0 {
		return partial{}, nil
	}
	r := &evaluate.Report{}
	if err := r.UnmarshalState(b); err != nil {
		return partial{}, err
	}
	return partial{r}, nil
}

func runEvaluate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runEvaluateWith(ctx, args, stdout, stderr, nil)
}

// runEvaluateWith is runEvaluate with the per-image DoFn wrapped by wrap (nil: none), for the
// tests that inject failures.
func runEvaluateWith(ctx context.Context, args []string, stdout, stderr io.Writer, wrap func(*evaluateFn) any) error {
	a, err := parseEvaluate(args, stderr, true)
	if err != nil {
		return err
	}
	c, ds, ro, table := a.c, a.ds, a.ro, &a.table
	if err := checkWorkerPaths(ro, map[string]string{"data": c.Data, "weights": c.Ckpt.Weights, "classes": c.Classes,
		"json": c.JSONOut, "csv": c.CSVOut, "table": *table,
		"vfm": vfmPath(c.VFM)}); err != nil {
		return err
	}
	for _, out := range []string{c.JSONOut, c.CSVOut, *table} {
		if out != "" {
			if err := checkOutputFile(ctx, out); err != nil {
				return err
			}
		}
	}
	items := ds.Items
	if c.Run.Limit > 0 && c.Run.Limit < len(items) {
		items = items[:c.Run.Limit]
	}
	w := &writeReportFn{JSON: c.JSONOut, CSV: c.CSVOut, Table: *table}
	if ro.inProcess() {
		// The workers are this process: the model they will use is loaded now, and every option
		// checked against it before the pipeline starts.
		ex, err := evaluateExplainer(ctx, c.Ckpt, stderr)
		if err != nil {
			return err
		}
		if err := evaluateVFM(ctx, c, stderr); err != nil {
			return err
		}
		if _, err := evaluate.NewEvaluator(ex, ds, c.Run); err != nil {
			return err
		}
		if w.Table == "" {
			tmp, err := os.MkdirTemp("", "pipeline-table")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			w.Table = filepath.Join(tmp, "table.txt")
		}
	} else if w.JSON == "" && w.CSV == "" && w.Table == "" {
		return fmt.Errorf("--runner %s: a worker writes the report; give -json, -csv or -table (a path the workers can write)", ro.runner)
	}
	refs := make([]imageRef, len(items))
	for i, it := range items {
		refs[i] = imageRef{Index: i, ID: it.ID}
	}
	initBeam(ro.verbose)
	p, s := beam.NewPipelineWithRoot()
	var fn any = &evaluateFn{Args: a.jobArgs, InProcess: ro.inProcess()}
	if wrap != nil {
		fn = wrap(fn.(*evaluateFn))
	}
	evaluatePipeline(s, refs, fn, w)
	progress.start(stderr, len(refs), !c.Quiet, ro.workers)
	counters, err := execute(ctx, ro, p)
	progress.finish()
	if ro.inProcess() && ctx.Err() == nil { // interrupted: main exits after its grace period
		progress.settle(settleLimit)
	}
	if err != nil {
		return err
	}
	if ro.inProcess() {
		if err := copyFile(ctx, w.Table, stdout); err != nil {
			return err
		}
	}
	fmt.Fprintln(stderr, "pipeline evaluate: "+describeCounters(counters))
	if counters[counterEvaluated] == 0 {
		return fmt.Errorf("%w (%d skipped; the table lists why)", evaluate.ErrNothingEvaluated, counters[counterSkipped])
	}
	return nil
}

// evaluateArgs are the evaluate job's parsed flags and its opened dataset.
type evaluateArgs struct {
	c       *evalcli.Config
	ds      *evaluate.Dataset
	table   string
	ro      *runOptions // the launcher's only
	jobArgs []string    // the launcher's only: the job's own flags, for the workers
}

// parseEvaluate reads the evaluate job's flags (tools/evaluate's and -table) and opens the
// dataset: on the launcher from the command line with Beam's flags, on a worker from the job's
// own flags (evaluateFn.Args).
func parseEvaluate(args []string, stderr io.Writer, launcher bool) (*evaluateArgs, error) {
	fs := flag.NewFlagSet("pipeline evaluate", flag.ContinueOnError)
	ef := evalcli.Register(fs)
	table := fs.String("table", "", "also write the table to this file (the table goes to stdout when the pipeline runs in this process)")
	a := &evaluateArgs{}
	var err error
	a.ro, a.jobArgs, err = parseFlags(fs, args, stderr, "pipeline evaluate -data DIR [-methods surgery,raw] [options] [--runner R …]", launcher)
	if err != nil {
		return nil, err
	}
	if a.c, err = ef.Resolve(fs); err != nil {
		return nil, err
	}
	if a.c.AutoTemplates {
		return nil, refuseAutoTemplates("evaluate", "evaluate")
	}
	a.table = *table
	a.ds, err = a.c.OpenDataset()
	return a, err
}

// evaluatePipeline adds the evaluate job to s: evalFn (an evaluateFn, or a test's wrapper of one)
// on every image, the combine, and w.
func evaluatePipeline(s beam.Scope, refs []imageRef, evalFn any, w *writeReportFn) {
	imgs := beam.Reshuffle(s, beam.CreateList(s, refs))
	parts, skips := beam.ParDo2(s, evalFn, imgs)
	rep := beam.Combine(s, &mergeFn{}, parts)
	beam.ParDo0(s, w, rep)
	beam.ParDo0(s, logSkip, skips)
}

const (
	counterEvaluated = "images_evaluated"
	counterSkipped   = "images_skipped"
)

// evaluateFn evaluates one image with every method. Args are the job's flags, parsed again on the
// worker (the same evalcli code as the command line).
type evaluateFn struct {
	Args      []string
	InProcess bool // the run's progress line and messages are this process's (Prism in-process)

	ev                 *evaluate.Evaluator
	textSeconds        float64 // Setup's encoding of the class names, reported with the next image
	evaluated, skipped beam.Counter
}

// Setup parses the flags, opens the dataset and takes the process's model (loaded once per
// worker), then encodes the class names once (the Explainer keeps them).
func (f *evaluateFn) Setup(ctx context.Context) error {
	a, err := parseEvaluate(f.Args, io.Discard, false)
	if err != nil {
		return err
	}
	c, ds := a.c, a.ds
	ex, err := evaluateExplainer(ctx, c.Ckpt, os.Stderr)
	if err != nil {
		return err
	}
	if err := evaluateVFM(ctx, c, os.Stderr); err != nil {
		return err
	}
	if f.ev, err = evaluate.NewEvaluator(ex, ds, c.Run); err != nil {
		return err
	}
	f.evaluated = beam.NewCounter(counterNS, counterEvaluated)
	f.skipped = beam.NewCounter(counterNS, counterSkipped)
	f.textSeconds, err = f.ev.EncodeTexts()
	return err
}

// ProcessElement emits the image's report, and "ID: reason" when the image is a counted skip.
func (f *evaluateFn) ProcessElement(ctx context.Context, ref imageRef, emit func(partial), skip func(string)) error {
	if f.InProcess {
		defer progress.begin()()
	}
	items := f.ev.Items()
	if ref.Index >= len(items) || items[ref.Index].ID != ref.ID {
		return fmt.Errorf("image %d (%s): this worker lists the dataset differently (is -data the same folder on every worker?)", ref.Index, ref.ID)
	}
	rep, err := f.ev.Image(ctx, ref.Index)
	if err != nil {
		return err
	}
	rep.TextSeconds, f.textSeconds = f.textSeconds, 0
	if rep.SkipCount > 0 {
		f.skipped.Inc(ctx, 1)
		skip(rep.Skips[0].ID + ": " + rep.Skips[0].Reason)
	} else {
		f.evaluated.Inc(ctx, 1)
	}
	if f.InProcess {
		progress.add(rep.SkipCount > 0)
	}
	emit(partial{rep})
	return nil
}

// logSkip reports a skipped image in Beam's log (the table lists the first ones too).
func logSkip(ctx context.Context, s string) {
	log.Warn(ctx, "skipped "+s)
}

// mergeFn combines reports (Report.Merge: exact, so any grouping and order gives one result).
type mergeFn struct{}

func (mergeFn) CreateAccumulator() partial { return partial{} }

func (mergeFn) AddInput(acc, p partial) (partial, error) { return mergeReports(acc, p) }

func (mergeFn) MergeAccumulators(a, b partial) (partial, error) { return mergeReports(a, b) }

func (mergeFn) ExtractOutput(acc partial) partial { return acc }

// mergeReports adds b to a; a report adopted as the accumulator is copied first (an input is not
// the combiner's to change).
func mergeReports(a, b partial) (partial, error) {
	if b.rep == nil {
		return a, nil
	}
	if a.rep == nil {
		enc, err := encodePartial(b)
		if err != nil {
			return a, err
		}
		return decodePartial(enc)
	}
	return a, a.rep.Merge(b.rep)
}

// output is a file of the report and its writer.
type output struct {
	path  string
	write func(io.Writer) error
}

// writeReportFn writes the combined report: the table (always, when a path is given), the JSON
// and the CSV, each atomically, on any Beam filesystem.
type writeReportFn struct {
	JSON, CSV, Table string
}

func (w *writeReportFn) ProcessElement(ctx context.Context, p partial) error {
	if p.rep == nil {
		return errors.New("no image was evaluated")
	}
	rep := p.rep
	rep.Finish()
	outs := []output{{w.Table, rep.WriteTable}}
	if rep.Evaluated > 0 { // as tools/evaluate: the metrics of no image are not written
		outs = append(outs, output{w.JSON, rep.WriteJSON}, output{w.CSV, rep.WriteCSV})
	}
	for _, o := range outs {
		if o.path == "" {
			continue
		}
		fsys, err := filesystem.New(ctx, o.path)
		if err != nil {
			return err
		}
		err = writeAtomic(ctx, fsys, o.path, o.write)
		fsys.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// copyFile copies a file of any Beam filesystem to w.
func copyFile(ctx context.Context, path string, w io.Writer) error {
	data, err := readAll(ctx, path)
	if err != nil {
		return fmt.Errorf("reading the report %s: %w", path, err)
	}
	_, err = w.Write(data)
	return err
}
