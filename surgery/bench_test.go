package surgery

import (
	"math/rand/v2"
	"testing"
)

// randomUnit returns rows×cols random rows of unit norm (stand-ins for CLIP features).
func randomUnit(rows, cols int, seed uint64) Matrix {
	r := rand.New(rand.NewPCG(seed, 1))
	m := NewMatrix(rows, cols)
	for i := range m.Data {
		m.Data[i] = float32(r.NormFloat64())
	}
	return Normalize(m)
}

// BenchmarkSurgeryMap59 is the demo's per-image post-processing at ViT-B/16 scale: feature surgery
// of 1025 tokens × 512 channels against 59 classes, then the 480×640 similarity maps — all 59
// classes as the PyTorch reference computes them, or only the one class that is drawn.
func BenchmarkSurgeryMap59(b *testing.B) {
	img, text := randomUnit(1025, 512, 1), randomUnit(59, 512, 2)
	all := make([]int, 59)
	for i := range all {
		all[i] = i
	}
	for _, bc := range []struct {
		name    string
		classes []int
	}{{"all59", all}, {"one", []int{36}}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				sim, _, err := FeatureSurgery(img, text, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := SimilarityMap(sim, bc.classes, 480, 640); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFeatureSurgery isolates the surgery (1025 × 59 × 512).
func BenchmarkFeatureSurgery(b *testing.B) {
	img, text := randomUnit(1025, 512, 1), randomUnit(59, 512, 2)
	for b.Loop() {
		if _, _, err := FeatureSurgery(img, text, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSimilarityMap59 isolates the 59 maps at 480×640 (a 32×32 grid).
func BenchmarkSimilarityMap59(b *testing.B) {
	sim := randomUnit(1025, 59, 3)
	all := make([]int, 59)
	for i := range all {
		all[i] = i
	}
	for b.Loop() {
		if _, err := SimilarityMap(sim, all, 480, 640); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFLOSSCandidate is FLOSS's work per candidate template and image besides the shared
// encoding: the 14×14 similarity of 59 classes resized to 375×500 and the per-pixel softmax,
// argmax and entropy (80 candidates make one image's selection).
func BenchmarkFLOSSCandidate(b *testing.B) {
	img, text := randomUnit(197, 512, 1), randomUnit(59, 512, 2)
	views := &imageViews{h: 375, w: 500, side: 14, feats: []Matrix{img}}
	for b.Loop() {
		planes, err := views.planes(text, true)
		if err != nil {
			b.Fatal(err)
		}
		pixelEntropies(planes, DefaultSelectLogitScale, nil, 59)
	}
}
