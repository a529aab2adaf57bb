package surgery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
)

// Label-free template selection, FLOSS (floss_entropy.go has the source and the defining steps).
// Every candidate template is a classifier of its own: class k's features are the normalized
// embedding of the one prompt template(k). Each classifier segments the images at hand through
// the pipeline (Options: method, feature surgery, size, sliding windows, as PixelSimilarity); the
// templates whose classifier is most confident (lowest mean entropy) on the pixels it gives a
// class are that class's experts. Nothing is labelled: the images need no masks.
//
// Use of the experts. FLOSS combines them in a fusion of its own (naclip.py expert_fusion): one
// full classifier per class built from that class's experts, plus the all-template one; a pixel
// takes the prediction of the expert claiming its own class, the most confident on conflicts,
// the all-template classifier where none claims it. A similarity map is one class's column, not a
// per-pixel decision between classifiers, so here each class's features are instead the prompt
// ensemble of its own experts (TemplateSelection.ClassTemplates → Options.ClassTemplates): the
// selection is FLOSS's, the combination is the per-class ensemble.
//
// A modifier whose encoder reads the label set's text features (ResCLIP's semantic feedback) reads
// the plan's (the default templates) while the image is encoded once for all candidates; each
// candidate's classifier changes the final comparison only (encoding per candidate would cost the
// encoder once per template).
//
// Cost: the image is encoded once (every window with Slide); each candidate then costs one
// similarity, its resize to the image and, per pixel, a softmax and a logarithm per class. The
// candidates' prompts (labels × candidates) go through the text cache: with the disk cache they
// are encoded once for all runs, and the experts' ensembles are assembled from the same rows.

// DefaultExperts is FLOSS's number of experts per class (top_n=4 in naclip.py and
// dinoclip_inferencer.py).
const DefaultExperts = 4

// DefaultSelectLogitScale is the temperature of FLOSS's softmax: NACLIP's logit_scale=100 in
// naclip.py, MaskCLIP's tau=0.01 in maskclip.py.
const DefaultSelectLogitScale = 100

// SelectOptions configure a template selection. The zero value is FLOSS on the 59 demo classes
// with the 80 ImageNet templates, on CLIP Surgery's maps at the model's size.
type SelectOptions struct {
	// Options is the pipeline whose predictions are judged: Labels (the label set, at least two
	// labels; nil = DemoClasses()), Method, FeatureSurgery, Size, Slide, Stride, MaxLabels, as in
	// PixelSimilarity. Templates and ClassTemplates must be nil (the templates judged are
	// Candidates); single-text mode has no label set and is refused.
	Options
	// Candidates are the templates ranked (nil = clip.ImageNetTemplates(), FLOSS's 80).
	Candidates []string
	// Experts is how many templates each class keeps (0 = DefaultExperts).
	Experts int
	// LogitScale multiplies the logits before the softmax (0 = DefaultSelectLogitScale).
	LogitScale float64
	// LabelClass groups labels that name one class (evaluation class files: "person, people"),
	// giving each label's class index; a class's probability is the best of its labels' and its
	// experts are every label's templates (FLOSS: NACLIP's query_idx). nil = each label a class.
	LabelClass []int
}

// TemplateSelection is the result of a selection: per class, its experts among the candidates
// and the statistics they were chosen by.
type TemplateSelection struct {
	Labels     []string // the label set
	LabelClass []int    // class of each label (nil = each label its own class)
	Candidates []string // the templates ranked
	Images     int      // images judged
	// Entropy[c][m] is the mean entropy of the pixels candidate m's classifier assigns to class c
	// (NaN when it assigns none), Pixels[c][m] their number, over all images.
	Entropy [][]float64
	Pixels  [][]int64
	// Experts[c] are class c's chosen candidates (indices into Candidates), best first: the
	// Experts (SelectOptions) lowest entropies among the candidates that gave it pixels. A class
	// no candidate predicted anywhere gets every candidate (NoExpert[c]; CLIP-DINOiser's rule in
	// FLOSS's code, where NACLIP's stops with an error).
	Experts  [][]int
	NoExpert []bool
}

