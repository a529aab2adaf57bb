package nbutil

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
)

// Every method gets its baseline, feature surgery flipped from its own, each modifier and FLOSS,
// in the order of Switches.
func TestAblationVariants(t *testing.T) {
	vs, err := AblationVariants([]string{"cs", "naclip"}, []string{"resclip"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vs {
		got = append(got, v.Method+" "+v.Column()+" "+v.Name())
	}
	want := []string{"surgery baseline surgery", "surgery fs off surgery", "surgery +resclip surgery+resclip", "surgery FLOSS surgery",
		"naclip baseline naclip", "naclip fs on naclip", "naclip +resclip naclip+resclip", "naclip FLOSS naclip"}
	if !slices.Equal(got, want) {
		t.Errorf("variants %q\nwant %q", got, want)
	}
	if sw := Switches([]string{"resclip"}); len(sw) != 4 || sw[2] != "+resclip" || sw[3] != "FLOSS" {
		t.Errorf("Switches = %q", sw)
	}
	if o, err := vs[5].Options([]string{"a", "b"}, nil); err != nil || o.FeatureSurgery != surgery.FeatureSurgeryOn || o.Method != clip.MethodNACLIP || len(o.Labels) != 2 {
		t.Errorf("fs-on options %+v, %v", o, err)
	}
	if _, err := AblationVariants([]string{"nope"}, nil); err == nil {
		t.Error("an unknown method was accepted")
	}
	if got := Excluded(errors.New("evaluate: method maskclip+resclip: clip: modifier not defined: " + strings.Repeat("x", 100))); !strings.HasPrefix(got, "n/a: method maskclip+resclip: modifier not defined: x") || len([]rune(got)) > 85 {
		t.Errorf("Excluded = %q", got)
	}
}

// EvaluateVariant on the synthetic dataset: flipping feature surgery and FLOSS's templates reach
// the predictions (other areas than the baseline's), and the row formats every metric.
func TestEvaluateVariant(t *testing.T) {
	m, err := clip.Load(context.Background(), goldens.Path(t, "models", "vit16.openai.safetensors"), clip.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := surgery.NewExplainerWith(m, surgery.ExplainerOptions{NoTextCache: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := evaluate.WriteSynthetic(dir, evaluate.LayoutVOC, 2); err != nil {
		t.Fatal(err)
	}
	ds, err := evaluate.Open(dir, evaluate.DatasetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := AblationVariants([]string{"naclip"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var areas [][]int64
	for _, v := range vs {
		r, err := EvaluateVariant(context.Background(), ex, ds, v, evaluate.ModelOptions{}, 0, nil)
		if err != nil {
			t.Fatalf("%s: %v", v.Column(), err)
		}
		row := AblationRow(v, r)
		if len(row) != len(AblationHeader()) || row[0] != "naclip" || row[1] != v.Column() || strings.Contains(strings.Join(row, ""), "NaN") {
			t.Errorf("row %q", row)
		}
		areas = append(areas, r.Areas.Pred)
	}
	if slices.Equal(areas[0], areas[1]) || slices.Equal(areas[0], areas[2]) {
		t.Errorf("predicted areas: baseline %v, fs on %v, FLOSS %v: a switch changed nothing", areas[0], areas[1], areas[2])
	}
	nan := AblationRow(vs[0], &evaluate.MethodReport{Seg: evaluate.SegMetrics{MIoU: math.NaN()}})
	if nan[2] != "–" || nan[5] != "–" {
		t.Errorf("undefined metrics shown as %q", nan)
	}
}

// With the modifier table's names, a modifier its definition excludes on a method fails in
// Options with the reason (the notebook shows it as "n/a"), and a covered one builds.
func TestAblationModifiers(t *testing.T) {
	vs, err := AblationVariants([]string{"maskclip", "naclip"}, ModifierNames())
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	defer func() {
		if seen < 2 {
			t.Errorf("test premise: a modifier on both methods, got %d variants with one", seen)
		}
	}()
	for _, v := range vs {
		if v.Modifier == "" {
			continue
		}
		seen++
		o, err := v.Options([]string{"a", "b"}, nil)
		spec := clip.AllModifiers()
		covered := false
		for _, s := range spec {
			if string(s.Name) == v.Modifier {
				covered = slices.Contains(s.Bases, clip.Method(v.Method))
			}
		}
		if covered != (err == nil) || (err == nil && string(o.Modifiers) != v.Modifier) {
			t.Errorf("%s: options %+v, %v (covered by the table: %v)", v.Name(), o, err, covered)
		}
		if err != nil && !strings.Contains(Excluded(err), "modifier not defined on this method: resclip on maskclip") {
			t.Errorf("%s: %s", v.Name(), Excluded(err))
		}
	}
}
