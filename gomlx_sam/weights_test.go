package sam

import (
	"context"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/weights"
)

// tinyConfig is sam_tiny.config.json written out: what InferConfig must find in the golden
// checkpoint.
func tinyConfig() Config {
	return Config{
		ImageSize: 1024, PatchSize: 16, InChans: 3, EncoderDim: 64, EncoderDepth: 4, EncoderHeads: 2,
		EncoderMLPDim: 256, QKVBias: true, UseAbsPos: true, UseRelPos: true, WindowSize: 14,
		GlobalAttnIndexes: []int{1, 3}, OutChans: 256, EncoderEps: 1e-6,
		PromptEmbedDim: 256, MaskInChans: 16,
		TransformerDim: 256, TransformerDepth: 2, TransformerHeads: 8, TransformerMLPDim: 256,
		AttentionDownsampleRate: 2, NumMultimaskOutputs: 3, IoUHeadDepth: 3, IoUHeadHiddenDim: 256,
		DecoderEps: 1e-5,
		PixelMean:  [3]float32{123.675, 116.28, 103.53}, PixelStd: [3]float32{58.395, 57.12, 57.375},
	}
}

func shapesOf(state map[string]*weights.Tensor) map[string][]int {
	s := map[string][]int{}
	for n, t := range state {
		s[n] = t.Shape
	}
	return s
}

