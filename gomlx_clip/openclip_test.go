package clip

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/gomlx_clip/tokenizer"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/weights"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Parity with open_clip v3.3.0's own outputs for tiny random models in open_clip's hub layout and
// as a Hugging Face CLIPModel (../shared/golden/openclip, README there). The variants are read from
// the golden folder's checks.json summary (each model folder, its input, its heads, activation and
// eps), so a variant added there is tested too; the three the README lists must be present. Every
// model is loaded from its folder, so the folder's checkpoint choice and config reading are part of
// the test, and its own preprocessing of chelsea.png must give the variant's input bit for bit.

// openCLIPVariant is one entry of checks.json's summary.
type openCLIPVariant struct {
	Folder      string             `json:"model_folder"`
	Input       string             `json:"input"`
	VisionHeads int                `json:"vision_heads"`
	TextHeads   int                `json:"text_heads"`
	Activation  string             `json:"activation"`
	Eps         map[string]float64 `json:"eps"`
}

func openCLIPVariants(t *testing.T) map[string]openCLIPVariant {
	t.Helper()
	data, err := os.ReadFile(goldens.Path(t, "openclip", "checks.json"))
	if err != nil {
		t.Fatal(err)
	}
	var checks struct{ Summary map[string]openCLIPVariant }
	if err := json.Unmarshal(data, &checks); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"gelu", "quickgelu", "hf_gelu"} {
		if _, ok := checks.Summary[v]; !ok {
			t.Fatalf("checks.json summary lacks variant %s", v)
		}
	}
	return checks.Summary
}

// activationOf maps the golden summary's names of torch modules to Activations ("" when unknown).
func activationOf(name string) Activation {
	switch {
	case name == "QuickGELU":
		return ActQuickGELU
	case name == "GELU":
		return ActGELU
	case strings.Contains(name, "tanh"):
		return ActGELUTanh
	}
	return ""
}

