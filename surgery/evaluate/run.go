package evaluate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// Config are the inputs of one evaluation besides the model and the dataset. The zero value
// evaluates CLIP Surgery at the model's native size on every image, with plain argmax scoring,
// class 0 as the background, the 15 px pointing game and the default threshold grid.
type Config struct {
	Methods []clip.Method // nil = {surgery}; several share the Explainer's text features
	Model   ModelOptions
	Scoring Scoring
	// Limit evaluates the first Limit images only (0 = all).
	Limit int
	// NoBackground says the dataset has no background class; otherwise class 0 is the background:
	// it is scored like any class in the segmentation metrics but is not an object for the
	// explainability metrics and the pointing game.
	NoBackground bool
	// PointingTolerance is the pointing game's tolerance in pixels (0 = DefaultPointingTolerance;
	// distances are 0 or ≥ 1, so 0.5 asks for the peak inside the mask).
	PointingTolerance float64
	// ExplainThresholds is the explainability mIoU's threshold grid (nil = the default).
	ExplainThresholds []float32
	// Progress receives a progress line with the ETA after each image (nil = none).
	Progress io.Writer
	// Protocol, when set, evaluates a peer's preset (LookupProtocol) instead of Methods, Model and
	// Scoring, which must then be left zero (but Model.VFM, the VFM of ProxyCLIP's preset): every
	// image through PredictProtocolWithVFM with the peer's class file, on a dataset opened as the
	// preset's benchmark.
	Protocol *Protocol
	// WindowBatch is how many sliding windows of an image go through one encoder call with a
	// Protocol (0 = DefaultWindowBatch).
	WindowBatch int
	// OnImage, when set, is called with each evaluated image's predictions (one per method, in
	// Methods order) and its label — e.g. to keep a few examples; nothing is kept otherwise.
	OnImage func(item Item, label *Label, preds []*Prediction)
}

// MaxSkipReasons bounds the skip reasons a Report keeps (all skips are counted).
const MaxSkipReasons = 100

// Skip is an image left out of the metrics, and why.
type Skip struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
	index  int    // the item's position in the dataset: Merge keeps the first MaxSkipReasons
}

// MethodReport is one method's results over the evaluated images.
type MethodReport struct {
	Method          clip.Method
	Areas           *Confusion // per-class pixel areas
	Seg             SegMetrics
	Explain         ExplainMetrics
	Pointing        PointingGame
	Seconds         float64 // model and metric time of this method
	ImagesPerSecond float64
	explain         *Explainability
}

// Report is an evaluation's result.
type Report struct {
	Dataset string
	Layout  Layout
	// Protocol is the peer's preset the images were evaluated with (nil = none).
	Protocol *Protocol
	// Slide says the images were scored with sliding windows of side Size moved by Stride pixels;
	// otherwise each image was resized whole to Size × Size. Size and Stride are the values used
	// (defaults resolved), 0 when no image was evaluated.
	Slide        bool
	Size, Stride int
	Classes      []Class
	Listed       int // images in the dataset (after Limit)
	Evaluated    int
	SkipCount    int
	Skips        []Skip  // the first MaxSkipReasons
	Interrupted  bool    // the context ended before the last image: the metrics cover Evaluated images
	Seconds      float64 // the image loop
	TextSeconds  float64 // encoding the class names (once for all methods)
	Methods      []*MethodReport
}

// errInternal: a step that cannot fail failed after some areas were added; Run stops rather than
// report metrics it cannot vouch for.
var errInternal = errors.New("evaluate: internal error")

// ErrNothingEvaluated: every image was skipped.
var ErrNothingEvaluated = errors.New("evaluate: no image could be evaluated")

// Run evaluates the methods on the dataset, one image at a time: only areas and counts are kept,
// so memory does not grow with the dataset. A bad image or mask is skipped and counted (Report.
// Skips); an image is skipped for all methods or none, so the methods are compared on the same
// images. When ctx ends, Run stops after the current image and returns the partial report with
// ctx's error.
func Run(ctx context.Context, ex *surgery.Explainer, ds *Dataset, cfg Config) (*Report, error) {
	ev, err := NewEvaluator(ex, ds, cfg)
	if err != nil {
		return nil, err
	}
	rep, err := ev.newReport(len(ev.items))
	if err != nil {
		return nil, err
	}
	// Encode the class names once up front: every method and image then finds them in the
	// Explainer's cache, and the per-method throughput excludes them.
	if rep.TextSeconds, err = ev.EncodeTexts(); err != nil {
		return nil, err
	}
	start := time.Now()
	prog := NewProgress(cfg.Progress, len(ev.items))
	for i, it := range ev.items {
		if ctx.Err() != nil {
			rep.Interrupted = true
			break
		}
		err := evaluateItem(ctx, ex, ds, it, ev.methods, ev.classes, cfg, rep)
		if errors.Is(err, errInternal) {
			return nil, fmt.Errorf("%s: %w", it.ID, err)
		} else if err != nil && ctx.Err() != nil { // interrupted inside the image: not a skip
			rep.Interrupted = true
			break
		}
		rep.record(i, it, err)
		prog.Update(i+1, rep.SkipCount)
	}
	prog.Finish()
	rep.Seconds = time.Since(start).Seconds()
	rep.Finish()
	if rep.Interrupted {
		return rep, ctx.Err()
	}
	if rep.Evaluated == 0 {
		first := ""
		if len(rep.Skips) > 0 {
			first = fmt.Sprintf("; first: %s: %s", rep.Skips[0].ID, rep.Skips[0].Reason)
		}
		return rep, fmt.Errorf("%w (%d skipped%s)", ErrNothingEvaluated, rep.SkipCount, first)
	}
	return rep, nil
}

