package evaluate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// DefaultLogitScale is the temperature SCLIP, ClearCLIP and NACLIP multiply the cosine logits by
// before the softmax over names (their segmentors' logit_scale=40 default).
const DefaultLogitScale = 40

// Scoring turns the per-name similarity logits into a class per pixel, as the training-free
// segmentation peers do (NACLIP naclip.py postprocess_result, same in SCLIP and ClearCLIP):
// the logits of every name are resized bilinearly to the image, each class takes the best of its
// names, and the pixel gets the first class of maximum score. With ProbThreshold > 0 the scores
// are softmax(LogitScale · logits) over all names first, and a pixel whose best class probability
// is below ProbThreshold is given the background class (class 0) — the peers' prob_thd, used for
// datasets whose background has no usable name (e.g. ClearCLIP uses 0.2 for plain CLIP on VOC with
// background, mc-lan/ClearCLIP issue #2).
type Scoring struct {
	ProbThreshold float64 // 0 = plain argmax of the logits
	LogitScale    float64 // 0 = DefaultLogitScale; used only with ProbThreshold
}

func (s Scoring) check() error {
	if !(s.ProbThreshold >= 0 && s.ProbThreshold < 1) {
		return fmt.Errorf("evaluate: probability threshold %v: want a value in [0, 1)", s.ProbThreshold)
	}
	if !(s.LogitScale >= 0) || math.IsInf(s.LogitScale, 0) {
		return fmt.Errorf("evaluate: logit scale %v: want a finite value ≥ 0", s.LogitScale)
	}
	return nil
}

// Prediction is one method's result on one image.
type Prediction struct {
	Method clip.Method
	W, H   int
	// Size is the model input side used: the window side with sliding windows.
	Size int
	// Windows and Stride are the sliding windows encoded and their step (0 without Slide).
	Windows, Stride int
	// Pred is the predicted class of every pixel, row-major (Scoring).
	Pred []uint8
	// Sim holds the class scores of the tokens, [1+g·g, classes] like surgery.Result.Similarity:
	// per class the best of its names (the name's column for a one-name class). Empty with Slide.
	Sim surgery.Matrix
	// Planes holds, with Slide only, the class scores at every pixel: one row-major H×W plane per
	// class, the best of its names' window-averaged similarities (surgery.PixelSimilarity), raw.
	Planes [][]float32
}

// ModelOptions are the Explainer inputs an evaluation passes through.
type ModelOptions struct {
	Size      int      // model input side (0 = the model's native resolution); the window side with Slide
	Templates []string // prompt templates (nil = the 85 of the reference)
	// ClassTemplates gives names their own templates (surgery.Options.ClassTemplates), e.g. a
	// FLOSS selection (SelectTemplates; tools/evaluate -templates auto).
	ClassTemplates surgery.ClassTemplates
	// FeatureSurgery turns feature surgery on or off on top of every method (surgery.Options;
	// "" = each method's own), for ablations.
	FeatureSurgery surgery.FeatureSurgeryMode
	// Slide scores the image with sliding windows of side Size at the image's own resolution,
	// averaged where they overlap (surgery.Options.Slide; mmsegmentation's slide mode, as SCLIP,
	// ClearCLIP and NACLIP evaluate), instead of resizing the whole image to Size.
	Slide bool
	// Stride is the windows' step in pixels, 1..Size (0 = Size/2, half a window). Only with Slide.
	Stride int
	// VFM is the vision foundation model of the methods that read one (ProxyCLIP), loaded once;
	// the other methods of a side-by-side run are given none.
	VFM surgery.VFM
}

// explainOptions are the surgery options of a prediction with the label set names.
func (mo ModelOptions) explainOptions(names []string, method clip.Method) surgery.Options {
	o := surgery.Options{Size: mo.Size, Labels: names, Templates: mo.Templates, ClassTemplates: mo.ClassTemplates,
		FeatureSurgery: mo.FeatureSurgery, Method: method,
		Slide: mo.Slide, Stride: mo.Stride}
	if clip.ReadsVFM(string(method)) {
		o.VFM = mo.VFM
	}
	return o
}

var errClasses = errors.New("evaluate: bad class list")