func loadOpenCLIPVariant(t testing.TB, name string) *Model {
	t.Helper()
	m, err := LoadFile(goldens.Path(t, "openclip", "models", name), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// runImageGraph runs a graph of the model's image weights on one input image [1, 3, S, S].
func runImageGraph(t *testing.T, m *Model, name string, input []float32, graph func(Config, Params, *Node) *Node) *Features {
	t.Helper()
	s := int(math.Round(math.Sqrt(float64(len(input) / 3))))
	f, err := m.run(programKey{graph: "image-test-" + name}, 1, func(p Params, in []*Node) *Node {
		return graph(m.Config, p, in[0])
	}, tensors.FromFlatDataAndDimensions(input, 1, 3, s, s))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestOpenCLIPParity(t *testing.T) {
	tokens := goldens.Load(t, "openclip/text/tokens.i32.npy")
	var texts struct{ Texts []string }
	data, err := os.ReadFile(goldens.Path(t, "openclip", "text", "texts.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &texts); err != nil {
		t.Fatal(err)
	}
	img, err := imageprep.DecodeFile(goldens.Path(t, "images", "chelsea.png"))
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range openCLIPVariants(t) {
		t.Run(name, func(t *testing.T) {
			folder := goldens.Path(t, "openclip", v.Folder)
			m, err := LoadFile(folder, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c := m.Config
			vt, tt := c.VisionTower(), c.TextTower()
			wantLayout := LayoutOpenCLIP
			if _, err := os.Stat(filepath.Join(folder, OpenCLIPConfigName)); err != nil {
				wantLayout = LayoutHF
			}
			act := activationOf(v.Activation)
			if m.Layout != wantLayout || vt.Heads != v.VisionHeads || tt.Heads != v.TextHeads ||
				vt.Eps != v.Eps["vision"] || tt.Eps != v.Eps["text"] || (act != "" && (vt.Act != act || tt.Act != act)) {
				t.Fatalf("config read wrong: layout %s, vision %+v, text %+v; golden %+v", m.Layout, vt, tt, v)
			}
			if act == "" {
				t.Logf("activation %q not checked by name", v.Activation)
			}
			golden := func(file string) string { return "openclip/" + name + "/" + file + ".f32.npy" }
			input := goldens.Load(t, "openclip/"+v.Input)
			s := input.Shape[len(input.Shape)-1]

			// The pooled path's own preprocessing gives the golden input, bit for bit.
			pix, err := m.PreprocessImage(img)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pix, input.F32) {
				t.Fatalf("PreprocessImage differs from open_clip's preprocessing of chelsea.png (%s)", v.Input)
			}
			pooled, err := m.ImageEmbedding(img)
			if err != nil {
				t.Fatal(err)
			}
			goldens.AssertClose(t, "image_features", pooled.Data, pooled.Shape, goldens.Load(t, golden("image_features")), atol, rtol)
			dense, err := m.EncodeImage(input.F32, 1, s, s, ImageOptions{Method: MethodRaw})
			if err != nil {
				t.Fatal(err)
			}
			goldens.AssertClose(t, "image_dense", dense.Data, dense.Shape, goldens.Load(t, golden("image_dense")), atol, rtol)
			last := runImageGraph(t, m, "last", input.F32, VisionBlocksGraph)
			goldens.AssertClose(t, "image_last_block", last.Data, last.Shape, goldens.Load(t, golden("image_last_block")), atol, rtol)
			toks := runImageGraph(t, m, "tokens", input.F32, PatchTokensGraph)
			goldens.AssertClose(t, "image_tokens", toks.Data, toks.Shape, goldens.Load(t, golden("image_tokens")), atol, rtol)

			n, l := tokens.Shape[0], tokens.Shape[1]
			rows := make([][]int32, n)
			for i := range rows {
				rows[i] = tokens.I32[i*l : (i+1)*l]
			}
			if m.Layout == LayoutOpenCLIP { // open_clip's tokenizer, chosen by the layout
				got, err := m.Tokenize(texts.Texts)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.EqualFunc(got, rows, slices.Equal) {
					t.Fatalf("Tokenize differs from open_clip's tokens:\n got %v\nwant %v", got, rows)
				}
			}
			text, err := m.EncodeTokenRows(rows)
			if err != nil {
				t.Fatal(err)
			}
			goldens.AssertClose(t, "text_features", text.Data, text.Shape, goldens.Load(t, golden("text_features")), atol, rtol)

			weightsPath, err := weightsFile(folder)
			if err != nil {
				t.Fatal(err)
			}
			scale := logitScale(t, weightsPath)
			logits := make([]float32, n)
			for i := range logits {
				logits[i] = float32(scale * cosine(pooled.Data, text.Data[i*c.EmbedDim:(i+1)*c.EmbedDim]))
			}
			goldens.AssertClose(t, "logits_per_image", logits, []int{1, n}, goldens.Load(t, golden("logits_per_image")), atol, rtol)
		})
	}
}

// The folders resolve to the files open_clip picks (README §6, checks.json checkpoint_file_loaded).
func TestOpenCLIPFolderPicksCheckpoint(t *testing.T) {
	for name, want := range map[string]string{"gelu": "open_clip_model.safetensors",
		"quickgelu": "open_clip_pytorch_model.bin", "hf_gelu": "model.safetensors"} {
		got, err := weightsFile(goldens.Path(t, "openclip", "models", name))
		if err != nil || filepath.Base(got) != want {
			t.Errorf("%s: %s, %v; want %s", name, got, err, want)
		}
	}
}

// logitScale is exp(logit_scale) of a checkpoint (not part of the encoders' weights).
func logitScale(t *testing.T, path string) float64 {
	t.Helper()
	ck, err := weights.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	var v [1]float32
	if err := ck.Tensors["logit_scale"].ReadF32(v[:], 0); err != nil {
		t.Fatal(err)
	}
	return math.Exp(float64(v[0]))
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// The layout picks the tokenizer: open_clip's layout takes open_clip's conventions, a Hugging Face
// CLIPModel and a plain OpenAI checkpoint OpenAI's (the README's texts 8 and 9 tell them apart).
func TestTokenizerFollowsLayout(t *testing.T) {
	long := "a long caption that keeps going"
	for range 20 {
		long += " a long caption that keeps going"
	}
	for _, c := range []struct {
		model string
		want  tokenizer.Convention
	}{{"gelu", tokenizer.OpenCLIP}, {"quickgelu", tokenizer.OpenCLIP}, {"hf_gelu", tokenizer.OpenAI}} {
		m := loadOpenCLIPVariant(t, c.model)
		if m.Config.Tokenizer != c.want {
			t.Errorf("%s: tokenizer %s, want %s", c.model, m.Config.Tokenizer, c.want)
		}
		rows, err := m.Tokenize([]string{"x <|endoftext|> y", long})
		if c.want == tokenizer.OpenAI {
			if err == nil {
				t.Errorf("%s: an over-long text was accepted", c.model)
			}
			continue
		}
		// "<|endoftext|>" is plain text here: the only EOT closes the row (7 pieces: x <| endoftext |> y ...).
		if err != nil || slices.Index(rows[0], tokenizer.EOT) < 5 || rows[1][76] != tokenizer.EOT {
			t.Errorf("%s: rows %v, %v", c.model, rows, err)
		}
	}
}

// The text cache keys on the text tower's weights and on what a config changes for the same
// weights: hf_gelu holds the gelu weights renamed (same tensors once canonical) with other LayerNorm
// eps and OpenAI's tokenizer, and the gelu weights with quick_gelu set are another model again.
// None may be served another's rows.
func TestTextCacheSeparatesConfigs(t *testing.T) {
	gelu := loadOpenCLIPVariant(t, "gelu")
	hf := loadOpenCLIPVariant(t, "hf_gelu")
	quick, err := LoadFile(variantFolder(t, "gelu", "open_clip_model.safetensors", OpenCLIPConfigName,
		func(c map[string]any) { at(c, "model_cfg")["quick_gelu"] = true }), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if gelu.hashTextTower() != hf.hashTextTower() || gelu.hashTextTower() != quick.hashTextTower() {
		t.Fatal("the three models should hold the same text weights")
	}
	c, err := OpenTextCache(TextCacheOptions{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	digests := map[[32]byte]string{}
	classes, templates := []string{"cat", "sofa"}, []string{"a photo of a {}.", "a {}."}
	for _, m := range []struct {
		name  string
		model *Model
	}{{"gelu", gelu}, {"hf_gelu", hf}, {"gelu+quick_gelu", quick}} {
		d := m.model.TextWeightsDigest(c)
		if other, dup := digests[d]; dup {
			t.Errorf("%s shares its text digest with %s", m.name, other)
		}
		digests[d] = m.name
		want, err := m.model.EncodeTextWithPromptEnsemble(classes, templates)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.model.EncodeTextWithPromptEnsembleCached(context.Background(), classes, templates, c)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, m.name+" through the shared cache", got, want)
	}
	if st, _ := c.Stats(); st.Entries != 3*len(classes)*len(templates) {
		t.Errorf("%d entries, want one per prompt and model (%d)", st.Entries, 3*len(classes)*len(templates))
	}
}

// Load takes a folder path like a file path.
func TestLoadFolderPath(t *testing.T) {
	m, err := Load(context.Background(), goldens.Path(t, "openclip", "models", "quickgelu"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if size := m.Config.ImageResolution; size != 224 || m.Method != MethodSurgery || m.Layout != LayoutOpenCLIP || m.Naming != NamingOpenAI {
		t.Fatalf("size %d, method %s, layout %s, naming %s", size, m.Method, m.Layout, m.Naming)
	}
}
