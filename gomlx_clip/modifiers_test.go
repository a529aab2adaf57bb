package clip

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/npy"
)

// The modifiers and the methods GEM and SC-CLIP against their authors' own code run on the
// golden ViT (testdata/modifiers/gen_modifiers.py; README.md there names the commits), at the
// native 224 and one other size, all tokens within the golden tolerance for raw features.

// referenceCase is one output of gen_modifiers.py and the options that must reproduce it.
type referenceCase struct {
	file string
	size string // "224", "160x288" or "288"
	opt  ImageOptions
	// patchesOnly: the reference has no class token (SC-CLIP); compare tokens 1.. with it.
	patchesOnly bool
}

func referenceCases() []referenceCase {
	res := func(m Method, r ResCLIPOptions) ImageOptions {
		return ImageOptions{Method: m, Modifiers: Modifiers(ModifierResCLIP), ResCLIP: r}
	}
	return []referenceCase{
		{file: "resclip_naclip_224", size: "224", opt: res(MethodNACLIP, ResCLIPOptions{})},
		{file: "resclip_naclip_160x288", size: "160x288", opt: res(MethodNACLIP, ResCLIPOptions{})},
		{file: "resclip_sclip_224", size: "224", opt: res(MethodSCLIP, ResCLIPOptions{})},
		{file: "resclip_clearclip_160x288", size: "160x288", opt: res(MethodClearCLIP, ResCLIPOptions{})},
		{file: "resclip_raw_224", size: "224", opt: res(MethodRaw, ResCLIPOptions{})},
		{file: "resclip_rcs_naclip_224", size: "224", opt: res(MethodNACLIP, ResCLIPOptions{NoSFR: true})},
		{file: "resclip_sfr_naclip_160x288", size: "160x288", opt: res(MethodNACLIP, ResCLIPOptions{NoRCS: true})},
		{file: "scclip_224", size: "224", opt: ImageOptions{Method: MethodSCCLIP}, patchesOnly: true},
		{file: "scclip_288", size: "288", opt: ImageOptions{Method: MethodSCCLIP}, patchesOnly: true},
		{file: "gem_224", size: "224", opt: ImageOptions{Method: MethodGEM}},
		{file: "gem_160x288", size: "160x288", opt: ImageOptions{Method: MethodGEM}},
		{file: "gem_iter3_temp0.5_224", size: "224", opt: ImageOptions{Method: MethodGEM, GEM: GEMOptions{Iterations: 3, Temperature: 0.5}}},
	}
}

// referenceInput is the generator's image for a size: the golden demo at 224, oraclePixels
// otherwise.
func referenceInput(t *testing.T, size string) (pix []float32, h, w int) {
	switch size {
	case "224":
		return goldens.Load(t, "preprocess/demo_224.f32.npy").F32, 224, 224
	case "160x288":
		return oraclePixels(160, 288), 160, 288
	case "288":
		return oraclePixels(288, 288), 288, 288
	}
	t.Fatalf("no input for size %q", size)
	return nil, 0, 0
}

func readReference(t *testing.T, name string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile(filepath.Join("testdata", "modifiers", name))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// goldenClasses are the label set the generator gives ResCLIP: the 59 demo classes' features.
func goldenClasses(t *testing.T) *Features {
	a := goldens.Load(t, "text/text_features_all59.f32.npy")
	return &Features{Data: a.F32, Shape: a.Shape}
}

func TestModifiersMatchAuthorsCode(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	classes := goldenClasses(t)
	for _, c := range referenceCases() {
		t.Run(c.file, func(t *testing.T) {
			want := readReference(t, c.file+".f32.npy")
			pix, h, w := referenceInput(t, c.size)
			f, err := m.EncodeImageWithClasses(pix, 1, h, w, c.opt, classes)
			if err != nil {
				t.Fatal(err)
			}
			got := f.Data
			if c.patchesOnly {
				got = got[f.Shape[2]:]
			}
			compareReference(t, got, want.F32)
		})
	}
}

// compareReference checks got against want within the golden tolerance for raw features.
func compareReference(t *testing.T, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d values, the reference has %d", len(got), len(want))
	}
	worst, bad, first := 0.0, 0, -1
	for i, w := range want {
		d := math.Abs(float64(got[i]) - float64(w))
		if !(d <= atol+rtol*math.Abs(float64(w))) {
			bad++
			if first < 0 {
				first = i
			}
		}
		worst = math.Max(worst, d)
	}
	if bad > 0 {
		t.Fatalf("%d of %d values off the authors' output (atol %g, rtol %g); worst |diff| %.3g, first at %d (%v vs %v)",
			bad, len(want), atol, rtol, worst, first, got[first], want[first])
	}
	t.Logf("max |diff| %.3g", worst)
}

