package nbutil

import (
	"context"
	"fmt"
	"image"
	"io"
	"math"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
)

// The ablation notebook's helpers: every base method crossed with the switches that compose with
// it — feature surgery flipped from the method's own, each modifier, FLOSS's per-class templates —
// one switch at a time, for a picture grid and a metric table.

// Variant is one cell of the ablation: a base method and one switch.
type Variant struct {
	Method string // base method, canonical name
	// Switch names what is changed from the method's defaults ("" = nothing, the baseline):
	// "fs on" / "fs off", "+<modifier>", or "FLOSS".
	Switch         string
	FeatureSurgery surgery.FeatureSurgeryMode // "" = the method's own
	Modifier       string                     // "" = none
	FLOSS          bool                       // each class's templates chosen by FLOSS on the images at hand
}

// Name is the variant's method name as MethodOptions and the evaluation take it: the method, with
// "+modifier" when it has one.
func (v Variant) Name() string {
	if v.Modifier != "" {
		return v.Method + "+" + v.Modifier
	}
	return v.Method
}

// Column is the switch's name for a table or grid column ("baseline" for none).
func (v Variant) Column() string {
	if v.Switch == "" {
		return "baseline"
	}
	return v.Switch
}

// Switches lists the ablation's switch columns for these modifiers, in order: the baseline,
// feature surgery flipped, each modifier, FLOSS.
func Switches(modifiers []string) []string {
	out := []string{"baseline", "feature surgery flipped"}
	for _, m := range modifiers {
		out = append(out, "+"+m)
	}
	return append(out, "FLOSS")
}

// AblationVariants lists, for every method, its baseline (its own similarity, the default
// templates), feature surgery flipped from the method's own (clip.MethodSpec.FeatureSurgery),
// each modifier (ModifierNames(); a combination the modifier's definition excludes fails in
// Options with the reason), and FLOSS's templates: one switch at a time, in Switches' order.
func AblationVariants(methods, modifiers []string) ([]Variant, error) {
	var out []Variant
	for _, name := range methods {
		spec, err := clip.LookupMethod(name)
		if err != nil {
			return nil, err
		}
		m := string(spec.Name)
		flip := surgery.FeatureSurgeryOn
		if spec.FeatureSurgery {
			flip = surgery.FeatureSurgeryOff
		}
		out = append(out, Variant{Method: m}, Variant{Method: m, Switch: "fs " + string(flip), FeatureSurgery: flip})
		for _, mod := range modifiers {
			out = append(out, Variant{Method: m, Switch: "+" + mod, Modifier: mod})
		}
		out = append(out, Variant{Method: m, Switch: "FLOSS", FLOSS: true})
	}
	return out, nil
}

// Options are the variant's surgery options on a label set (MethodOptions, and the VFM when its
// method reads one: WithVFM; FLOSS's templates are the caller's: ClassTemplates). An error is a
// combination the definitions exclude or an unknown name.
func (v Variant) Options(labels []string, vfm surgery.VFM) (surgery.Options, error) {
	o, err := MethodOptions(v.Name(), string(v.FeatureSurgery), false, 0)
	if err != nil {
		return surgery.Options{}, err
	}
	o.Labels = labels
	return WithVFM(o, vfm), nil
}

// FLOSSTemplates is FLOSS's choice of templates for the variant's pipeline on images (its
// method, feature surgery and modifier, and the VFM if it reads one, on the label set).
func FLOSSTemplates(ctx context.Context, ex *surgery.Explainer, v Variant, labels []string, vfm surgery.VFM, images ...image.Image) (surgery.ClassTemplates, error) {
	o, err := v.Options(labels, vfm)
	if err != nil {
		return nil, err
	}
	pix := make([]*imageprep.Pixels, len(images))
	for i, img := range images {
		pix[i] = imageprep.ToPixels(img)
	}
	sel, err := surgery.SelectTemplates(ctx, ex, pix, surgery.SelectOptions{Options: o})
	if err != nil {
		return nil, err
	}
	return sel.ClassTemplates(), nil
}

// EvaluateVariant runs the evaluation of one variant on the first limit images of ds (0 = all):
// its method (with its modifier) and feature surgery, and for FLOSS the templates chosen on
// those images first (evaluate.SelectTemplates). mo carries the rest (sliding windows, the VFM a
// method may read). progress may be nil.
func EvaluateVariant(ctx context.Context, ex *surgery.Explainer, ds *evaluate.Dataset, v Variant, mo evaluate.ModelOptions,
	limit int, progress io.Writer) (*evaluate.MethodReport, error) {
	mo.FeatureSurgery = v.FeatureSurgery
	method := clip.Method(v.Name())
	if v.FLOSS {
		sel, err := evaluate.SelectTemplates(ctx, ex, ds, method, mo, limit, progress)
		if err != nil {
			return nil, err
		}
		mo.ClassTemplates = sel.ClassTemplates()
	}
	rep, err := evaluate.Run(ctx, ex, ds, evaluate.Config{Methods: []clip.Method{method}, Model: mo, Limit: limit, Progress: progress})
	if err != nil {
		return nil, err
	}
	return rep.Methods[0], nil
}

// AblationHeader is the metric table's header (AblationRow's columns).
func AblationHeader() []string {
	return []string{"method", "switch", "mIoU", "explain mIoU", "mSC", "pointing game", "images/s"}
}

// AblationRow is one variant's line of the metric table, percentages with one decimal; "–" for
// an undefined value.
func AblationRow(v Variant, r *evaluate.MethodReport) []string {
	pct := func(x float64) string {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "–"
		}
		return fmt.Sprintf("%.1f", 100*x)
	}
	pg := math.NaN()
	if r.Pointing.Total > 0 {
		pg = float64(r.Pointing.Hits) / float64(r.Pointing.Total)
	}
	return []string{v.Method, v.Column(), pct(r.Seg.MIoU), pct(r.Explain.MIoU), pct(r.Explain.MSC), pct(pg),
		fmt.Sprintf("%.2f", r.ImagesPerSecond)}
}

// Excluded says in a table cell why a variant did not run: its error without the packages'
// prefixes ("clip: ", …), at most 80 characters.
func Excluded(err error) string {
	var kept []string
	for _, part := range strings.Split(err.Error(), ": ") {
		switch part {
		case "clip", "surgery", "nbutil", "evaluate":
		default:
			kept = append(kept, part)
		}
	}
	msg := strings.Join(kept, ": ")
	if r := []rune(msg); len(r) > 80 {
		msg = string(r[:79]) + "…"
	}
	return "n/a: " + msg
}
