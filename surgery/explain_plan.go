package surgery

import (
	"errors"
	"fmt"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/modelkit"
)

// plan is one Explain call's options checked and resolved against the model.
type plan struct {
	size   int
	method clip.Method
	// modifiers compose with method (canonical).
	modifiers clip.Modifiers
	// featureSurgery: feature surgery after the encoder (else img @ textᵀ).
	featureSurgery bool
	single         bool
	threshold      float32
	slide          bool
	stride         int     // sliding windows' step (with slide)
	vfm            VFM     // the VFM the method reads (clip.MethodSpec.VFM), else nil
	grid           int     // side of the similarity's token grid: CLIP's, or the VFM's
	proxyBeta      float64 // ProxyCLIP's β and γ (Options.ProxyBeta, ProxyGamma)
	proxyGamma     float64
	classes        []string // columns of the similarity
	templates      []string // nil = clip.DefaultTemplates()
	// classTemplates is each class's template list when Options.ClassTemplates gives one to
	// some class (the others get templates); nil otherwise.
	classTemplates [][]string
	presence       bool    // compute the presence even when it costs an encoder pass
	gate           float32 // Options.PresenceThreshold
	targets        []targetSpec
}

// targetSpec is one requested target: its text, its parts and their columns.
type targetSpec struct {
	text    string
	parts   []string
	columns []int
}

// CombineSeparator joins the parts of a combined target ("person+bench").
const CombineSeparator = "+"