// The README's modifier table is the descriptors' (go test -run TestREADME -update-readme).
func TestREADMEModifierTable(t *testing.T) {
	checkREADMESection(t, "<!-- modifier table: generated from clip.AllModifiers() -->\n", "<!-- end of modifier table -->\n",
		modifierTableMarkdown(AllModifiers()))
}

func modifierTableMarkdown(specs []ModifierSpec) string {
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	var b strings.Builder
	b.WriteString("| modifier | what changes | composes with | ViT only | defaults and layer rule | source |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- |\n")
	for _, s := range specs {
		bases := make([]string, len(s.Bases))
		for i, m := range s.Bases {
			bases[i] = "`" + string(m) + "`"
		}
		vit := "no"
		if s.ViTOnly {
			vit = "yes"
		}
		fmt.Fprintf(&b, "| `%s` (%s) | %s | %s (not the others: %s) | %s | %s | %s; %s |\n", s.Name, cell(s.Title), cell(s.Changes),
			strings.Join(bases, ", "), cell(s.Excluded), vit, cell(s.Defaults), cell(s.Paper), cell(s.Code))
	}
	return b.String()
}

// Every modifier descriptor is complete, its bases are methods, and every method is either a
// base or refused with the descriptor's reason; names parse in any spelling.
func TestModifierTable(t *testing.T) {
	for _, s := range AllModifiers() {
		for field, v := range map[string]string{"Title": s.Title, "Changes": s.Changes, "Steps": s.Steps, "Excluded": s.Excluded,
			"Defaults": s.Defaults, "Paper": s.Paper, "Code": s.Code} {
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s: empty %s", s.Name, field)
			}
		}
		for _, m := range AllMethods() {
			_, _, err := ParseMethodWithModifiers(string(m) + "+" + strings.ToUpper(string(s.Name)))
			if slices.Contains(s.Bases, m) != (err == nil) {
				t.Errorf("%s on %s: %v (bases %v)", s.Name, m, err, s.Bases)
			}
			if err != nil && (!errors.Is(err, ErrModifierBase) || !strings.Contains(err.Error(), s.Excluded) || strings.Contains(err.Error(), "\n")) {
				t.Errorf("%s on %s: want one line ErrModifierBase with the reason, got %v", s.Name, m, err)
			}
		}
	}
	if ms, err := ParseModifiers(" ResCLIP, resclip "); err != nil || ms != Modifiers(ModifierResCLIP) {
		t.Errorf("ParseModifiers = %q, %v", ms, err)
	}
	if _, err := ParseModifiers("resclip,nope"); !errors.Is(err, ErrUnknownModifier) {
		t.Errorf("unknown modifier: %v", err)
	}
	m, ms, err := ParseMethodWithModifiers("NACLIP+resclip")
	if err != nil || m != MethodNACLIP || ms != Modifiers(ModifierResCLIP) || MethodLabel(m, ms) != "naclip+resclip" {
		t.Errorf("ParseMethodWithModifiers = %q %q, %v", m, ms, err)
	}
	if err := (ImageOptions{Method: MethodNACLIP, Modifiers: "resclip,resclip"}).Validate(); err == nil {
		t.Error("a modifier set not in canonical form is accepted")
	}
}

// The rule that places the authors' ViT-B layer choices in other towers.
func TestLayerRules(t *testing.T) {
	for _, c := range []struct{ layers, from, to, pre, post, fFrom, fTo int }{
		{12, 6, 9, 9, 4, 4, 10}, // the authors' own: ViT-B/16 and B/32
		{24, 11, 17, 17, 7, 7, 20},
		{8, 4, 6, 6, 3, 3, 7}, // the golden test models
		{3, 2, 2, 2, 2, 2, 2},
	} {
		from, to := ResCLIPLayers(c.layers)
		pre, post, fFrom, fTo := SCCLIPLayers(c.layers)
		if from != c.from || to != c.to || pre != c.pre || post != c.post || fFrom != c.fFrom || fTo != c.fTo {
			t.Errorf("%d blocks: ResCLIP %d..%d, SC-CLIP pre %d post %d fusion %d..%d; want %+v", c.layers, from, to, pre, post, fFrom, fTo, c)
		}
		if to > c.layers-1 || fTo > c.layers-1 || pre > c.layers-1 {
			t.Errorf("%d blocks: a layer choice reaches the last block", c.layers)
		}
	}
}

