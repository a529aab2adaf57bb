package nbutil

import (
	"encoding/gob"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
)

// The evaluation notebook's helpers: which dataset to use, keeping one run between cells (each
// GoNB cell is a new process), and drawing label maps and per-class bars.

// EnvDataset is the dataset folder evaluation.ipynb evaluates (Pascal VOC or generic layout);
// unset = a small synthetic dataset written to a temporary folder.
const EnvDataset = "CLIPSURGERY_DATASET"

// EnvEvalLimit caps the images evaluation.ipynb evaluates (default: all).
const EnvEvalLimit = "CLIPSURGERY_EVAL_LIMIT"

// EnvEvalSlide turns on sliding-window inference in evaluation.ipynb ("1" or "true": windows of
// the model's input side at each image's resolution, as mmsegmentation's slide mode; unset or
// "0": each image resized whole, the default).
const EnvEvalSlide = "CLIPSURGERY_EVAL_SLIDE"

// EnvEvalStride is the sliding windows' step in pixels (default half a window); only with
// EnvEvalSlide on.
const EnvEvalStride = "CLIPSURGERY_EVAL_STRIDE"

// EnvEvalBenchmark opens the dataset of evaluation.ipynb as one of the eight benchmarks
// (evaluate.BenchmarkNames, e.g. "voc21"; unset: the layout is detected as the evaluate command
// does without -benchmark).
const EnvEvalBenchmark = "CLIPSURGERY_EVAL_BENCHMARK"

// EnvEvalProtocol evaluates a peer's published protocol instead of the method list
// (evaluate.ProtocolNames: sclip, clearclip, naclip, surgery) on the benchmark of
// $CLIPSURGERY_EVAL_BENCHMARK; unset, the default, compares the methods.
const EnvEvalProtocol = "CLIPSURGERY_EVAL_PROTOCOL"

// EvalDatasetOptions are the options evaluation.ipynb opens its dataset with
// ($CLIPSURGERY_EVAL_BENCHMARK).
func EvalDatasetOptions() evaluate.DatasetOptions {
	return evaluate.DatasetOptions{Benchmark: os.Getenv(EnvEvalBenchmark)}
}

// EvalProtocol is the preset of $CLIPSURGERY_EVAL_PROTOCOL on the dataset's benchmark (nil when
// unset). The sliding-window variables are the preset's business and refused alongside it.
func EvalProtocol(ds *evaluate.Dataset) (*evaluate.Protocol, error) {
	name := os.Getenv(EnvEvalProtocol)
	if name == "" {
		return nil, nil
	}
	if os.Getenv(EnvEvalSlide) != "" || os.Getenv(EnvEvalStride) != "" {
		return nil, fmt.Errorf("nbutil: $%s sets the windows itself: unset $%s and $%s", EnvEvalProtocol, EnvEvalSlide, EnvEvalStride)
	}
	if ds.Benchmark == "" {
		return nil, fmt.Errorf("nbutil: $%s=%s needs the dataset opened as a benchmark: set $%s", EnvEvalProtocol, name, EnvEvalBenchmark)
	}
	p, err := evaluate.LookupProtocol(name, ds.Benchmark)
	if err != nil {
		return nil, fmt.Errorf("nbutil: $%s: %w", EnvEvalProtocol, err)
	}
	return &p, nil
}

// EvalModelOptions are the evaluation's model options from $CLIPSURGERY_EVAL_SLIDE and
// $CLIPSURGERY_EVAL_STRIDE (unset: the whole image resized to the model's side). A value that
// does not parse, or a stride without sliding windows, is an error naming the variable.
func EvalModelOptions() (evaluate.ModelOptions, error) {
	var mo evaluate.ModelOptions
	if v := os.Getenv(EnvEvalSlide); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return mo, fmt.Errorf("nbutil: $%s=%q: want 1 or 0", EnvEvalSlide, v)
		}
		mo.Slide = on
	}
	if v := os.Getenv(EnvEvalStride); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case err != nil || n <= 0:
			return mo, fmt.Errorf("nbutil: $%s=%q: want a positive number of pixels", EnvEvalStride, v)
		case !mo.Slide:
			return mo, fmt.Errorf("nbutil: $%s needs $%s=1", EnvEvalStride, EnvEvalSlide)
		}
		mo.Stride = n
	}
	return mo, nil
}