// SplitTarget splits a combined target "a+b" into its parts (spaces around parts trimmed). A text
// without "+" is one part.
func SplitTarget(target string) []string {
	parts := strings.Split(target, CombineSeparator)
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

func (e *Explainer) plan(targets []string, opt Options) (*plan, error) {
	cfg := e.model.Config
	p := &plan{size: opt.Size, single: opt.Single, threshold: opt.Threshold, templates: opt.Templates}
	if p.size == 0 {
		p.size = cfg.ImageResolution
	}
	if s := cfg.Stride(); p.size < 0 || p.size%s != 0 || p.size/s < 2 {
		return nil, fmt.Errorf("surgery: input size %d: must be a multiple of the model's patch size %d, at least %d",
			opt.Size, s, 2*s)
	}
	if p.size > clip.DefaultMaxImageSide {
		return nil, fmt.Errorf("surgery: input size %d exceeds the largest input side %d (clip.DefaultMaxImageSide); for a large image use sliding windows "+
			"(Options.Slide, -slide) of the model's size instead", p.size, clip.DefaultMaxImageSide)
	}
	if p.slide, p.stride = opt.Slide, opt.Stride; !p.slide && p.stride != 0 {
		return nil, fmt.Errorf("surgery: stride %d given without sliding windows (Options.Slide, -slide)", opt.Stride)
	}
	if p.slide && p.stride == 0 {
		p.stride = p.size / 2
	}
	if p.slide && (p.stride < 1 || p.stride > p.size) {
		return nil, fmt.Errorf("surgery: stride %d: must be in 1..%d (the window side)", opt.Stride, p.size)
	}
	name, mods, err := clip.ParseMethodWithModifiers(string(opt.Method))
	if err == nil {
		mods, err = clip.ParseModifiers(string(mods) + "," + string(opt.Modifiers))
	}
	if err != nil {
		return nil, fmt.Errorf("surgery: %w", err)
	}
	method, err := e.model.ResolveMethod(name)
	if err != nil {
		return nil, fmt.Errorf("surgery: %w", err)
	}
	p.method, p.modifiers = method.Name, mods
	if p.grid, err = checkVFM(opt.VFM, method, p.size, p.size/cfg.Stride()); err != nil {
		return nil, err
	}
	p.vfm = opt.VFM
	p.proxyBeta, p.proxyGamma = opt.ProxyBeta, opt.ProxyGamma
	opts := clip.ImageOptions{Method: p.method, Modifiers: mods, ProxyBeta: opt.ProxyBeta, ProxyGamma: opt.ProxyGamma}
	if err := e.model.CheckImageOptions(opts); err != nil {
		return nil, fmt.Errorf("surgery: %w", err)
	}
	switch opt.FeatureSurgery {
	case FeatureSurgeryAuto:
		p.featureSurgery = method.FeatureSurgery
	case FeatureSurgeryOn, FeatureSurgeryOff:
		p.featureSurgery = opt.FeatureSurgery == FeatureSurgeryOn
	default:
		return nil, fmt.Errorf("surgery: feature surgery %q: want %q, %q or empty (the method's own)",
			string(opt.FeatureSurgery), FeatureSurgeryOn, FeatureSurgeryOff)
	}
	return p, p.checkTargets(targets, opt)
}

// CheckOptions runs the checks of PixelSimilarity (and of Explain with a label set) that depend on
// the model but on no image: input size, sliding-window stride, method against the model's
// architecture, feature surgery mode, label set and templates. An evaluation calls it once before
// a dataset loop, so that a bad option is one error rather than every image failing alike.
func (e *Explainer) CheckOptions(opt Options) error {
	_, err := e.labelPlan(opt)
	return err
}

// labelPlan is the plan of an explanation with opt's label set (nil = the demo classes), every
// label a class: what CheckOptions checks and LabelFeatures encodes.
func (e *Explainer) labelPlan(opt Options) (*plan, error) {
	labels := opt.Labels
	if labels == nil {
		labels = DemoClasses()
	}
	if len(labels) == 0 {
		return nil, errors.New("surgery: empty label set (nil means the 59 demo classes)")
	}
	opt.Single = false
	return e.plan(labels[:1], opt)
}

// CheckTargets runs the checks of Explain that need no model (targets against the label set, the
// label limit, threshold and templates), so that a command can refuse bad input before it loads
// a model. Explain runs them too.
func CheckTargets(targets []string, opt Options) error {
	p := &plan{single: opt.Single, threshold: opt.Threshold, templates: opt.Templates}
	return p.checkTargets(targets, opt)
}

func (p *plan) checkTargets(targets []string, opt Options) error {
	if p.threshold == 0 {
		p.threshold = DefaultThreshold
	}
	if !(p.threshold > 0 && p.threshold <= 1) { // also rejects NaN
		return fmt.Errorf("surgery: point threshold %v: must be in (0, 1]", opt.Threshold)
	}
	if opt.Templates != nil && len(opt.Templates) == 0 {
		return errors.New("surgery: empty template list (nil means the 85 default templates)")
	}
	if err := checkPresenceThreshold(opt.PresenceThreshold); err != nil {
		return err
	}
	p.gate, p.presence = opt.PresenceThreshold, opt.Presence || opt.PresenceThreshold > 0
	if len(targets) == 0 {
		return errors.New("surgery: no target text")
	}
	limit := opt.MaxLabels
	if limit <= 0 {
		limit = DefaultMaxLabels
	}
	var err error
	if p.single {
		err = p.singleTargets(targets)
	} else {
		err = p.labelTargets(targets, opt.Labels)
	}
	if err == nil && len(p.classes) > limit {
		err = fmt.Errorf("surgery: %d labels to encode, above the limit of %d (Options.MaxLabels)", len(p.classes), limit)
	}
	if err == nil {
		err = p.resolveClassTemplates(opt.ClassTemplates)
	}
	return err
}

// resolveClassTemplates gives every class its template list when ct names one of the classes
// (the others get the plan's templates, nil meaning the defaults); ct's lists are checked.
func (p *plan) resolveClassTemplates(ct ClassTemplates) error {
	own := false
	for _, c := range p.classes {
		_, ok := ct[c]
		own = own || ok
	}
	if !own {
		return nil
	}
	base := p.templates
	if base == nil {
		base = clip.DefaultTemplates()
	}
	p.classTemplates = make([][]string, len(p.classes))
	for i, c := range p.classes {
		list, ok := ct[c]
		if !ok {
			p.classTemplates[i] = base
			continue
		}
		if len(list) == 0 {
			return fmt.Errorf("surgery: class %q has an empty template list (Options.ClassTemplates)", c)
		}
		for _, t := range list {
			if !strings.Contains(t, "{}") {
				return fmt.Errorf("surgery: class %q: template %q has no {} for the class name", c, t)
			}
		}
		p.classTemplates[i] = list
	}
	return nil
}

// labelTargets resolves targets against the label set: every part must be one of its labels.
func (p *plan) labelTargets(targets, labels []string) error {
	if labels == nil {
		labels = DemoClasses()
	}
	if len(labels) == 0 {
		return errors.New("surgery: empty label set (nil means the 59 demo classes)")
	}
	index := make(map[string]int, len(labels))
	for i, l := range labels {
		if strings.TrimSpace(l) == "" {
			return fmt.Errorf("surgery: label %d is empty", i)
		}
		if _, dup := index[l]; dup {
			return fmt.Errorf("surgery: label %q appears twice in the label set", l)
		}
		index[l] = i
	}
	p.classes = labels
	return p.addTargets(targets, func(part string) (int, error) {
		c, ok := index[part]
		if !ok {
			return 0, fmt.Errorf("surgery: target %q is not in the label set (%d labels: %s); "+
				"add it to the labels or use single-text mode", part, len(labels), modelkit.Abbreviate(labels, 12))
		}
		return c, nil
	})
}

// singleTargets makes the distinct target parts the classes (single-text mode: no label set).
func (p *plan) singleTargets(targets []string) error {
	index := map[string]int{}
	return p.addTargets(targets, func(part string) (int, error) {
		c, ok := index[part]
		if !ok {
			c = len(p.classes)
			index[part] = c
			p.classes = append(p.classes, part)
		}
		return c, nil
	})
}

// addTargets splits every target into its parts and plans it with the columns column gives them.
func (p *plan) addTargets(targets []string, column func(part string) (int, error)) error {
	for _, t := range targets {
		spec := targetSpec{text: t, parts: SplitTarget(t)}
		for _, part := range spec.parts {
			if part == "" {
				return fmt.Errorf("surgery: empty target text in %q", t)
			}
			c, err := column(part)
			if err != nil {
				return err
			}
			spec.columns = append(spec.columns, c)
		}
		p.targets = append(p.targets, spec)
	}
	return nil
}