// ClassTemplates gives every label its class's expert templates, for Options.ClassTemplates.
func (s *TemplateSelection) ClassTemplates() ClassTemplates {
	out := make(ClassTemplates, len(s.Labels))
	for l, label := range s.Labels {
		c := l
		if s.LabelClass != nil {
			c = s.LabelClass[l]
		}
		list := make([]string, len(s.Experts[c]))
		for j, m := range s.Experts[c] {
			list[j] = s.Candidates[m]
		}
		out[label] = list
	}
	return out
}

// SelectTemplates runs FLOSS's selection over images (TemplateSelector for images read one at a
// time).
func SelectTemplates(ctx context.Context, e *Explainer, images []*imageprep.Pixels, opt SelectOptions) (*TemplateSelection, error) {
	s, err := e.NewTemplateSelector(ctx, opt)
	if err != nil {
		return nil, err
	}
	for _, p := range images {
		if err := s.Add(ctx, p); err != nil {
			return nil, err
		}
	}
	return s.Selection()
}

// TemplateSelector accumulates FLOSS's statistics image by image (Add), so that a folder need
// not be held in memory; Selection gives the result at any point. Not safe for concurrent use.
type TemplateSelector struct {
	e          *Explainer
	plan       *plan
	opt        SelectOptions
	candidates []string
	classes    int
	text       []Matrix // per candidate, its classifier [labels, D]
	tally      *entropyTally
	images     int
}

// NewTemplateSelector checks opt and encodes the candidates' prompts (through the text cache),
// returning ctx's error once ctx is done.
func (e *Explainer) NewTemplateSelector(ctx context.Context, opt SelectOptions) (*TemplateSelector, error) {
	if opt.Templates != nil || opt.ClassTemplates != nil {
		return nil, errors.New("surgery: template selection: Options.Templates and ClassTemplates must be nil (the candidates are SelectOptions.Candidates)")
	}
	if opt.Single {
		return nil, errors.New("surgery: template selection needs a label set, not single-text mode")
	}
	if opt.Experts < 0 || !(opt.LogitScale >= 0) || math.IsInf(opt.LogitScale, 0) {
		return nil, fmt.Errorf("surgery: template selection: %d experts, logit scale %v: want ≥ 0 (0 = the default) and finite",
			opt.Experts, opt.LogitScale)
	}
	labels := opt.Labels
	if labels == nil {
		labels = DemoClasses()
	}
	if len(labels) < 2 {
		return nil, fmt.Errorf("surgery: template selection over %d label(s): the entropy of one class is 0, give at least two", len(labels))
	}
	opt.Options.Labels = labels
	p, err := e.plan(labels[:1], opt.Options) // checks size, method, stride, the label set
	if err != nil {
		return nil, err
	}
	classes, err := checkLabelClass(opt.LabelClass, len(labels))
	if err != nil {
		return nil, err
	}
	cands := opt.Candidates
	if cands == nil {
		cands = clip.ImageNetTemplates()
	}
	raw, err := e.model.EncodeTemplatePromptsCached(ctx, labels, cands, e.textCache)
	if err != nil {
		return nil, fmt.Errorf("surgery: template selection: %w", err)
	}
	all := Normalize(FeatureMatrix(raw)) // row l·M + m: label l with candidate m
	d := all.Cols
	text := make([]Matrix, len(cands))
	for m := range cands {
		text[m] = NewMatrix(len(labels), d)
		for l := range labels {
			copy(text[m].Row(l), all.Row(l*len(cands)+m))
		}
	}
	opt.Experts, opt.LogitScale = cmp.Or(opt.Experts, DefaultExperts), cmp.Or(opt.LogitScale, DefaultSelectLogitScale)
	opt.Labels, opt.LabelClass = slices.Clone(labels), slices.Clone(opt.LabelClass)
	return &TemplateSelector{e: e, plan: p, opt: opt, candidates: cands, classes: classes, text: text,
		tally: newEntropyTally(len(cands), classes)}, nil
}

