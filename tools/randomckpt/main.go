// Command randomckpt writes a full-size CLIP checkpoint with seeded random weights in OpenAI
// naming, for benchmarks where the real weights cannot be downloaded: safetensors (float32), or,
// for an -out ending in .pt, a TorchScript archive laid out like the released OpenAI files
// (float16 Linear/Conv/attention weights, see halfInOpenAI):
//
//	randomckpt -model ViT-B/16 -out vit_b16_random.safetensors
//	randomckpt -model ViT-B/16 -out vit_b16_random.pt
//
// Shapes come from the architecture the name promises (clip.ReleasedConfig) through clip.ExpectedShapes, so the file
// has exactly the tensors the loader expects. Values follow the recipe of the golden models
// (LayerNorm ~ 1 + 0.1 N, Linear/Conv ~ N / sqrt(fan_in), biases 0.02 N, embeddings small): the
// activations stay in a realistic range, which is all that timing needs.
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/clipsurgery/clipsurgery/weights/registry"
)

func main() {
	name := flag.String("model", "ViT-B/16", "registry model name")
	out := flag.String("out", "", "output path: .safetensors, or .pt for a TorchScript archive")
	seed := flag.Uint64("seed", 0, "random seed")
	flag.Parse()
	if err := run(*name, *out, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "randomckpt:", err)
		os.Exit(1)
	}
}

func run(name, out string, seed uint64) error {
	if out == "" {
		return fmt.Errorf("-out is required")
	}
	m, err := registry.Lookup(name)
	if err != nil {
		return err
	}
	cfg, err := ConfigOf(m.Name)
	if err != nil {
		return err
	}
	shapes := clip.ExpectedShapes(cfg)
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	list := make([]*weights.Tensor, 0, len(names)+1)
	for _, n := range names {
		list = append(list, &weights.Tensor{Name: n, Shape: shapes[n], DType: "F32", F32: randomValues(rng, n, shapes[n])})
	}
	list = append(list, &weights.Tensor{Name: "logit_scale", Shape: []int{}, DType: "F32", F32: []float32{float32(math.Log(1 / 0.07))}})
	if strings.EqualFold(filepath.Ext(out), ".pt") {
		for _, s := range []struct {
			name string
			v    int
		}{{"input_resolution", cfg.ImageResolution}, {"context_length", cfg.ContextLength}, {"vocab_size", cfg.VocabSize}} {
			list = append(list, &weights.Tensor{Name: s.name, Shape: []int{}, DType: "I64", I64: []int64{int64(s.v)}})
		}
		if err := writeTorchScript(out, list, halfInOpenAI); err != nil {
			return err
		}
	} else {
		meta := map[string]string{"model": m.Name, "description": "seeded random weights for benchmarks", "config": cfg.String()}
		if err := weights.WriteSafetensors(out, list, meta); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %s\n", out, cfg)
	return nil
}

// ConfigOf is the config the loader will infer for the reference's model name (clip.ReleasedConfig).
func ConfigOf(name string) (clip.Config, error) {
	c, ok := clip.ReleasedConfig(name)
	if !ok {
		return clip.Config{}, fmt.Errorf("no released architecture for %q", name)
	}
	return c, nil
}

func randomValues(rng *rand.Rand, name string, shape []int) []float32 {
	n := 1
	for _, d := range shape {
		n *= d
	}
	mean, std := 0.0, 0.02
	switch {
	case strings.HasSuffix(name, "running_var"):
		mean, std = 1, 0.1
	case strings.Contains(name, "ln_") || strings.Contains(name, ".bn") || strings.Contains(name, "downsample.1"):
		if strings.HasSuffix(name, ".weight") {
			mean, std = 1, 0.1
		} else {
			std = 0.05
		}
	case name == "visual.proj" || name == "text_projection":
		std = 1 / math.Sqrt(float64(shape[0]))
	case strings.HasSuffix(name, "positional_embedding") || name == "visual.class_embedding":
		std = 0.1
	case len(shape) >= 2 && !strings.Contains(name, "embedding"):
		std = 1 / math.Sqrt(float64(n/shape[0])) // fan_in
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(mean + std*rng.NormFloat64())
	}
	return v
}
