package surgery

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/npy"
)

// flossMutation names a wrong reading of FLOSS that the independent re-computation can apply, to
// show that the comparison with the implementation fails for it.
type flossMutation int

const (
	faithful       flossMutation = iota
	unscaled                     // softmax of the raw logits (no logit scale)
	allPixels                    // a class's entropy over every pixel, not only those assigned to it
	highestFirst                 // experts by highest entropy
	tokenGrid                    // entropy on the token grid, not at the image's pixels
	ensembleLabels               // each candidate's classifier replaced by the 85-template ensemble
)

// flossReference recomputes FLOSS's selection through the public API only: every candidate's
// per-pixel logits come from PixelSimilarity with that one template; softmax, class
// probabilities, argmax, entropy and ranking are written out here in float64. It returns the
// mean entropy [class][candidate] (NaN without pixels) and the experts per class.
func flossReference(t *testing.T, e *Explainer, images []*imageprep.Pixels, opt SelectOptions, mut flossMutation) ([][]float64, [][]int) {
	t.Helper()
	labels, cands := opt.Labels, opt.Candidates
	classes := len(labels)
	classOf := func(l int) int { return l }
	if opt.LabelClass != nil {
		classes = slices.Max(opt.LabelClass) + 1
		classOf = func(l int) int { return opt.LabelClass[l] }
	}
	scale := 100.0
	if mut == unscaled {
		scale = 1
	}
	sum := make([][]float64, classes)
	cnt := make([][]float64, classes)
	for c := range sum {
		sum[c], cnt[c] = make([]float64, len(cands)), make([]float64, len(cands))
	}
	for _, p := range images {
		for m, tmpl := range cands {
			o := opt.Options
			o.Templates = []string{tmpl}
			if mut == ensembleLabels {
				o.Templates = nil
			}
			planes, _, err := e.PixelSimilarity(context.Background(), p, o)
			if err != nil {
				t.Fatal(err)
			}
			if mut == tokenGrid {
				side := 14
				for l := range planes {
					planes[l] = resizeNCHW(planes[l], p.H, p.W, side, side)
				}
			}
			for i := range planes[0] {
				z, top := 0.0, math.Inf(-1)
				for l := range planes {
					top = math.Max(top, scale*float64(planes[l][i]))
				}
				q := make([]float64, len(planes))
				for l := range planes {
					q[l] = math.Exp2((scale*float64(planes[l][i]) - top) * math.Log2E)
					z += q[l]
				}
				prob := make([]float64, classes)
				for l := range q {
					prob[classOf(l)] = math.Max(prob[classOf(l)], q[l]/z)
				}
				arg, h := 0, 0.0
				for c, v := range prob {
					if v > prob[arg] {
						arg = c
					}
					if v > 0 {
						h -= v * math.Log(v)
					}
				}
				if mut == allPixels {
					for c := range prob {
						sum[c][m] += h
						cnt[c][m]++
					}
					continue
				}
				sum[arg][m] += h
				cnt[arg][m]++
			}
		}
	}
	ent := make([][]float64, classes)
	experts := make([][]int, classes)
	for c := range ent {
		ent[c] = make([]float64, len(cands))
		var ranked []int
		for m := range cands {
			ent[c][m] = math.NaN()
			if cnt[c][m] > 0 {
				ent[c][m] = sum[c][m] / cnt[c][m]
				ranked = append(ranked, m)
			}
		}
		sort.SliceStable(ranked, func(a, b int) bool {
			if mut == highestFirst {
				return ent[c][ranked[a]] > ent[c][ranked[b]]
			}
			return ent[c][ranked[a]] < ent[c][ranked[b]]
		})
		experts[c] = ranked[:min(len(ranked), cmp.Or(opt.Experts, DefaultExperts))]
		if len(experts[c]) == 0 {
			for m := range cands {
				experts[c] = append(experts[c], m)
			}
		}
	}
	return ent, experts
}