// checkClasses validates a class list for the Explainer (names are its label set).
func checkClasses(cs []Class) error {
	if len(cs) == 0 || len(cs) > IgnoreIndex {
		return fmt.Errorf("%w: %d classes (want 1..%d)", errClasses, len(cs), IgnoreIndex)
	}
	seen := map[string]bool{}
	for i, c := range cs {
		if len(c.Names) == 0 {
			return fmt.Errorf("%w: class %d has no name", errClasses, i)
		}
		for _, n := range c.Names {
			if strings.TrimSpace(n) == "" || strings.Contains(n, surgery.CombineSeparator) || seen[n] {
				return fmt.Errorf("%w: class %d: name %q is empty, contains %q or repeats", errClasses, i,
					n, surgery.CombineSeparator)
			}
			seen[n] = true
		}
	}
	return nil
}

// Predict runs one method on one image and scores every pixel. The Explainer caches the text
// features, so several methods and images encode the class names once.
func Predict(ex *surgery.Explainer, pix *imageprep.Pixels, classes []Class, method clip.Method,
	mo ModelOptions, sc Scoring) (*Prediction, error) {
	return PredictContext(context.Background(), ex, pix, classes, method, mo, sc)
}

// PredictContext is Predict returning ctx's error once ctx is done (checked between sliding
// windows and between the model's steps).
func PredictContext(ctx context.Context, ex *surgery.Explainer, pix *imageprep.Pixels, classes []Class,
	method clip.Method, mo ModelOptions, sc Scoring) (*Prediction, error) {
	if err := checkClasses(classes); err != nil {
		return nil, err
	}
	if err := sc.check(); err != nil {
		return nil, err
	}
	if mo.Slide {
		return predictSlide(ctx, ex, pix, classes, method, mo, sc)
	}
	names, nameClass := queries(classes)
	// Explain needs a target; the first name's overlay is the only extra work.
	res, err := ex.ExplainPixelsContext(ctx, pix, names[:1], mo.explainOptions(names, method))
	if err != nil {
		return nil, err
	}
	sim := res.Similarity
	side := int(math.Round(math.Sqrt(float64(sim.Rows - 1))))
	if sim.Cols != len(names) || side*side != sim.Rows-1 || side == 0 {
		return nil, fmt.Errorf("evaluate: similarity %d×%d for %d names: not 1 + a square grid of tokens",
			sim.Rows, sim.Cols, len(names))
	}
	for i, v := range sim.Data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("evaluate: non-finite similarity for token %d, name %q", i/sim.Cols, names[i%sim.Cols])
		}
	}
	h, w := res.Height, res.Width
	resized := func(q int) ([]float32, error) {
		return surgery.ResizeBilinear(sim.Column(q)[1:], side, side, h, w)
	}
	pred, err := scorePixels(h*w, len(names), resized, nameClass, sc)
	if err != nil {
		return nil, err
	}
	return &Prediction{Method: res.Method, W: w, H: h, Size: res.Size, Pred: pred,
		Sim: classTokenScores(sim, nameClass, len(classes))}, nil
}

// predictSlide is Predict with sliding windows. surgery.PixelSimilarity gives every name's raw
// similarity at every pixel, averaged over the windows that cover it — the same quantity, before
// any min-max, that the one-window path resizes from the token grid, so the argmax compares the
// classes on the same scale; with one window covering the image the two paths give the same
// values. Memory: one H×W plane per name while scoring, one per class kept in the Prediction.
func predictSlide(ctx context.Context, ex *surgery.Explainer, pix *imageprep.Pixels, classes []Class,
	method clip.Method, mo ModelOptions, sc Scoring) (*Prediction, error) {
	names, nameClass := queries(classes)
	planes, res, err := ex.PixelSimilarity(ctx, pix, mo.explainOptions(names, method))
	if err != nil {
		return nil, err
	}
	h, w := res.Height, res.Width
	if len(planes) != len(names) {
		return nil, fmt.Errorf("evaluate: %d similarity planes for %d names", len(planes), len(names))
	}
	for q, p := range planes {
		if len(p) != h*w {
			return nil, fmt.Errorf("evaluate: similarity plane of %d values for a %d×%d image", len(p), w, h)
		}
		for i, v := range p {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("evaluate: non-finite similarity at pixel %d, name %q", i, names[q])
			}
		}
	}
	pred, err := scorePixels(h*w, len(names), func(q int) ([]float32, error) { return planes[q], nil }, nameClass, sc)
	if err != nil {
		return nil, err
	}
	return &Prediction{Method: res.Method, W: w, H: h, Size: res.Size, Windows: res.Windows, Stride: res.Stride,
		Pred: pred, Planes: classPlanes(planes, nameClass, len(classes))}, nil
}

