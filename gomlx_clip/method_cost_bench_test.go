package clip

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// BenchmarkMethodCost times the image encoder of every training-free method and of ResCLIP on top
// of the methods its paper builds on, at 224 and 448, so that each one's cost relative to its base
// can be read off (issue 21's speed record; figures in docs/BENCHMARKS.md). It needs full-size
// weights, e.g. tools/randomckpt's random ViT-B/16:
//
//	CLIPSURGERY_BENCH_WEIGHTS=out/vit_b16_random.safetensors go test -run '^$' -bench MethodCost ./gomlx_clip
//
// ResCLIP's semantic feedback reads 21 random unit text rows (VOC21's label count); its two parts
// are also timed alone (rcs-only: NoSFR, sfr-only: NoRCS). Every case compiles before its timer
// starts.
func BenchmarkMethodCost(b *testing.B) {
	path := os.Getenv("CLIPSURGERY_BENCH_WEIGHTS")
	if path == "" {
		b.Skip("set CLIPSURGERY_BENCH_WEIGHTS to a CLIP checkpoint (e.g. out/vit_b16_random.safetensors)")
	}
	m, err := Load(context.Background(), path, LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	classes := randomUnitRows(21, m.Config.EmbedDim, 7)
	for _, side := range []int{224, 448} {
		pix := make([]float32, 3*side*side)
		rng := rand.New(rand.NewPCG(uint64(side), 3))
		for i := range pix {
			pix[i] = float32(rng.NormFloat64())
		}
		for _, name := range []string{"raw", "surgery", "maskclip", "sclip", "sclip+resclip", "clearclip",
			"clearclip+resclip", "naclip", "naclip+resclip", "naclip+resclip/rcs-only", "naclip+resclip/sfr-only", "gem", "scclip"} {
			b.Run(fmt.Sprintf("%d/%s", side, name), func(b *testing.B) {
				spec, ablation, _ := strings.Cut(name, "/")
				method, mods, err := ParseMethodWithModifiers(spec)
				if err != nil {
					b.Fatal(err)
				}
				opt := ImageOptions{Method: method, Modifiers: mods}
				opt.ResCLIP.NoSFR = ablation == "rcs-only" // ResCLIP's two parts apart
				opt.ResCLIP.NoRCS = ablation == "sfr-only"
				if _, err := m.EncodeImageWithClasses(pix, 1, side, side, opt, classes); err != nil { // compile
					b.Fatal(err)
				}
				for b.Loop() {
					if _, err := m.EncodeImageWithClasses(pix, 1, side, side, opt, classes); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// randomUnitRows returns k random rows of unit norm as [k, d] features.
func randomUnitRows(k, d int, seed uint64) *Features {
	rng := rand.New(rand.NewPCG(seed, 11))
	data := make([]float32, k*d)
	for r := range k {
		var ss float64
		row := data[r*d : (r+1)*d]
		for i := range row {
			v := rng.NormFloat64()
			row[i] = float32(v)
			ss += v * v
		}
		inv := float32(1 / math.Sqrt(ss))
		for i := range row {
			row[i] *= inv
		}
	}
	return &Features{Data: data, Shape: []int{k, d}}
}