// EvalDataset returns $CLIPSURGERY_DATASET, or else writes (once) and returns a synthetic dataset
// of n images in the VOC layout under the temporary folder.
func EvalDataset(n int) (dir string, synthetic bool, err error) {
	if d := os.Getenv(EnvDataset); d != "" {
		return d, false, nil
	}
	dir = filepath.Join(os.TempDir(), fmt.Sprintf("clipsurgery-synthetic-voc-%d", n))
	if _, err := os.Stat(filepath.Join(dir, "classes.txt")); err == nil {
		return dir, true, nil
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "clipsurgery-synthetic-*")
	if err != nil {
		return "", true, err
	}
	if err := evaluate.WriteSynthetic(tmp, evaluate.LayoutVOC, n); err != nil {
		os.RemoveAll(tmp)
		return "", true, err
	}
	if err := os.Rename(tmp, dir); err != nil { // another process won the race: use its copy
		os.RemoveAll(tmp)
	}
	return dir, true, nil
}

// EvalExample is one evaluated image kept for display.
type EvalExample struct {
	Item  evaluate.Item
	Label *evaluate.Label
	Preds []*evaluate.Prediction
}

// EvalRun is what the evaluation cell hands to the display cells.
type EvalRun struct {
	Report   *evaluate.Report
	Examples []EvalExample
}

// EvalRunPath is where SaveEvalRun keeps the last run.
func EvalRunPath() string { return filepath.Join(os.TempDir(), "clipsurgery-evaluation-run.gob") }

// SaveEvalRun stores a run for the next cells (atomically: a reader sees the old run or the new).
func SaveEvalRun(r *EvalRun) error {
	f, err := os.CreateTemp(os.TempDir(), "clipsurgery-evaluation-*.gob")
	if err != nil {
		return err
	}
	err = gob.NewEncoder(f).Encode(r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), EvalRunPath())
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// LoadEvalRun reads the run the evaluation cell stored.
func LoadEvalRun() (*EvalRun, error) {
	f, err := os.Open(EvalRunPath())
	if err != nil {
		return nil, fmt.Errorf("nbutil: no evaluation run stored (run the evaluation cell first): %w", err)
	}
	defer f.Close()
	var r EvalRun
	if err := gob.NewDecoder(f).Decode(&r); err != nil {
		return nil, fmt.Errorf("nbutil: %s: %w", EvalRunPath(), err)
	}
	return &r, nil
}

// LabelImage paints class indices with Pascal VOC's colour map (IgnoreIndex in white).
func LabelImage(pix []uint8, w, h int) (*image.RGBA, error) {
	if w <= 0 || h <= 0 || len(pix) != w*h {
		return nil, fmt.Errorf("nbutil: %d labels for a %d×%d map", len(pix), w, h)
	}
	pal := evaluate.VOCPalette()
	pal[evaluate.IgnoreIndex] = color.RGBA{255, 255, 255, 255}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for i, v := range pix {
		r, g, b, _ := pal[v].RGBA()
		out.Pix[4*i], out.Pix[4*i+1], out.Pix[4*i+2], out.Pix[4*i+3] = uint8(r>>8), uint8(g>>8), uint8(b>>8), 255
	}
	return out, nil
}

// ClassBars are one bar per (class, method) of a per-class metric, in percent; undefined values
// (NaN: a class never labelled) are left out.
func ClassBars(rep *evaluate.Report, metric func(m *evaluate.MethodReport) []float64) []Bar {
	var bars []Bar
	for c, cl := range rep.Classes {
		for _, m := range rep.Methods {
			v := metric(m)[c]
			if math.IsNaN(v) {
				continue
			}
			bars = append(bars, Bar{Label: fmt.Sprintf("%s · %s", cl.Name(), m.Method), Value: 100 * v})
		}
	}
	return bars
}