// flossImages are two small golden images (a crop of demo.jpg and astronaut.png), small enough
// for the float64 re-computation.
func flossImages(t *testing.T) []*imageprep.Pixels {
	t.Helper()
	img, err := imageprep.DecodeFile(goldens.Path(t, "images", "astronaut.png"))
	if err != nil {
		t.Fatal(err)
	}
	astro := imageprep.ToPixels(img)
	return []*imageprep.Pixels{
		cropPixels(demoPixels(t), Window{X0: 100, Y0: 60, X1: 340, Y1: 260}),
		cropPixels(astro, Window{X0: 0, Y0: 0, X1: min(astro.W, 256), Y1: min(astro.H, 192)}),
	}
}

// compareSelection reports whether the implementation's selection equals the reference's:
// entropies within tol (NaN where the reference has none) and the same experts.
func compareSelection(got *TemplateSelection, ent [][]float64, experts [][]int, tol float64) (bool, string) {
	for c := range ent {
		for m := range ent[c] {
			g, w := got.Entropy[c][m], ent[c][m]
			if math.IsNaN(g) != math.IsNaN(w) || math.Abs(g-w) > tol*math.Max(1, math.Abs(w)) {
				return false, "entropy differs"
			}
		}
		if !slices.Equal(got.Experts[c], experts[c]) {
			return false, "experts differ"
		}
	}
	return true, ""
}

// FLOSS's selection equals an independent float64 re-computation through PixelSimilarity, for
// CLIP Surgery and for NACLIP with sliding windows and grouped labels; each mutation of a
// defining step (logit scale, pixels assigned to the class, lowest entropy first, entropy at the
// image's pixels, single-template classifiers) makes the comparison fail.
func TestSelectTemplatesIndependent(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	images := flossImages(t)
	cands := clip.ImageNetTemplates()[:12]
	for _, c := range []struct {
		name      string
		opt       SelectOptions
		mutations []flossMutation
	}{
		{"surgery", SelectOptions{Options: Options{Labels: []string{"person", "bench", "grass", "sky", "tree", "road"}},
			Candidates: cands, Experts: 3}, []flossMutation{unscaled, allPixels, highestFirst, tokenGrid, ensembleLabels}},
		{"naclip slide, grouped labels", SelectOptions{Options: Options{Labels: []string{"person", "man", "sky", "grass", "tree", "building"},
			Method: clip.MethodNACLIP, Slide: true, Size: 160, Stride: 96},
			Candidates: cands, LabelClass: []int{0, 0, 1, 2, 3, 4}}, nil},
	} {
		got, err := SelectTemplates(context.Background(), e, images, c.opt)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.Images != 2 || len(got.Experts) != len(got.Entropy) {
			t.Fatalf("%s: %d images, %d classes", c.name, got.Images, len(got.Experts))
		}
		t.Logf("%s: experts %v, no expert %v", c.name, got.Experts, got.NoExpert)
		if nontrivial := slices.ContainsFunc(got.Experts, func(x []int) bool { return x[0] != 0 && !slices.Equal(x, got.Experts[0]) }); !nontrivial {
			t.Errorf("%s: test premise: classes with different experts, not the first candidates (%v)", c.name, got.Experts)
		}
		ent, experts := flossReference(t, e, images, c.opt, faithful)
		if ok, why := compareSelection(got, ent, experts, 1e-5); !ok {
			t.Errorf("%s: %s:\n got %v %v\nwant %v %v", c.name, why, got.Experts, got.Entropy, experts, ent)
		}
		for _, mut := range c.mutations {
			ment, mexperts := flossReference(t, e, images, c.opt, mut)
			if ok, _ := compareSelection(got, ment, mexperts, 1e-5); ok {
				t.Errorf("%s: mutation %d gives the implementation's selection: the comparison cannot fail", c.name, mut)
			}
		}
		ct := got.ClassTemplates()
		for l, label := range c.opt.Labels {
			class := l
			if c.opt.LabelClass != nil {
				class = c.opt.LabelClass[l]
			}
			want := make([]string, len(experts[class]))
			for j, m := range experts[class] {
				want[j] = cands[m]
			}
			if !slices.Equal(ct[label], want) {
				t.Errorf("%s: ClassTemplates[%s] = %q, want %q", c.name, label, ct[label], want)
			}
		}
	}
}

