package clip

import (
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/gomlx/compute"
)

// Tolerances from the golden README: raw features are O(1..10), rtol 1e-5 + atol 1e-5.
const atol, rtol = 1e-5, 1e-5

func readCheckpoint(t testing.TB, file string) map[string]*weights.Tensor {
	t.Helper()
	ck, err := weights.ReadSafetensors(goldens.Path(t, "models", file))
	if err != nil {
		t.Fatal(err)
	}
	return ck.Tensors
}

// loadGoldenModel loads one of the tiny golden models on the default backend.
func loadGoldenModel(t testing.TB, name string) *Model {
	t.Helper()
	return loadGoldenModelOn(t, name, nil)
}

// loadGoldenModelOn loads one of the tiny golden models on backend (nil: the default). The rn
// file stores only the visual.* tensors: its text tower is vit16's (bit-identical, README).
func loadGoldenModelOn(t testing.TB, name string, backend compute.Backend) *Model {
	t.Helper()
	var tensors map[string]*weights.Tensor
	switch name {
	case "vit16", "vit16.hf":
		file := "vit16.openai.safetensors"
		if name == "vit16.hf" {
			file = "vit16.hf.safetensors"
		}
		tensors = readCheckpoint(t, file)
	default:
		tensors = readCheckpoint(t, name+".openai.safetensors")
		for k, v := range readCheckpoint(t, "vit16.openai.safetensors") {
			if len(k) < 7 || k[:7] != "visual." {
				tensors[k] = v
			}
		}
	}
	m, err := NewModel(tensors, backend)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func encodeGoldenImage(t *testing.T, m *Model, size int, opt ImageOptions) *Features {
	t.Helper()
	img := goldens.Load(t, "preprocess/demo_"+itoa(size)+".f32.npy")
	f, err := m.EncodeImage(img.F32, 1, size, size, opt)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func itoa(n int) string {
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

func TestConfigInferred(t *testing.T) {
	for _, c := range []struct {
		model string
		want  Config
	}{
		{"vit16", Config{EmbedDim: 64, Vision: ViT, VisionWidth: 128, VisionLayers: 8, PatchSize: 16, NativeGrid: 14,
			ImageResolution: 224, VisionHeads: 2, ContextLength: 77, VocabSize: 49408, TextWidth: 128, TextHeads: 2, TextLayers: 3}},
		{"vit16.hf", Config{EmbedDim: 64, Vision: ViT, VisionWidth: 128, VisionLayers: 8, PatchSize: 16, NativeGrid: 14,
			ImageResolution: 224, VisionHeads: 2, ContextLength: 77, VocabSize: 49408, TextWidth: 128, TextHeads: 2, TextLayers: 3}},
		{"rn", Config{EmbedDim: 64, Vision: ResNet, VisionWidth: 16, ResNetLayers: [4]int{1, 1, 1, 1}, NativeGrid: 7,
			ImageResolution: 224, VisionHeads: 8, ContextLength: 77, VocabSize: 49408, TextWidth: 128, TextHeads: 2, TextLayers: 3}},
	} {
		m := loadGoldenModel(t, c.model)
		if m.Config != c.want {
			t.Errorf("%s: config\n got %#v\nwant %#v", c.model, m.Config, c.want)
		}
	}
}

func TestEncodeImageParity(t *testing.T) {
	for _, c := range []struct {
		model  string
		golden string
		size   int
		opt    ImageOptions
	}{
		{"vit16", "vit16/clip/demo_224", 224, ImageOptions{Method: MethodRaw}},
		{"vit16", "vit16/surgery/demo_224", 224, SurgeryOptions()},
		{"vit16", "vit16/surgery/demo_512", 512, SurgeryOptions()},
		{"vit16.hf", "vit16/clip/demo_224", 224, ImageOptions{Method: MethodRaw}},
		{"vit16.hf", "vit16/surgery/demo_512", 512, SurgeryOptions()},
		{"rn", "rn/clip/demo_224", 224, ImageOptions{Method: MethodRaw}},
		{"rn", "rn/surgery/demo_224", 224, SurgeryOptions()},
		{"rn", "rn/surgery/demo_512", 512, SurgeryOptions()},
	} {
		t.Run(c.model+"/"+c.golden, func(t *testing.T) {
			m := loadGoldenModel(t, c.model)
			f := encodeGoldenImage(t, m, c.size, c.opt)
			goldens.AssertClose(t, "image_features_raw", f.Data, f.Shape, goldens.Load(t, c.golden+"/image_features_raw.f32.npy"), atol, rtol)
		})
	}
}

// Attention in groups of heads (Config.ScoreBudget) keeps the 512 px parity; with the tiny
// golden models' 2 heads this needs a budget below one 512 px head.
func TestEncodeImageParityHeadGroups(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	m.Config.ScoreBudget = 1 // before the first graph is built
	if g := modelkit.HeadsPerGroup(m.Config.VisionHeads, 4*1025*1025, m.Config.ScoreBudget); g != 1 {
		t.Fatalf("%d heads per group, want 1", g)
	}
	f := encodeGoldenImage(t, m, 512, SurgeryOptions())
	goldens.AssertClose(t, "image_features_raw", f.Data, f.Shape, goldens.Load(t, "vit16/surgery/demo_512/image_features_raw.f32.npy"), atol, rtol)
}

// The reference overwrites its positional embedding at 512 (quirk Q1); we must not: 224 after
// 512 on the same model gives the fresh-instance result, not the quirk file.
func TestNoPositionalEmbeddingMutation(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	encodeGoldenImage(t, m, 512, SurgeryOptions())
	f := encodeGoldenImage(t, m, 224, SurgeryOptions())
	goldens.AssertClose(t, "224 after 512", f.Data, f.Shape, goldens.Load(t, "vit16/surgery/demo_224/image_features_raw.f32.npy"), atol, rtol)
}

func TestEncodeImageBatch(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	img := goldens.Load(t, "preprocess/demo_224.f32.npy").F32
	other := goldens.Load(t, "preprocess/chelsea_224.f32.npy").F32
	batch := append(append([]float32(nil), img...), other...)
	f, err := m.EncodeImage(batch, 2, 224, 224, SurgeryOptions())
	if err != nil {
		t.Fatal(err)
	}
	want := goldens.Load(t, "vit16/surgery/demo_224/image_features_raw.f32.npy")
	n := len(want.F32)
	goldens.AssertClose(t, "batch row 0", f.Data[:n], want.Shape, want, atol, rtol)
	single, err := m.EncodeImage(other, 1, 224, 224, SurgeryOptions())
	if err != nil {
		t.Fatal(err)
	}
	for i := range single.Data {
		if d := single.Data[i] - f.Data[n+i]; d > 1e-5 || d < -1e-5 {
			t.Fatalf("batch row 1 differs from the single encoding at %d: %g vs %g", i, f.Data[n+i], single.Data[i])
		}
	}
}

func TestEncodeImageErrors(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	for name, c := range map[string]struct {
		n, b, h, w int
		opt        ImageOptions
	}{
		"side not a multiple of the patch": {3 * 200 * 200, 1, 200, 200, ImageOptions{}},
		"pixel count mismatch":             {100, 1, 224, 224, ImageOptions{}},
		"empty batch":                      {0, 0, 224, 224, ImageOptions{}},
		"unknown attention":                {3 * 224 * 224, 1, 224, 224, ImageOptions{Method: MethodSurgery, Depth: 6, Attention: "x-y"}},
	} {
		if _, err := m.EncodeImage(make([]float32, c.n), c.b, c.h, c.w, c.opt); err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
