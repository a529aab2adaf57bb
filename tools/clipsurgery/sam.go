package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"

	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/npy"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/surgery/textmask"
)

// loadSAM opens the -sam checkpoint (file or released name) once per run; nil without -sam.
func loadSAM(ctx context.Context, c *config, stderr io.Writer) (*sam.Predictor, error) {
	if c.sam == "" {
		return nil, nil
	}
	m, err := sam.Load(ctx, c.sam, sam.LoadOptions{CacheDir: c.ckpt.CacheDir, Offline: c.ckpt.Offline, Progress: stderr, Backend: c.backend})
	if err != nil {
		return nil, fmt.Errorf("-sam: %w", err)
	}
	return sam.NewPredictor(m), nil
}

// writeSAM embeds the image once (SetImage), segments every target from its CLIP Surgery points
// (demo.py: multimask, best score) and writes <stem>_<text>_sam.png, the mask and points drawn on
// the image in the demo's colours, and with -npy the mask as <stem>_<text>_sam.npy (uint8 H×W, 0/1).
func writeSAM(pred *sam.Predictor, c *config, pix *imageprep.Pixels, res *surgery.Result, base string, stdout io.Writer) error {
	rgb := pix.RGB()
	if err := pred.SetImage(rgb); err != nil {
		return err
	}
	masks, err := textmask.TextMasks(pred, res)
	if err != nil {
		return err
	}
	for _, tm := range masks {
		stem := filepath.Join(c.out, base+"_"+fileSafe(tm.Text)+"_sam")
		drawn, err := tm.Draw(rgb.Pix, rgb.H, rgb.W, textmask.DemoStyle())
		if err != nil {
			return err
		}
		img, err := rgbImage(drawn, rgb.H, rgb.W)
		if err != nil {
			return err
		}
		if err := writePNG(stem+".png", img); err != nil {
			return err
		}
		fmt.Fprintln(stdout, stem+".png")
		if c.writeNpy {
			data, err := maskNpy(tm.Mask, rgb.H, rgb.W)
			if err != nil {
				return err
			}
			if err := writeAtomic(stem+".npy", data); err != nil {
				return err
			}
			fmt.Fprintln(stdout, stem+".npy")
		}
	}
	return nil
}

// maskNpy encodes a boolean mask as a NumPy .npy file (uint8 [h, w], 1 = masked).
func maskNpy(mask []bool, h, w int) ([]byte, error) {
	var b bytes.Buffer
	if err := npy.WriteMask(&b, []int{h, w}, mask); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