func TestInferConfigTiny(t *testing.T) {
	ckpt, err := weights.Read(goldens.Path(t, "sam", "sam_tiny.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := InferConfig(shapesOf(ckpt.Tensors))
	if err != nil {
		t.Fatal(err)
	}
	if want := tinyConfig(); !reflect.DeepEqual(got, want) {
		t.Fatalf("inferred config\n%+v\nwant\n%+v", got, want)
	}
	if err := CheckShapes(got, shapesOf(ckpt.Tensors)); err != nil {
		t.Fatal(err)
	}
	if n := len(ExpectedShapes(got)); n != 202 {
		t.Errorf("ExpectedShapes lists %d tensors, the golden checkpoint has 202", n)
	}
}

// The released configurations must survive a round trip through their own shapes: this is
// what Load does with sam_vit_{b,l,h}.pth.
func TestInferConfigReleased(t *testing.T) {
	for _, name := range []string{"vit_b", "vit_l", "vit_h"} {
		want, err := ReleasedConfig(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := InferConfig(ExpectedShapes(want))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: inferred\n%+v\nwant\n%+v", name, got, want)
		}
		if got.Name() != name {
			t.Errorf("Name() = %q, want %q", got.Name(), name)
		}
	}
	if _, err := ReleasedConfig("vit_x"); err == nil {
		t.Error("ReleasedConfig accepted vit_x")
	}
}

// sam_tiny.pth (torch.save, the released checkpoints' container) and sam_tiny.safetensors must
// give the same model through Load.
func TestLoadPthMatchesSafetensors(t *testing.T) {
	a, err := LoadFile(goldens.Path(t, "sam", "sam_tiny.pth"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadFile(goldens.Path(t, "sam", "sam_tiny.safetensors"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Config, b.Config) {
		t.Fatalf("configs differ:\n%+v\n%+v", a.Config, b.Config)
	}
	if !reflect.DeepEqual(a.Names(), b.Names()) || len(a.Names()) != 202 {
		t.Fatalf("names differ or not 202: %d vs %d", len(a.Names()), len(b.Names()))
	}
	for _, n := range a.Names() {
		wa, oka := a.Weight(n)
		wb, okb := b.Weight(n)
		if !oka || !okb || len(wa) != shapeSize(ExpectedShapes(a.Config)[n]) || !reflect.DeepEqual(wa, wb) {
			t.Fatalf("tensor %s differs between .pth and .safetensors", n)
		}
	}
}

func TestNewModelRejectsBadCheckpoints(t *testing.T) {
	ckpt, err := weights.Read(goldens.Path(t, "sam", "sam_tiny.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	clone := func() map[string]*weights.Tensor {
		m := map[string]*weights.Tensor{}
		for k, v := range ckpt.Tensors {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name   string
		edit   func(map[string]*weights.Tensor)
		substr []string
	}{
		{"clip", func(m map[string]*weights.Tensor) {
			clear(m)
			m["visual.conv1.weight"] = &weights.Tensor{Name: "visual.conv1.weight", Shape: []int{768, 3, 16, 16}, F32: make([]float32, 768*3*16*16)}
		}, []string{"not a Segment Anything checkpoint", "visual.conv1.weight"}},
		{"missing", func(m map[string]*weights.Tensor) {
			delete(m, "mask_decoder.transformer.layers.1.norm3.bias")
			delete(m, "image_encoder.blocks.2.mlp.lin1.bias")
		}, []string{"2 missing", "image_encoder.blocks.2.mlp.lin1.bias", "mask_decoder.transformer.layers.1.norm3.bias"}},
		{"unexpected", func(m map[string]*weights.Tensor) {
			m["image_encoder.extra"] = &weights.Tensor{Shape: []int{1}, F32: []float32{0}}
		}, []string{"1 unexpected", "image_encoder.extra"}},
		{"shape", func(m map[string]*weights.Tensor) {
			m["image_encoder.neck.2.weight"] = &weights.Tensor{Shape: []int{256, 256, 1, 1}, F32: make([]float32, 256*256)}
		}, []string{"wrong shape", "image_encoder.neck.2.weight [256 256 1 1] (want [256 256 3 3])"}},
		{"no relpos", func(m map[string]*weights.Tensor) {
			delete(m, "image_encoder.blocks.0.attn.rel_pos_h")
		}, []string{"image_encoder.blocks.0.attn.rel_pos_h", "missing"}},
		{"int tensor", func(m map[string]*weights.Tensor) {
			m["image_encoder.neck.1.bias"] = &weights.Tensor{Shape: []int{256}, DType: "I64", I64: make([]int64, 256)}
		}, []string{"image_encoder.neck.1.bias", "I64"}},
	}
	for _, c := range cases {
		m := clone()
		c.edit(m)
		_, err := NewModel(m, nil)
		if err == nil {
			t.Errorf("%s: NewModel accepted the checkpoint", c.name)
			continue
		}
		for _, s := range c.substr {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, s)
			}
		}
	}
}

func TestLoad(t *testing.T) {
	path := goldens.Path(t, "sam", "sam_tiny.pth")
	m, err := Load(context.Background(), path, LoadOptions{Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.EncoderDim != 64 {
		t.Errorf("Load(path) gave encoder width %d", m.Config.EncoderDim)
	}
	if _, err := Load(context.Background(), "sam_vit_q", LoadOptions{Offline: true}); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("unknown name: %v", err)
	}
	_, err = Load(context.Background(), "sam_vit_b", LoadOptions{Offline: true, CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "sam_vit_b_01ec64.pth") {
		t.Errorf("offline without a cached file: %v", err)
	}
}

// TestLoadFileReadsFromTheFile: LoadFile reads the weights straight from the file into the
// backend (weights.Open); they equal the model built from host tensors bit for bit, for the
// torch.save file and a safetensors file carrying pixel_mean / pixel_std, which are read too.
func TestLoadFileReadsFromTheFile(t *testing.T) {
	ck, err := weights.Read(goldens.Path(t, "sam", "sam_tiny.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var list []*weights.Tensor
	for _, n := range ck.Names() {
		list = append(list, ck.Tensors[n])
	}
	mean, std := []float32{1.5, 2.5, 3.5}, []float32{4, 5, 6}
	list = append(list, &weights.Tensor{Name: "pixel_mean", Shape: []int{3, 1, 1}, F32: mean},
		&weights.Tensor{Name: "pixel_std", Shape: []int{3, 1, 1}, F32: std})
	withPixels := filepath.Join(t.TempDir(), "sam_pixels.safetensors")
	if err := weights.WriteSafetensors(withPixels, list, nil); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{goldens.Path(t, "sam", "sam_tiny.pth"), withPixels} {
		got, err := LoadFile(path, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		host, err := weights.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		want, err := NewModel(host.Tensors, got.weights.Backend())
		if err != nil {
			t.Fatal(err)
		}
		if got.Config.PixelMean != want.Config.PixelMean || got.Config.PixelStd != want.Config.PixelStd {
			t.Errorf("%s: pixel mean/std %v %v, want %v %v", path, got.Config.PixelMean, got.Config.PixelStd, want.Config.PixelMean, want.Config.PixelStd)
		}
		for _, name := range want.weights.Names() {
			g, _ := got.Weight(name)
			w, _ := want.Weight(name)
			if !reflect.DeepEqual(math32Bits(g), math32Bits(w)) {
				t.Fatalf("%s: %s differs from the host-tensor model", path, name)
			}
		}
	}
	if m, err := LoadFile(withPixels, LoadOptions{}); err != nil || m.Config.PixelMean != [3]float32(mean) || m.Config.PixelStd != [3]float32(std) {
		t.Errorf("pixel_mean/pixel_std from the file: %v", err)
	}
}

func math32Bits(v []float32) []uint32 {
	out := make([]uint32, len(v))
	for i, x := range v {
		out[i] = math.Float32bits(x)
	}
	return out
}

// shapeSize is the number of values of a tensor of shape s.
func shapeSize(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}