// record counts item i's outcome: evaluated, or skipped for err (its reason kept while fewer
// than MaxSkipReasons are).
func (r *Report) record(i int, it Item, err error) {
	if err == nil {
		r.Evaluated++
		return
	}
	r.SkipCount++
	if len(r.Skips) < MaxSkipReasons {
		r.Skips = append(r.Skips, Skip{ID: it.ID, Reason: err.Error(), index: i})
	}
}

// Finish computes every method's metrics from the areas and counts accumulated so far (Run
// calls it; call it after Merge).
func (r *Report) Finish() {
	for _, mr := range r.Methods {
		mr.Seg = mr.Areas.Metrics()
		mr.Explain = mr.explain.Metrics()
		mr.ImagesPerSecond = 0
		if mr.Seconds > 0 {
			mr.ImagesPerSecond = float64(r.Evaluated) / mr.Seconds
		}
	}
}

// LoadItem reads an item's image and mask and checks that they fit together.
func LoadItem(it Item, numClasses int) (*imageprep.Pixels, *Label, error) {
	img, err := imageprep.DecodeFile(it.Image)
	if err != nil {
		return nil, nil, err
	}
	lab, err := ReadMask(it.Mask, numClasses)
	if err != nil {
		return nil, nil, err
	}
	b := img.Bounds()
	if b.Dx() != lab.W || b.Dy() != lab.H {
		return nil, nil, fmt.Errorf("%w: %s is %d×%d, %s is %d×%d", ErrMaskSize, it.Mask, lab.W, lab.H,
			it.Image, b.Dx(), b.Dy())
	}
	return imageprep.ToPixels(img), lab, nil
}

// evaluateItem predicts the item with every method, then adds it to every method's metrics.
func evaluateItem(ctx context.Context, ex *surgery.Explainer, ds *Dataset, it Item, methods []clip.Method,
	classes []Class, cfg Config, rep *Report) error {
	pix, lab, err := ds.Load(it)
	if err != nil {
		return err
	}
	preds := make([]*Prediction, len(methods))
	times := make([]time.Duration, len(methods))
	for j, m := range methods {
		t0 := time.Now()
		if cfg.Protocol != nil {
			preds[j], err = predictProtocolItem(ctx, ex, cfg.Model.VFM, pix, *cfg.Protocol, classes, cfg.WindowBatch)
		} else {
			preds[j], err = PredictContext(ctx, ex, pix, classes, m, cfg.Model, cfg.Scoring)
		}
		if err != nil {
			return fmt.Errorf("%s (method %s): %w", it.Image, m, err)
		}
		times[j] = time.Since(t0)
	}
	present := presentClasses(lab, len(classes), cfg.NoBackground)
	masks := make([][]bool, len(present))
	for j, c := range present {
		masks[j] = classMask(lab, c)
	}
	// Every step that can fail runs before the first area is added, so a skipped image leaves no
	// trace in any method's metrics.
	maps := make([][][]float32, len(preds))
	for j, p := range preds {
		t0 := time.Now()
		if maps[j], err = p.ClassMaps(present); err != nil {
			return fmt.Errorf("%s (method %s): %w", it.Image, p.Method, err)
		}
		times[j] += time.Since(t0)
	}
	for j, p := range preds {
		t0 := time.Now()
		mr := rep.Methods[j]
		if err := mr.Areas.Add(p.Pred, lab.Pix); err != nil {
			return fmt.Errorf("%w: %w", errInternal, err) // LoadItem checked the labels, Predict's classes are < k
		}
		for q, c := range present {
			if err := mr.explain.Add(c, maps[j][q], lab.Pix); err != nil {
				return fmt.Errorf("%w: %w", errInternal, err) // SimilarityMap's maps are finite and image-sized
			}
			if _, _, err := mr.Pointing.Add(maps[j][q], masks[q], lab.H, lab.W); err != nil {
				return fmt.Errorf("%w: %w", errInternal, err)
			}
		}
		mr.Seconds += (times[j] + time.Since(t0)).Seconds()
	}
	if rep.Size == 0 {
		rep.Size, rep.Stride = preds[0].Size, preds[0].Stride
	}
	if cfg.OnImage != nil {
		cfg.OnImage(it, lab, preds)
	}
	return nil
}

// presentClasses are the object classes labelled in the image (background excluded unless
// noBackground).
func presentClasses(lab *Label, k int, noBackground bool) []int {
	seen := make([]bool, k)
	for _, v := range lab.Pix {
		if v != IgnoreIndex {
			seen[v] = true
		}
	}
	var out []int
	for c, s := range seen {
		if s && (noBackground || c != 0) {
			out = append(out, c)
		}
	}
	return out
}

// classMask is the mask of class c.
func classMask(lab *Label, c int) []bool {
	m := make([]bool, len(lab.Pix))
	for i, v := range lab.Pix {
		m[i] = int(v) == c
	}
	return m
}
