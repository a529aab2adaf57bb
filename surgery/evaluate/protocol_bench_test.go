package evaluate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// BenchmarkPredictProtocol is a preset's whole prediction of one 500×375 image (a VOC image's
// size): SCLIP on VOC21 (resized to 448×336, six 224 windows, stride 112) with one window per
// encoder call and with all six in one, and NACLIP on Context60 (six windows, PAMR on 60 names).
// It needs full-size weights, e.g. tools/randomckpt's random ViT-B/16:
//
//	CLIPSURGERY_BENCH_WEIGHTS=out/vit_b16_random.safetensors go test -run '^$' -bench PredictProtocol ./surgery/evaluate
//
// The text features are encoded before the timer starts; images/s is reported.
func BenchmarkPredictProtocol(b *testing.B) {
	path := os.Getenv("CLIPSURGERY_BENCH_WEIGHTS")
	if path == "" {
		b.Skip("set CLIPSURGERY_BENCH_WEIGHTS to a CLIP checkpoint (e.g. out/vit_b16_random.safetensors)")
	}
	m, err := clip.Load(context.Background(), path, clip.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ex, err := surgery.NewExplainerWith(m, surgery.ExplainerOptions{NoTextCache: true})
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 18))
	pix := &imageprep.Pixels{W: 500, H: 375, C: 3, Pix: make([]uint8, 500*375*3)}
	for i := range pix.Pix {
		pix.Pix[i] = uint8(rng.IntN(256))
	}
	for _, bc := range []struct {
		peer, bench string
		batch       int
	}{{"sclip", "voc21", 1}, {"sclip", "voc21", 6}, {"naclip", "context60", 6}} {
		b.Run(fmt.Sprintf("%s-%s-batch%d", bc.peer, bc.bench, bc.batch), func(b *testing.B) {
			p, err := LookupProtocol(bc.peer, bc.bench)
			if err != nil {
				b.Fatal(err)
			}
			cs, err := PeerClasses(p.ClassFile)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := PredictProtocol(context.Background(), ex, pix, p, cs, bc.batch); err != nil { // text, compile
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := PredictProtocol(context.Background(), ex, pix, p, cs, bc.batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "img/s")
		})
	}
}
