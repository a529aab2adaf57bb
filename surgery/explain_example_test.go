package surgery_test

import (
	"context"
	"fmt"
	"log"
	"os"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// The README's API snippet, compiled (not run: it downloads CS-ViT-B/16).
func ExampleExplainer() {
	ctx := context.Background()
	m, err := clip.Load(ctx, "CS-ViT-B/16", clip.LoadOptions{Progress: os.Stderr})
	if err != nil {
		log.Fatal(err)
	}
	ex, err := surgery.NewExplainer(m)
	if err != nil {
		log.Fatal(err)
	}
	img, err := surgery.DecodeFile("demo.jpg")
	if err != nil {
		log.Fatal(err)
	}
	res, err := ex.Explain(img, []string{"person", "bench", "person+bench"}, surgery.Options{Size: 2 * m.Config.ImageResolution})
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range res.Targets {
		if err := surgery.WritePNG("demo_"+t.Text+".png", t.OverlayRGB, res.Height, res.Width); err != nil {
			log.Fatal(err)
		}
		fmt.Println(t.Text, len(t.Points), "points")
	}
}
