package dino

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/weights"
)

// randomState is a state dict of the configuration's shapes with arbitrary values (+ extras).
func randomState(c Config, extra map[string][]int) map[string]*weights.Tensor {
	out := map[string]*weights.Tensor{}
	add := func(name string, shape []int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32((i*7+len(name))%13)/13 - 0.5
		}
		out[name] = &weights.Tensor{Name: name, Shape: shape, DType: "F32", F32: v}
	}
	for name, shape := range ExpectedShapes(c) {
		add(name, shape)
	}
	for name, shape := range extra {
		add(name, shape)
	}
	return out
}

func shapesOf(state map[string]*weights.Tensor) map[string][]int {
	s := map[string][]int{}
	for k, t := range state {
		s[k] = t.Shape
	}
	return s
}

// TestInferReleasedShapes: the released backbones' shapes give their configurations — heads
// from the 64-wide convention, the family, FFN, registers and interpolation from the tensors.
func TestInferReleasedShapes(t *testing.T) {
	for _, want := range []Config{
		{Family: V1, PatchSize: 8, Width: 384, Depth: 12, Heads: 6, MLPHidden: 1536, FFN: FFNMLP, NativeGrid: 14},
		{Family: V1, PatchSize: 16, Width: 768, Depth: 12, Heads: 12, MLPHidden: 3072, FFN: FFNMLP, NativeGrid: 14},
		{Family: V2, PatchSize: 14, Width: 1024, Depth: 24, Heads: 16, MLPHidden: 4096, FFN: FFNMLP, LayerScale: true, NativeGrid: 37},
		{Family: V2, PatchSize: 14, Width: 1536, Depth: 40, Heads: 24, MLPHidden: 4096, FFN: FFNSwiGLU, LayerScale: true,
			Registers: 4, NativeGrid: 37},
	} {
		want.QKVBias, want.Eps = true, releaseEps
		want.Interpolation = Interpolation{Offset: 0.1}
		if want.Registers > 0 {
			want.Interpolation = Interpolation{Antialias: true}
		}
		shapes := ExpectedShapes(want)
		if want.Family == V2 {
			shapes["mask_token"] = []int{1, want.Width}
		}
		got, err := InferConfig(shapes, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("inferred %+v\nwant %+v", got, want)
		}
		if err := CheckShapes(got, shapes); err != nil {
			t.Error(err)
		}
	}
	// ViT-g's SwiGLU hidden width is SwiGLUFFNFused's (int(4·1536·2/3) + 7)//8·8 = 4096, named right.
	c, _ := InferConfig(ExpectedShapes(Config{Family: V2, PatchSize: 14, Width: 1536, Depth: 1, Heads: 24, MLPHidden: 4096,
		FFN: FFNSwiGLU, LayerScale: true, NativeGrid: 37, QKVBias: true}), 0)
	if c.Name() != "dinov2-g14" {
		t.Errorf("name %q", c.Name())
	}
}

// TestBadCheckpoints: every refusal is one line naming the problem.
func TestBadCheckpoints(t *testing.T) {
	tiny := Config{Family: V2, PatchSize: 14, Width: 64, Depth: 2, Heads: 1, MLPHidden: 128, FFN: FFNMLP, LayerScale: true,
		NativeGrid: 4, QKVBias: true, Eps: releaseEps, Interpolation: Interpolation{Offset: 0.1}}
	good := randomState(tiny, map[string][]int{"mask_token": {1, 64}})
	if _, err := NewModel(good, nil, 0); err != nil {
		t.Fatalf("the good state dict: %v", err)
	}
	cases := []struct {
		name  string
		edit  func(s map[string]*weights.Tensor)
		heads int
		want  string
	}{
		{"CLIP given as DINO", func(s map[string]*weights.Tensor) {
			clear(s)
			s["visual.conv1.weight"] = &weights.Tensor{Shape: []int{64, 3, 16, 16}, F32: make([]float32, 64*3*256)}
		}, 0, "but a CLIP checkpoint"},
		{"SAM given as DINO", func(s map[string]*weights.Tensor) {
			clear(s)
			s["image_encoder.patch_embed.proj.weight"] = &weights.Tensor{Shape: []int{64, 3, 16, 16}, F32: make([]float32, 64*3*256)}
		}, 0, "Segment Anything"},
		{"missing block tensor", func(s map[string]*weights.Tensor) { delete(s, "blocks.1.mlp.fc2.bias") }, 0, "1 missing: blocks.1.mlp.fc2.bias"},
		{"unexpected tensor", func(s map[string]*weights.Tensor) {
			s["head.weight"] = &weights.Tensor{Shape: []int{10, 64}, F32: make([]float32, 640)}
		}, 0, "1 unexpected: head.weight"},
		{"wrong shape", func(s map[string]*weights.Tensor) {
			s["blocks.0.ls1.gamma"] = &weights.Tensor{Shape: []int{63}, F32: make([]float32, 63)}
		}, 0, "blocks.0.ls1.gamma [63] (want [64])"},
		{"pos_embed not a grid", func(s map[string]*weights.Tensor) {
			s["pos_embed"] = &weights.Tensor{Shape: []int{1, 18, 64}, F32: make([]float32, 18*64)}
		}, 0, "1 + a square grid"},
		{"heads not dividing", nil, 3, "3 heads do not divide the width 64"},
		{"width without 64-wide heads", func(s map[string]*weights.Tensor) {
			clear(s)
			for k, v := range randomState(Config{Family: V1, PatchSize: 8, Width: 48, Depth: 1, Heads: 1, MLPHidden: 8,
				FFN: FFNMLP, NativeGrid: 2, QKVBias: true}, nil) {
				s[k] = v
			}
		}, 0, "give it (LoadOptions.Heads"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := randomState(tiny, map[string][]int{"mask_token": {1, 64}})
			if c.edit != nil {
				c.edit(s)
			}
			_, err := NewModel(s, nil, c.heads)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err %v, want one line with %q", err, c.want)
			}
		})
	}
}