// Bad input: one-line errors naming the problem.
func TestModifiersBadInput(t *testing.T) {
	vit, rn := loadGoldenModel(t, "vit16"), loadGoldenModel(t, "rn")
	classes := goldenClasses(t)
	pix := oraclePixels(64, 64)
	res := Modifiers(ModifierResCLIP)
	for _, c := range []struct {
		name string
		m    *Model
		opt  ImageOptions
		cls  *Features
		want error
	}{
		{"resnet", rn, ImageOptions{Method: MethodRaw, Modifiers: res}, classes, ErrViTOnly},
		{"maskclip", vit, ImageOptions{Method: MethodMaskCLIP, Modifiers: res}, classes, ErrModifierBase},
		{"gem", vit, ImageOptions{Method: MethodGEM, Modifiers: res}, classes, ErrModifierBase},
		{"scclip", vit, ImageOptions{Method: MethodSCCLIP, Modifiers: res}, classes, ErrModifierBase},
		{"no classes", vit, ImageOptions{Method: MethodNACLIP, Modifiers: res}, nil, ErrNoClasses},
		{"wrong classes", vit, ImageOptions{Method: MethodNACLIP, Modifiers: res}, &Features{Data: make([]float32, 10), Shape: []int{2, 5}}, ErrNoClasses},
		{"unknown", vit, ImageOptions{Method: MethodNACLIP, Modifiers: "nope"}, classes, ErrUnknownModifier},
		{"blocks past the depth", vit, ImageOptions{Method: MethodNACLIP, Modifiers: res, ResCLIP: ResCLIPOptions{RCSFrom: 2, RCSTo: 8}}, classes, nil},
		{"inverted blocks", vit, ImageOptions{Method: MethodNACLIP, Modifiers: res, ResCLIP: ResCLIPOptions{RCSFrom: 5, RCSTo: 3}}, classes, nil},
		{"lambda above 1", vit, ImageOptions{Method: MethodNACLIP, Modifiers: res, ResCLIP: ResCLIPOptions{SFRLambda: 2}}, classes, nil},
		{"NaN tau", vit, ImageOptions{Method: MethodNACLIP, Modifiers: res, ResCLIP: ResCLIPOptions{RCSTau: math.NaN()}}, classes, nil},
		{"gem iterations", vit, ImageOptions{Method: MethodGEM, GEM: GEMOptions{Iterations: -1}}, nil, nil},
		{"gem temperature", vit, ImageOptions{Method: MethodGEM, GEM: GEMOptions{Temperature: math.Inf(1)}}, nil, nil},
		{"scclip contamination", vit, ImageOptions{Method: MethodSCCLIP, SCCLIP: SCCLIPOptions{Contamination: 0.9}}, nil, nil},
		{"scclip blocks", vit, ImageOptions{Method: MethodSCCLIP, SCCLIP: SCCLIPOptions{PreAdjust: 8}}, nil, nil},
		{"gem on resnet", rn, ImageOptions{Method: MethodGEM}, nil, ErrViTOnly},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.m.EncodeImageWithClasses(pix, 1, 64, 64, c.opt, c.cls)
			if err == nil || strings.Contains(err.Error(), "\n") || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("got %v, want a one-line error (%v)", err, c.want)
			}
			t.Log(err)
		})
	}
}

// ResCLIP on CLIP Surgery (this project's composition, no authors' reference): the class token
// stays the original path's, the patch tokens change, and without SFR no text is needed.
func TestResCLIPOnSurgery(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	const h, w = 96, 128
	pix := oraclePixels(h, w)
	plain, err := m.EncodeImage(pix, 1, h, w, ImageOptions{Method: MethodSurgery})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []ResCLIPOptions{{NoSFR: true}, {}} {
		got, err := m.EncodeImageWithClasses(pix, 1, h, w, ImageOptions{Method: MethodSurgery, Modifiers: Modifiers(ModifierResCLIP), ResCLIP: r}, goldenClasses(t))
		if err != nil {
			t.Fatal(err)
		}
		e := m.Config.EmbedDim
		if !slices.Equal(got.Data[:e], plain.Data[:e]) {
			t.Errorf("%+v: the class token changed", r)
		}
		if slices.Equal(got.Data[e:], plain.Data[e:]) {
			t.Errorf("%+v: the patch tokens did not change", r)
		}
		checkFinite(t, got.Data)
	}
}

// TestReadsVFM: the one check of "does this method read a VFM", for names, aliases' case and
// labels with modifiers.
func TestReadsVFM(t *testing.T) {
	for label, want := range map[string]bool{
		"proxyclip": true, "ProxyCLIP": true, " proxyclip ": true,
		"surgery": false, "naclip+resclip": false, "raw": false,
		"": false, "nope": false, "proxyclip+resclip": false, // ResCLIP is not defined on ProxyCLIP
	} {
		if got := ReadsVFM(label); got != want {
			t.Errorf("ReadsVFM(%q) = %v, want %v", label, got, want)
		}
	}
}
