package evaluate

import (
	"context"
	"errors"
	"fmt"
	"time"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// Evaluator is an evaluation's inputs checked once: the unit of work of an evaluation split
// across goroutines, processes or machines (tools/pipeline) is Image, one image into a Report of
// its own, and such Reports add up exactly (Merge). Run is the one-process loop over the same
// steps, so a merged evaluation has Run's areas, counts and metrics.
type Evaluator struct {
	ex      *surgery.Explainer
	ds      *Dataset
	cfg     Config
	methods []clip.Method
	items   []Item // after cfg.Limit
	// classes are the predicted classes (the dataset's, or a Protocol's peer class file), names
	// and templates the text queries encoded once for every image.
	classes   []Class
	names     []string
	templates []string
}

// NewEvaluator checks the configuration against the dataset and the explainer's model, as Run
// does before its first image (a bad size, stride or method fails here once, not on every image).
func NewEvaluator(ex *surgery.Explainer, ds *Dataset, cfg Config) (*Evaluator, error) {
	if ex == nil || ds == nil {
		return nil, errors.New("evaluate: nil explainer or dataset")
	}
	if err := checkClasses(ds.Classes); err != nil {
		return nil, err
	}
	if err := cfg.Scoring.check(); err != nil {
		return nil, err
	}
	if cfg.NoBackground && cfg.Scoring.ProbThreshold > 0 {
		return nil, errors.New("evaluate: a probability threshold assigns class 0 as the background; the dataset has none (NoBackground)")
	}
	if cfg.Limit < 0 || cfg.PointingTolerance < 0 {
		return nil, fmt.Errorf("evaluate: negative limit %d or pointing tolerance %v", cfg.Limit, cfg.PointingTolerance)
	}
	ev := &Evaluator{ex: ex, ds: ds, cfg: cfg, methods: cfg.Methods, items: ds.Items, classes: ds.Classes,
		templates: cfg.Model.Templates}
	if len(ev.methods) == 0 {
		ev.methods = []clip.Method{clip.MethodSurgery}
	}
	if cfg.Limit > 0 && cfg.Limit < len(ev.items) {
		ev.items = ev.items[:cfg.Limit]
	}
	if cfg.Protocol != nil {
		var err error
		if ev.classes, err = cfg.protocolClasses(ds); err != nil {
			return nil, err
		}
		if _, err := ex.Model().ResolveMethod(cfg.Protocol.Peer); err != nil {
			return nil, fmt.Errorf("evaluate: protocol %s: %w", cfg.Protocol.Peer, err)
		}
		ev.methods, ev.templates = []clip.Method{cfg.Protocol.Peer}, cfg.Protocol.TemplateSet()
		// The preset's windows are checked by PredictProtocol; its names are encoded without
		// repeats, as PredictProtocol encodes them.
		names, _ := queries(ev.classes)
		ev.names, _ = distinctNames(names)
	} else {
		ev.names, _ = queries(ev.classes)
		for _, m := range ev.methods {
			if err := ex.CheckOptions(cfg.Model.explainOptions(ev.names, m)); err != nil {
				return nil, fmt.Errorf("evaluate: method %s: %w", m, err)
			}
		}
	}
	if _, err := ev.newReport(0); err != nil { // the class count and threshold grid
		return nil, err
	}
	return ev, nil
}

// Items are the images evaluated (the dataset's, cut at Config.Limit).
func (ev *Evaluator) Items() []Item { return ev.items }

// EncodeTexts encodes the class names as the images will read them (cached by the Explainer:
// every later call, and every image, finds them there) and returns the seconds it took: a
// preset's names over its templates (PredictProtocol), or the label set's features under the
// model options, each class's own templates included (ModelOptions.ClassTemplates).
func (ev *Evaluator) EncodeTexts() (float64, error) {
	t0 := time.Now()
	var err error
	if ev.cfg.Protocol != nil {
		_, err = ev.ex.TextFeatures(ev.names, ev.templates)
	} else {
		_, err = ev.ex.LabelFeatures(context.Background(), ev.cfg.Model.explainOptions(ev.names, ev.methods[0]))
	}
	if err != nil {
		return 0, err
	}
	return time.Since(t0).Seconds(), nil
}

// newReport is an empty report of listed images with every method's accumulators.
func (ev *Evaluator) newReport(listed int) (*Report, error) {
	ds, cfg := ev.ds, ev.cfg
	rep := &Report{Dataset: ds.Dir, Layout: ds.Layout, Classes: ev.classes, Listed: listed, Slide: cfg.Model.Slide,
		Protocol: cfg.Protocol}
	if p := cfg.Protocol; p != nil {
		rep.Slide, rep.Size, rep.Stride = p.Window > 0, p.Window, p.Stride
	}
	tol := cfg.PointingTolerance
	if tol == 0 {
		tol = DefaultPointingTolerance
	}
	for _, m := range ev.methods {
		conf, err := NewConfusion(len(ev.classes))
		if err != nil {
			return nil, err
		}
		ex, err := NewExplainability(len(ev.classes), cfg.ExplainThresholds)
		if err != nil {
			return nil, err
		}
		rep.Methods = append(rep.Methods, &MethodReport{Method: m, Areas: conf, explain: ex,
			Pointing: PointingGame{Tolerance: tol}})
	}
	return rep, nil
}

// Empty is the report of no image, to Merge others into.
func (ev *Evaluator) Empty() *Report {
	rep, _ := ev.newReport(0) // NewEvaluator made one already
	return rep
}

// Image evaluates item i (of Items) with every method into a report of that image alone
// (Listed 1; Evaluated 1, or SkipCount 1 with the reason, as Run skips a bad image). The error
// is ctx's when ctx ended, or an internal error; Seconds is the image's time. Finish is not
// called: merge first.
func (ev *Evaluator) Image(ctx context.Context, i int) (*Report, error) {
	if i < 0 || i >= len(ev.items) {
		return nil, fmt.Errorf("evaluate: image %d of %d", i, len(ev.items))
	}
	rep, err := ev.newReport(1)
	if err != nil {
		return nil, err
	}
	it := ev.items[i]
	start := time.Now()
	err = evaluateItem(ctx, ev.ex, ev.ds, it, ev.methods, ev.classes, ev.cfg, rep)
	if errors.Is(err, errInternal) {
		return nil, fmt.Errorf("%s: %w", it.ID, err)
	}
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	rep.record(i, it, err)
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}