// The selection's templates drive the maps: Explain with ClassTemplates gives each class the
// ensemble of its own list (TextFeatures of the class alone over that list); classes without a
// list keep Templates; lists of texts that are no class are ignored.
func TestClassTemplatesInExplain(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	labels := []string{"person", "bench", "grass", "sky"}
	ct := ClassTemplates{"person": {"a photo of a {}.", "itap of my {}."}, "sky": {"a {} at night."}, "unicorn": {"a {}."}}
	res, err := e.ExplainPixels(demoPixels(t), []string{"person"}, Options{Labels: labels, ClassTemplates: ct,
		Templates: []string{"a bad photo of a {}.", "a photo of many {}."}, FeatureSurgery: FeatureSurgeryOff})
	if err != nil {
		t.Fatal(err)
	}
	feats, err := e.encodeImage(demoPixels(t), &plan{size: 224, method: clip.MethodSurgery})
	if err != nil {
		t.Fatal(err)
	}
	for k, label := range labels {
		list, ok := ct[label]
		if !ok {
			list = []string{"a bad photo of a {}.", "a photo of many {}."}
		}
		text, err := e.TextFeatures([]string{label}, list)
		if err != nil {
			t.Fatal(err)
		}
		want := RawSimilarity(feats, text).Column(0)
		if d := maxAbsDiff(res.Similarity.Column(k), want); d > 1e-6 {
			t.Errorf("%s: similarity differs from its own ensemble by %g", label, d)
		}
	}
	for name, bad := range map[string]ClassTemplates{
		"empty": {"person": {}},
		"no {}": {"sky": {"a photo"}},
	} {
		err := CheckTargets([]string{"person"}, Options{Labels: labels, ClassTemplates: bad})
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Bad selection options are one-line errors.
func TestSelectTemplatesBad(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	ctx := context.Background()
	two := []string{"dog", "cat"}
	for name, opt := range map[string]SelectOptions{
		"one label":        {Options: Options{Labels: []string{"dog"}}},
		"templates":        {Options: Options{Labels: two, Templates: []string{"a {}"}}},
		"class templates":  {Options: Options{Labels: two, ClassTemplates: ClassTemplates{"dog": {"a {}"}}}},
		"single":           {Options: Options{Labels: two, Single: true}},
		"negative experts": {Options: Options{Labels: two}, Experts: -1},
		"NaN scale":        {Options: Options{Labels: two}, LogitScale: math.NaN()},
		"label classes":    {Options: Options{Labels: two}, LabelClass: []int{0}},
		"class gap":        {Options: Options{Labels: []string{"a", "b", "c"}}, LabelClass: []int{0, 2, 2}},
		"candidate no {}":  {Options: Options{Labels: two}, Candidates: []string{"a photo"}},
		"no candidates":    {Options: Options{Labels: two}, Candidates: []string{}},
		"bad method":       {Options: Options{Labels: two, Method: "nope"}},
	} {
		_, err := e.NewTemplateSelector(ctx, opt)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "surgery: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
	s, err := e.NewTemplateSelector(ctx, SelectOptions{Options: Options{Labels: two}, Candidates: clip.ImageNetTemplates()[:2]})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Selection(); err == nil {
		t.Error("a selection of no image")
	}
	if err := s.Add(ctx, &imageprep.Pixels{W: 2, H: 2, C: 3}); err == nil {
		t.Error("malformed pixels accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Add(cancelled, demoPixels(t)); err == nil {
		t.Error("a cancelled Add succeeded")
	}
	if _, err := s.Selection(); err == nil {
		t.Error("failed Adds counted as images")
	}
}

// flossGolden is testdata/floss/golden.json, written by generate.py with FLOSS's own code.
type flossGolden struct {
	Commit     string   `json:"floss_commit"`
	Names      []string `json:"names"`
	NameClass  []int    `json:"name_class"`
	Classes    []string `json:"classes"`
	Templates  int      `json:"templates"`
	LogitScale float64  `json:"logit_scale"`
	TopN       int      `json:"top_n"`
	Images     int      `json:"images"`
	Rankings   struct {
		Classes map[string]struct {
			Ranking []struct {
				Entropy  float64 `json:"entropy"`
				Percent  float64 `json:"pixel_percentage"`
				Template int     `json:"template_id"`
			} `json:"entropy_ranking"`
		} `json:"classes"`
	} `json:"rankings"`
	Selected map[string][]int `json:"selected"`
}

// The defining steps against FLOSS's authors' code (EntropyMetric and NACLIP's
// _load_template_rankings at the commit golden.json names) on the same fixed logits: per
// template and class the pixel count and mean entropy (float32 in their code, with 1e-10 in the
// logarithm), and the four experts of every class, a class some templates never predict included.
func TestFLOSSAuthorsGolden(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "floss", "golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g flossGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if g.Commit != "ccf1d49dba37d0e35316dc50be57d133745a168a" || g.LogitScale != DefaultSelectLogitScale || g.TopN != DefaultExperts {
		t.Fatalf("golden made with commit %s, logit scale %v, top_n %d", g.Commit, g.LogitScale, g.TopN)
	}
	tally := newEntropyTally(g.Templates, len(g.Classes))
	pixels := 0
	for i := range g.Images {
		raw, err := os.ReadFile(filepath.Join("testdata", "floss", fmt.Sprintf("logits_%d.f32.npy", i)))
		if err != nil {
			t.Fatal(err)
		}
		a, err := npy.Parse(raw)
		if err != nil || a.F32 == nil || len(a.Shape) != 4 || a.Shape[0] != g.Templates || a.Shape[1] != len(g.Names) {
			t.Fatalf("logits_%d: %v %v", i, a, err)
		}
		hw := a.Shape[2] * a.Shape[3]
		pixels += hw
		for m := range g.Templates {
			planes := make([][]float32, len(g.Names))
			for l := range planes {
				planes[l] = a.F32[(m*len(g.Names)+l)*hw : (m*len(g.Names)+l+1)*hw]
			}
			sum, count := pixelEntropies(planes, g.LogitScale, g.NameClass, len(g.Classes))
			tally.add(m, sum, count)
		}
	}
	empty := 0
	for c, name := range g.Classes {
		ranking := g.Rankings.Classes[name].Ranking
		if len(ranking) != g.Templates {
			t.Fatalf("%s: %d ranked templates", name, len(ranking))
		}
		for _, r := range ranking {
			n := tally.count[r.Template*len(g.Classes)+c]
			if want := int64(math.Round(r.Percent * float64(pixels) / 100)); n != want {
				t.Errorf("%s, template %d: %d pixels, the authors' %d", name, r.Template, n, want)
			}
			if n == 0 {
				empty++ // the authors' entropy 0.0 there; the selection drops it
				continue
			}
			if got := tally.entropy(r.Template, c); math.Abs(got-r.Entropy) > 2e-6 {
				t.Errorf("%s, template %d: entropy %v, the authors' %v", name, r.Template, got, r.Entropy)
			}
		}
		if got := tally.experts(c, g.Templates, g.TopN); !slices.Equal(got, g.Selected[name]) {
			t.Errorf("%s: experts %v, the authors' %v", name, got, g.Selected[name])
		}
	}
	if empty == 0 {
		t.Error("test premise: a class some templates give no pixel")
	}
}

// A class that no candidate predicts on any pixel gets every candidate (CLIP-DINOiser's rule in
// FLOSS's code); the others their experts.
func TestFLOSSNoExpert(t *testing.T) {
	planes := [][]float32{{0.3, 0.1, 0.2}, {0.1, 0.3, 0.2}, {0, 0, 0}} // label 2 never wins
	s := &TemplateSelector{opt: SelectOptions{Options: Options{Labels: []string{"a", "b", "c"}}, Experts: 1},
		candidates: []string{"x {}", "y {}"}, classes: 3, tally: newEntropyTally(2, 3), images: 1}
	for m := range 2 {
		sum, count := pixelEntropies(planes, 100, nil, 3)
		s.tally.add(m, sum, count)
	}
	sel, err := s.Selection()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sel.NoExpert, []bool{false, false, true}) || !slices.Equal(sel.Experts[2], []int{0, 1}) ||
		len(sel.Experts[0]) != 1 || !math.IsNaN(sel.Entropy[2][0]) || sel.Pixels[0][0] != 2 || sel.Pixels[1][1] != 1 {
		t.Errorf("selection %+v", sel)
	}
	if ct := sel.ClassTemplates(); !slices.Equal(ct["c"], []string{"x {}", "y {}"}) || !slices.Equal(ct["a"], []string{"x {}"}) {
		t.Errorf("ClassTemplates %v", ct)
	}
}

// expNeg is e^x within 1e-9 relative over the softmax's range (x ≤ 0), 0 where e^x leaves the
// normal range.
func TestExpNeg(t *testing.T) {
	for i := 0; i <= 2_000_000; i++ {
		x := -708 * float64(i) / 2_000_000
		got, want := expNeg(x), math.Exp(x)
		if math.Abs(got-want) > 1e-9*want {
			t.Fatalf("expNeg(%v) = %v, math.Exp %v", x, got, want)
		}
	}
	for _, x := range []float64{0, -1e-300, -0.5 * math.Ln2, -1, -700.5} {
		if got, want := expNeg(x), math.Exp(x); math.Abs(got-want) > 1e-9*want {
			t.Errorf("expNeg(%v) = %v, math.Exp %v", x, got, want)
		}
	}
	if expNeg(-708.5) != 0 || expNeg(math.Inf(-1)) != 0 {
		t.Error("expNeg below the normal range is not 0")
	}
}

// The block path for ungrouped labels and the per-pixel path for grouped ones agree on an
// identity grouping; the block path handles a partial last block.
func TestEntropyPathsAgree(t *testing.T) {
	const labels, n = 7, 1000 + 37
	planes := make([][]float32, labels)
	identity := make([]int, labels)
	for l := range planes {
		identity[l] = l
		planes[l] = make([]float32, n)
		for i := range planes[l] {
			planes[l][i] = float32(math.Sin(float64(i*(l+3)))*0.05 + 0.2)
		}
	}
	sumA, countA := make([]float64, labels), make([]int64, labels)
	labelEntropies(planes, 100, sumA, countA)
	sumB, countB := make([]float64, labels), make([]int64, labels)
	groupedEntropies(planes, 100, identity, sumB, countB)
	if !slices.Equal(countA, countB) || maxAbsDiff64(sumA, sumB) > 1e-9 {
		t.Errorf("block path %v %v, per-pixel path %v %v", sumA, countA, sumB, countB)
	}
	var total int64
	for _, c := range countA {
		total += c
	}
	if total != n {
		t.Errorf("%d pixels tallied of %d", total, n)
	}
}

func maxAbsDiff64(a, b []float64) float64 {
	m := 0.0
	for i := range a {
		m = max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// LabelFeatures are the features an explanation reads for its label set: each class's own
// ensemble where ClassTemplates gives it a list, the shared Templates otherwise, and the plain
// TextFeatures of the labels without ClassTemplates (what an evaluation warms before its images).
func TestLabelFeatures(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	labels := []string{"person", "bench", "sky"}
	shared := []string{"a bad photo of a {}.", "a photo of many {}."}
	ct := ClassTemplates{"sky": {"a {} at night."}}
	got, err := e.LabelFeatures(context.Background(), Options{Labels: labels, Templates: shared, ClassTemplates: ct})
	if err != nil {
		t.Fatal(err)
	}
	if got.Rows != len(labels) {
		t.Fatalf("%d rows for %d labels", got.Rows, len(labels))
	}
	for k, label := range labels {
		list, ok := ct[label]
		if !ok {
			list = shared
		}
		want, err := e.TextFeatures([]string{label}, list)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(got.Row(k), want.Row(0)); d > 1e-6 {
			t.Errorf("%s: row differs from its own ensemble by %g", label, d)
		}
	}
	plain, err := e.LabelFeatures(context.Background(), Options{Labels: labels, Templates: shared})
	if err != nil {
		t.Fatal(err)
	}
	want, err := e.TextFeatures(labels, shared)
	if err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(plain.Data, want.Data); d != 0 {
		t.Errorf("without ClassTemplates: differs from TextFeatures by %g", d)
	}
	if _, err := e.LabelFeatures(context.Background(), Options{Labels: []string{}}); err == nil {
		t.Error("an empty label set was accepted")
	}
}
