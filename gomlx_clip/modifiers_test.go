package clip

import (
	"fmt"
	"math"
	"path/filepath"
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

var _ = fmt.Sprint
