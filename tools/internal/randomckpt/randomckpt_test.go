package randomckpt

import (
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	dino "github.com/clipsurgery/clipsurgery/gomlx_dino"
	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/gomlx/compute/dtypes/float16"
)

// Small configurations of both models: the writer does not depend on the sizes.
func tinyCLIP() clip.Config {
	return clip.Config{EmbedDim: 32, Vision: clip.ViT, VisionWidth: 64, VisionLayers: 2, PatchSize: 16, NativeGrid: 2,
		ImageResolution: 32, VisionHeads: 1, ContextLength: 77, VocabSize: 100, TextWidth: 64, TextHeads: 1, TextLayers: 1}
}

func tinySAM(t *testing.T) sam.Config {
	c, err := sam.ReleasedConfig("vit_b")
	if err != nil {
		t.Fatal(err)
	}
	c.ImageSize, c.EncoderDim, c.EncoderDepth, c.EncoderHeads, c.EncoderMLPDim, c.GlobalAttnIndexes = 256, 64, 2, 1, 256, []int{1}
	c.OutChans, c.PromptEmbedDim, c.TransformerDim, c.TransformerMLPDim, c.IoUHeadHiddenDim, c.MaskInChans = 32, 32, 32, 64, 32, 4
	return c
}

// read loads path and returns its tensors by name.
func read(t *testing.T, path string) map[string]*weights.Tensor {
	t.Helper()
	ck, err := weights.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	return ck.Tensors
}

func shapes(ts map[string]*weights.Tensor) map[string][]int {
	s := map[string][]int{}
	for n, x := range ts {
		s[n] = x.Shape
	}
	return s
}

// Both models in both formats: every tensor the loader expects with its shape (the config infers
// back), the .pt the same values as the safetensors (float16 where OpenAI ships float16), one
// seed one file, another seed other values.
func TestWriteCLIPAndSAM(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	ccfg, scfg := tinyCLIP(), tinySAM(t)
	for _, w := range []struct {
		file  string
		write func(string, uint64) error
	}{
		{"clip.safetensors", func(p string, seed uint64) error { return WriteCLIP(p, "tiny", ccfg, seed) }},
		{"clip.pt", func(p string, seed uint64) error { return WriteCLIP(p, "tiny", ccfg, seed) }},
		{"clip_seed1.safetensors", func(p string, seed uint64) error { return WriteCLIP(p, "tiny", ccfg, seed+1) }},
		{"sam.safetensors", func(p string, seed uint64) error { return WriteSAM(p, scfg, seed) }},
		{"sam.pt", func(p string, seed uint64) error { return WriteSAM(p, scfg, seed) }},
		{"sam_again.safetensors", func(p string, seed uint64) error { return WriteSAM(p, scfg, seed) }},
	} {
		if err := w.write(path(w.file), 3); err != nil {
			t.Fatal(err)
		}
	}

	cst, cpt := read(t, path("clip.safetensors")), read(t, path("clip.pt"))
	want := clip.ExpectedShapes(ccfg)
	want["logit_scale"] = []int{}
	if got := shapes(cst); !reflect.DeepEqual(got, want) {
		t.Errorf("CLIP safetensors: %d tensors, want the %d the loader expects", len(got), len(want))
	}
	if got, err := clip.InferConfig(cst); err != nil || !reflect.DeepEqual(got, ccfg) {
		t.Errorf("CLIP config inferred back: %+v, %v; want %+v", got, err, ccfg)
	}
	for _, s := range []string{"input_resolution", "context_length", "vocab_size"} {
		want[s] = []int{}
	}
	if got := shapes(cpt); !reflect.DeepEqual(got, want) {
		t.Errorf("CLIP .pt: %d tensors, want %d", len(got), len(want))
	}
	if cpt["vocab_size"].I64[0] != int64(ccfg.VocabSize) {
		t.Errorf("CLIP .pt vocab_size %v", cpt["vocab_size"].I64)
	}
	halves := 0
	for n, x := range cst {
		w := x.F32
		if halfInOpenAI(n) {
			halves++
			w = slices.Clone(w)
			for i, v := range w {
				w[i] = float16.FromFloat32(v).Float32()
			}
		}
		if !slices.Equal(cpt[n].F32, w) {
			t.Fatalf("CLIP %s: .pt values differ from the safetensors'", n)
		}
	}
	if halves == 0 || halves == len(cst) {
		t.Errorf("%d of %d CLIP tensors in float16, want some", halves, len(cst))
	}
	if other := read(t, path("clip_seed1.safetensors")); slices.Equal(other["visual.proj"].F32, cst["visual.proj"].F32) {
		t.Error("another seed gave the same values")
	}

	sst, spt, again := read(t, path("sam.safetensors")), read(t, path("sam.pt")), read(t, path("sam_again.safetensors"))
	if got := shapes(sst); !reflect.DeepEqual(got, sam.ExpectedShapes(scfg)) {
		t.Errorf("SAM safetensors: %d tensors, want the %d the loader expects", len(got), len(sam.ExpectedShapes(scfg)))
	}
	if got, err := sam.InferConfig(shapes(spt)); err != nil || !reflect.DeepEqual(got, scfg) {
		t.Errorf("SAM config inferred back from the .pt: %+v, %v; want %+v", got, err, scfg)
	}
	for n, x := range sst {
		if !slices.Equal(spt[n].F32, x.F32) || !slices.Equal(again[n].F32, x.F32) {
			t.Fatalf("SAM %s: the .pt or a second file with the same seed holds other values", n)
		}
		if m := mean(x.F32); n == "image_encoder.neck.1.weight" && math.Abs(m-1) > 0.1 {
			t.Errorf("SAM %s: mean %.3f, want about 1 (a norm's weight)", n, m)
		}
	}
}

func mean(v []float32) float64 {
	s := 0.0
	for _, x := range v {
		s += float64(x)
	}
	return s / float64(len(v))
}

// A DINOv2 with registers and SwiGLU: the file loads (config inferred back, mask_token accepted),
// its LayerScale gammas and norms have the recipe's means, and a width without 64-wide heads is
// refused (the file could not say its heads).
func TestWriteDINO(t *testing.T) {
	cfg := dino.Config{Family: dino.V2, PatchSize: 14, Width: 128, Depth: 2, Heads: 2, MLPHidden: 88, FFN: dino.FFNSwiGLU,
		LayerScale: true, Registers: 4, NativeGrid: 4, QKVBias: true, Eps: 1e-6, Interpolation: dino.Interpolation{Antialias: true}}
	p := filepath.Join(t.TempDir(), "dino.safetensors")
	if err := WriteDINO(p, cfg, 1); err != nil {
		t.Fatal(err)
	}
	m, err := dino.LoadFile(p, dino.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Config != cfg {
		t.Errorf("loaded %+v, want %+v", m.Config, cfg)
	}
	st := read(t, p)
	if g, n := mean(st["blocks.1.ls2.gamma"].F32), mean(st["norm.weight"].F32); math.Abs(g-0.1) > 0.02 || math.Abs(n-1) > 0.1 {
		t.Errorf("gamma mean %.3f, norm weight mean %.3f", g, n)
	}
	cfg.Heads = 4
	if err := WriteDINO(filepath.Join(t.TempDir(), "x.safetensors"), cfg, 1); err == nil {
		t.Error("32-wide heads written to a file that cannot say so")
	}
}
