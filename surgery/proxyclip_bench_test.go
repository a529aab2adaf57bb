package surgery

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
)

// BenchmarkProxyCLIPVsSurgery is one 500×375 image (a VOC image's size) explained for VOC's 20
// object names as the label set (every one a target) by CLIP Surgery and by ProxyCLIP with a DINO VFM, whole-image at the model's input
// side and with sliding windows (stride 112), so ProxyCLIP's cost per image relative to CLIP
// Surgery can be read off (issue 23's speed record; figures in docs/BENCHMARKS.md). It needs
// full-size weights for both models, e.g. tools/randomckpt's:
//
//	CLIPSURGERY_BENCH_WEIGHTS=out/vit_b16_random.safetensors \
//	CLIPSURGERY_BENCH_VFM=out/dinov2_b14_random.safetensors go test -run '^$' -bench ProxyCLIPVsSurgery ./surgery
//
// Text features are encoded and every program compiled before the timer starts.
func BenchmarkProxyCLIPVsSurgery(b *testing.B) {
	path, vfmPath := os.Getenv("CLIPSURGERY_BENCH_WEIGHTS"), os.Getenv("CLIPSURGERY_BENCH_VFM")
	if path == "" || vfmPath == "" {
		b.Skip("set CLIPSURGERY_BENCH_WEIGHTS to a CLIP checkpoint and CLIPSURGERY_BENCH_VFM to a DINO one")
	}
	ctx := context.Background()
	m, err := clip.Load(ctx, path, clip.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	vfm, err := LoadVFM(ctx, vfmPath, VFMLoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ex, err := NewExplainerWith(m, ExplainerOptions{NoTextCache: true})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 23))
	pix := &imageprep.Pixels{W: 500, H: 375, C: 3, Pix: make([]uint8, 500*375*3)}
	for i := range pix.Pix {
		pix.Pix[i] = uint8(rng.IntN(256))
	}
	names := []string{"aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
		"diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"}
	for _, slide := range []bool{false, true} {
		for _, method := range []clip.Method{clip.MethodSurgery, clip.MethodProxyCLIP} {
			opt := Options{Method: method, Labels: names, Slide: slide, Stride: 112}
			if !slide {
				opt.Stride = 0
			}
			if method == clip.MethodProxyCLIP {
				opt.VFM = vfm
			}
			mode := "whole"
			if slide {
				mode = "slide"
			}
			b.Run(fmt.Sprintf("%s/%s", mode, method), func(b *testing.B) {
				if _, err := ex.ExplainPixelsContext(ctx, pix, names, opt); err != nil { // text, compile
					b.Fatal(err)
				}
				for b.Loop() {
					if _, err := ex.ExplainPixelsContext(ctx, pix, names, opt); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "img/s")
			})
		}
	}
}
