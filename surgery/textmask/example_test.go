package textmask_test

import (
	"context"
	"log"
	"os"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/surgery/textmask"
)

// The README's SAM snippets, compiled (not run: they download CS-ViT-B/16 and sam_vit_b).
func ExampleTextToMask() {
	ctx := context.Background()
	cm, err := clip.Load(ctx, "CS-ViT-B/16", clip.LoadOptions{Progress: os.Stderr})
	if err != nil {
		log.Fatal(err)
	}
	ex, err := surgery.NewExplainer(cm)
	if err != nil {
		log.Fatal(err)
	}
	m, err := sam.Load(ctx, "sam_vit_b", sam.LoadOptions{Progress: os.Stderr})
	if err != nil {
		log.Fatal(err)
	}
	p := sam.NewPredictor(m)
	img, err := surgery.DecodeFile("demo.jpg")
	if err != nil {
		log.Fatal(err)
	}
	_, masks, err := textmask.TextToMask(ex, p, img, []string{"bench"}, surgery.Options{Size: 512})
	if err != nil {
		log.Fatal(err)
	}
	rgb := surgery.ToRGB(img)
	drawn, err := masks[0].Draw(rgb.Pix, rgb.H, rgb.W, textmask.DemoStyle())
	if err != nil {
		log.Fatal(err)
	}
	if err := surgery.WritePNG("demo_bench_sam.png", drawn, rgb.H, rgb.W); err != nil {
		log.Fatal(err)
	}
}
