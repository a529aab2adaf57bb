package clip

import (
	"context"
	"encoding/json"
	"os"
	"strings"

	"testing"

	"github.com/clipsurgery/clipsurgery/gomlx_clip/tokenizer"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/npy"
)

func rowsOf(a *npy.Array) [][]int32 {
	n, l := a.Shape[0], a.Shape[1]
	rows := make([][]int32, n)
	for i := range rows {
		rows[i] = a.I32[i*l : (i+1)*l]
	}
	return rows
}

// The 59 x 85 prompts from the golden token ids: raw features and the ensemble.
func TestEncodeTextParity(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	raw, err := m.EncodeTokenRows(rowsOf(goldens.Load(t, "tokenizer/prompt_ensemble_ids.int32.npy")))
	if err != nil {
		t.Fatal(err)
	}
	goldens.AssertClose(t, "encode_text 59x85", raw.Data, []int{59, 85, 64}, goldens.Load(t, "text/encode_text_raw_all59x85.f32.npy"), atol, rtol)
	ens := EnsembleMean(raw, 59, 85)
	goldens.AssertClose(t, "text_features_all59", ens.Data, ens.Shape, goldens.Load(t, "text/text_features_all59.f32.npy"), atol, 0)

	tricky, err := m.EncodeTokenRows(rowsOf(goldens.Load(t, "tokenizer/tricky_ids.int32.npy")))
	if err != nil {
		t.Fatal(err)
	}
	goldens.AssertClose(t, "encode_text tricky", tricky.Data, tricky.Shape, goldens.Load(t, "text/encode_text_tricky.f32.npy"), atol, rtol)
}

// A single unbatched row at full context length, through EncodeTokens directly.
func TestEncodeTokensFullContext(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	f, err := m.EncodeTokens(rowsOf(goldens.Load(t, "debug/text/tokens.int32.npy")))
	if err != nil {
		t.Fatal(err)
	}
	goldens.AssertClose(t, "a photo of a bench.", f.Data, f.Shape, goldens.Load(t, "debug/text/encode_text.f32.npy"), atol, rtol)
}

// Texts through the tokenizer: the ensembles of "shoes", "bench", "person"+"bench" and of ""
// (the redundant features of single-text mode).
func TestPromptEnsembleFromText(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	for _, c := range []struct {
		classes []string
		golden  string
	}{
		{[]string{"shoes"}, "text/text_features_shoes.f32.npy"},
		{[]string{""}, "text/redundant_empty.f32.npy"},
		{[]string{"person", "bench"}, "text/text_features_person_bench.f32.npy"},
	} {
		f, err := m.EncodeTextWithPromptEnsemble(c.classes, nil)
		if err != nil {
			t.Fatal(err)
		}
		goldens.AssertClose(t, c.golden, f.Data, f.Shape, goldens.Load(t, c.golden), atol, 0)
	}
}

func TestTextErrors(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	long := ""
	for i := 0; i < 100; i++ {
		long += "dog "
	}
	cases := map[string]func() error{
		"empty class list": func() error { _, err := m.EncodeTextWithPromptEnsemble(nil, nil); return err },
		"no templates":     func() error { _, err := m.EncodeTextWithPromptEnsemble([]string{"a"}, []string{}); return err },
		"template without {}": func() error {
			_, err := m.EncodeTextWithPromptEnsemble([]string{"a"}, []string{"a photo"})
			return err
		},
		"text too long":   func() error { _, err := m.EncodeText([]string{long}); return err },
		"no texts":        func() error { _, err := m.EncodeText(nil); return err },
		"id out of vocab": func() error { _, err := m.EncodeTokens([][]int32{{49406, 60000, 49407}}); return err },
	}
	for name, f := range cases {
		if err := f(); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// The shared-prefix path on the 59 x 85 demo prompts, against the golden raw features.
func TestSharedPrefixParity(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	demoClasses := goldenDemoClasses(t)
	raw, err := m.encodeTemplated(context.Background(), demoClasses, DefaultTemplates(), nil)
	if err != nil {
		t.Fatal(err)
	}
	goldens.AssertClose(t, "shared-prefix encode_text 59x85", raw.Data, []int{59, 85, 64}, goldens.Load(t, "text/encode_text_raw_all59x85.f32.npy"), atol, rtol)
	ens, err := m.EncodeTextWithPromptEnsemble(demoClasses, nil)
	if err != nil {
		t.Fatal(err)
	}
	goldens.AssertClose(t, "text_features_all59", ens.Data, ens.Shape, goldens.Load(t, "text/text_features_all59.f32.npy"), atol, 0)
}

// Custom templates, a template whose last word BPE merges with the class name ("a{}" + "nt" is
// the single token "ant"), an empty class, a template starting with "{}", and more rows per
// template than one batch: the shared-prefix path must equal the plain path.
func TestSharedPrefixEqualsPlain(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	tok, err := tokenizer.Default()
	if err != nil {
		t.Fatal(err)
	}
	merged, err := tok.Tokenize([]string{"a photo of a", "a photo of ant."}, 77, false)
	if err != nil {
		t.Fatal(err)
	}
	if hasPrefix(merged[1], merged[0][:argmax(merged[0])]) {
		t.Fatal("test premise: 'a photo of ant.' should not start with the ids of 'a photo of a'")
	}
	var many []string // 3 x 59 = 177 classes: more prompts than one packed call holds
	for i := 0; i < 3; i++ {
		many = append(many, goldenDemoClasses(t)...)
	}
	for _, c := range []struct {
		name               string
		classes, templates []string
	}{
		{"custom", []string{"nt", "dog", "potted plant", "", "x-ray"}, []string{"a photo of a{}.", "{} in the scene.", "itap of {}", "the {}s are here, {}!"}},
		{"many classes", many, []string{"a photo of the {}.", "there is a {} in the scene."}},
	} {
		shared, err := m.encodeTemplated(context.Background(), c.classes, c.templates, nil)
		if err != nil {
			t.Fatal(err)
		}
		var prompts []string
		for _, class := range c.classes {
			for _, tmpl := range c.templates {
				prompts = append(prompts, strings.ReplaceAll(tmpl, "{}", class))
			}
		}
		plain, err := m.EncodeText(prompts)
		if err != nil {
			t.Fatal(err)
		}
		goldens.AssertClose(t, c.name, shared.Data, shared.Shape, &npy.Array{Shape: plain.Shape, F32: plain.Data}, atol, rtol)
	}
}

// Rows that do not start with the prefix, or whose EOT lies inside it, take the plain path.
func TestSharedPrefixFallback(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	rows := rowsOf(goldens.Load(t, "tokenizer/tricky_ids.int32.npy"))
	prefix := rows[0][:3]
	shared, err := m.EncodePromptsSharedPrefix(prefix, rows)
	if err != nil {
		t.Fatal(err)
	}
	goldens.AssertClose(t, "tricky with a foreign prefix", shared.Data, shared.Shape, goldens.Load(t, "text/encode_text_tricky.f32.npy"), atol, rtol)
	if _, err := m.EncodePromptsSharedPrefix([]int32{49406, 70000}, rows); err == nil {
		t.Error("prefix id outside the vocabulary: no error")
	}
}

// goldenDemoClasses is demo.py's all_texts as the golden tokenizer folder stores it.
func goldenDemoClasses(t testing.TB) []string {
	t.Helper()
	data, err := os.ReadFile(goldens.Path(t, "tokenizer", "all_texts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var classes []string
	if err := json.Unmarshal(data, &classes); err != nil || len(classes) != 59 {
		t.Fatalf("all_texts.json: %d classes, %v", len(classes), err)
	}
	return classes
}
