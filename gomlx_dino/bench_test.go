package dino

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/clipsurgery/clipsurgery/weights"
)

// BenchmarkEncodeDINOv2B14 times the DINOv2 ViT-B/14 encoder on full-size random weights at 224
// and 448 (the speed check; the PyTorch peer is the authors' code on the same machine).
// Figures belong in docs/BENCHMARKS.md.
func BenchmarkEncodeDINOv2B14(b *testing.B) {
	cfg, err := ReleasedConfig("dinov2-b14")
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := ExpectedShapes(cfg)
	state := make(map[string]*weights.Tensor, len(shapes)+1)
	shapes["mask_token"] = []int{1, cfg.Width}
	for name, shape := range shapes {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.02)
		}
		state[name] = &weights.Tensor{Name: name, Shape: shape, DType: "F32", F32: v}
	}
	m, err := NewModel(state, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	for _, side := range []int{224, 448} {
		b.Run(fmt.Sprint(side), func(b *testing.B) {
			pix := patternImages(1, side, side)
			if _, err := m.EncodeImage(pix, 1, side, side); err != nil { // compile outside the timing
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := m.EncodeImage(pix, 1, side, side); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