// TestHFConfigDisagreeing: a config.json that contradicts its weights is refused, naming the field.
func TestHFConfigDisagreeing(t *testing.T) {
	src := filepath.Join(testdata, "models", "dinov2_tiny_hf")
	for _, c := range []struct{ from, to, want string }{
		{`"num_hidden_layers": 2`, `"num_hidden_layers": 3`, "num_hidden_layers 3 (weights: 2)"},
		{`"model_type": "dinov2"`, `"model_type": "vit"`, "model_type vit (weights: dinov2)"},
		{`"model_type": "dinov2"`, `"model_type": "clip"`, `model_type "clip", not a DINO copy`},
		{`"use_swiglu_ffn": false`, `"use_swiglu_ffn": true`, "use_swiglu_ffn true"},
		{`"num_attention_heads": 2`, `"num_attention_heads": 5`, "5 heads do not divide the width 16"},
	} {
		dir := t.TempDir()
		cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(cfg, []byte(c.from)) {
			t.Fatalf("config.json lacks %s", c.from)
		}
		link(t, filepath.Join(src, "model.safetensors"), filepath.Join(dir, "model.safetensors"))
		if err := os.WriteFile(filepath.Join(dir, "config.json"), bytes.Replace(cfg, []byte(c.from), []byte(c.to), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = LoadFile(dir, LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err %v, want one line with %q", c.to, err, c.want)
		}
	}
}

func link(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPickleTricks: a .pth whose pickle calls a function (os.system) instead of rebuilding tensors
// is refused before anything runs, in one line.
func TestPickleTricks(t *testing.T) {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	f, _ := w.CreateHeader(&zip.FileHeader{Name: "archive/data.pkl", Method: zip.Store})
	f.Write([]byte("\x80\x02cos\nsystem\nq\x00X\x0b\x00\x00\x00touch pwnedq\x01\x85q\x02Rq\x03."))
	f, _ = w.CreateHeader(&zip.FileHeader{Name: "archive/version", Method: zip.Store})
	f.Write([]byte("3\n"))
	w.Close()
	path := filepath.Join(t.TempDir(), "dinov2_vits14_pretrain.pth")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadFile(path, LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "os") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err %v", err)
	}
	if _, statErr := os.Stat("pwned"); statErr == nil {
		t.Fatal("the pickle ran a command")
	}
}

// TestBadImages: inputs the encoder cannot take are one-line errors before any graph runs.
func TestBadImages(t *testing.T) {
	m := loadGolden(t, "dino_v1_tiny.pth", 2)
	for _, c := range []struct {
		b, h, w int
		n       int
		want    string
	}{
		{1, 30, 32, 3 * 30 * 32, "not a multiple of the patch size 8"},
		{0, 32, 32, 0, "empty"},
		{1, 32, 32, 5, "pixel values"},
		{1, 2048, 32, 3 * 2048 * 32, "largest side 1024"},
		{1 << 40, 1 << 20, 1 << 20, 12, "largest side"},
	} {
		_, err := m.PatchFeatures(make([]float32, c.n), c.b, c.h, c.w)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%dx%dx%d: err %v, want %q", c.b, c.h, c.w, err, c.want)
		}
	}
}