// classPlanes reduces the name planes to one plane per class (the best name per pixel), reusing
// each class's first name plane.
func classPlanes(planes [][]float32, nameClass []int, k int) [][]float32 {
	out := make([][]float32, k)
	for q, c := range nameClass {
		if out[c] == nil {
			out[c] = planes[q]
			continue
		}
		for i, v := range planes[q] {
			out[c][i] = max(out[c][i], v)
		}
	}
	return out
}

// scorePixels is Scoring's per-pixel rule over the nq name maps of n pixels, produced one at a
// time by nameMap so that memory stays one map whatever the number of names. Names come grouped
// by class in class order, so the first name reaching the maximum gives the first class of
// maximum score. With a probability threshold the best class's probability is the best name's,
// 1 / Σ_q exp(scale·(logit_q − best)), which a second pass over the names sums.
func scorePixels(n, nq int, nameMap func(q int) ([]float32, error), nameClass []int, sc Scoring) ([]uint8, error) {
	pred := make([]uint8, n)
	best := make([]float32, n)
	for q := range nq {
		m, err := nameMap(q)
		if err != nil {
			return nil, err
		}
		c := uint8(nameClass[q])
		if q == 0 {
			copy(best, m)
			continue // pred is already class nameClass[0] = 0
		}
		for i, v := range m {
			if v > best[i] {
				best[i], pred[i] = v, c
			}
		}
	}
	if sc.ProbThreshold == 0 {
		return pred, nil
	}
	scale := sc.LogitScale
	if scale == 0 {
		scale = DefaultLogitScale
	}
	sum := make([]float64, n)
	for q := range nq {
		m, err := nameMap(q)
		if err != nil {
			return nil, err
		}
		for i, v := range m {
			clearAVXUpper() // keeps math.Exp fast (simd_amd64.go)
			sum[i] += math.Exp(scale * (float64(v) - float64(best[i])))
		}
	}
	for i, s := range sum {
		if 1/s < sc.ProbThreshold {
			pred[i] = 0
		}
	}
	return pred, nil
}

// classTokenScores reduces the name columns to one column per class (the best name per token).
func classTokenScores(sim surgery.Matrix, nameClass []int, k int) surgery.Matrix {
	out := surgery.NewMatrix(sim.Rows, k)
	for r := range sim.Rows {
		row, dst := sim.Row(r), out.Row(r)
		for c := range dst {
			dst[c] = float32(math.Inf(-1))
		}
		for q, c := range nameClass {
			dst[c] = max(dst[c], row[q])
		}
	}
	return out
}

// ClassMaps are the explainability maps of the given classes at the image size, min-max
// normalised per class as the method draws them: without Slide surgery.SimilarityMap over Sim
// (min-max over the patch tokens, then the bilinear resize); with Slide the class's
// window-averaged plane min-maxed over the image's pixels (as surgery's sliding-window Explain
// draws a target), there being no one token grid. The two differ only in the range the min-max
// takes: the resized map's extremes lie within the tokens'.
func (p *Prediction) ClassMaps(classes []int) ([][]float32, error) {
	if p.Planes == nil {
		return surgery.SimilarityMap(p.Sim, classes, p.H, p.W)
	}
	out := make([][]float32, len(classes))
	for i, c := range classes {
		if c < 0 || c >= len(p.Planes) {
			return nil, fmt.Errorf("evaluate: class %d of %d", c, len(p.Planes))
		}
		out[i] = slices.Clone(p.Planes[c])
		if err := surgery.MinMaxNormalize(out[i]); err != nil {
			return nil, fmt.Errorf("evaluate: map of class %d: %w", c, err)
		}
	}
	return out, nil
}