// checkLabelClass returns the number of classes of a label grouping (nil = one per label): every
// index in 0..C−1, every class with a label.
func checkLabelClass(lc []int, labels int) (int, error) {
	if lc == nil {
		return labels, nil
	}
	if len(lc) != labels {
		return 0, fmt.Errorf("surgery: template selection: %d label classes for %d labels", len(lc), labels)
	}
	n := 0
	for _, c := range lc {
		if c < 0 || c >= labels {
			return 0, fmt.Errorf("surgery: template selection: label class %d outside 0..%d", c, labels-1)
		}
		n = max(n, c+1)
	}
	seen := make([]bool, n)
	for _, c := range lc {
		seen[c] = true
	}
	for c, ok := range seen {
		if !ok {
			return 0, fmt.Errorf("surgery: template selection: class %d has no label", c)
		}
	}
	return n, nil
}

// Add judges every candidate on one image: the image (or each sliding window) is encoded once,
// each candidate's logits are brought to the image's pixels as PixelSimilarity does and tallied.
// The candidates run in parallel, each tallied on its own and added in order: the result does
// not depend on the number of CPUs. On an error (ctx's once ctx is done) nothing of the image is
// kept.
func (s *TemplateSelector) Add(ctx context.Context, p *imageprep.Pixels) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("surgery: template selection: internal error: %v", r)
		}
	}()
	if p == nil || p.W <= 0 || p.H <= 0 || len(p.Pix) != p.W*p.H*p.C {
		return errors.New("surgery: template selection: empty or malformed pixels")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	views, err := s.e.encodeViews(ctx, p, s.plan)
	if err != nil {
		return err
	}
	sums := make([][]float64, len(s.candidates))
	counts := make([][]int64, len(s.candidates))
	errs := make([]error, len(s.candidates))
	parallelFor(len(s.candidates), func(m int) {
		if errs[m] = ctx.Err(); errs[m] != nil {
			return
		}
		planes, err := views.planes(s.text[m], s.plan.featureSurgery)
		if err != nil {
			errs[m] = err
			return
		}
		sums[m], counts[m] = pixelEntropies(planes, s.opt.LogitScale, s.opt.LabelClass, s.classes)
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("surgery: template selection: %w", err)
	}
	for m := range s.candidates {
		s.tally.add(m, sums[m], counts[m])
	}
	s.images++
	return nil
}

// Selection ranks the candidates with the images added so far.
func (s *TemplateSelector) Selection() (*TemplateSelection, error) {
	if s.images == 0 {
		return nil, errors.New("surgery: template selection: no image judged")
	}
	out := &TemplateSelection{Labels: slices.Clone(s.opt.Labels), LabelClass: slices.Clone(s.opt.LabelClass),
		Candidates: slices.Clone(s.candidates),
		Images:     s.images, Entropy: make([][]float64, s.classes), Pixels: make([][]int64, s.classes),
		Experts: make([][]int, s.classes), NoExpert: make([]bool, s.classes)}
	for c := range s.classes {
		out.Entropy[c] = make([]float64, len(s.candidates))
		out.Pixels[c] = make([]int64, len(s.candidates))
		for m := range s.candidates {
			out.Entropy[c][m] = s.tally.entropy(m, c)
			out.Pixels[c][m] = s.tally.count[m*s.classes+c]
		}
		out.Experts[c] = s.tally.experts(c, len(s.candidates), s.opt.Experts)
		if len(out.Experts[c]) == 0 {
			out.NoExpert[c] = true
			for m := range s.candidates {
				out.Experts[c] = append(out.Experts[c], m)
			}
		}
	}
	return out, nil
}
