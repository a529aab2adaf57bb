// Package textmask is CLIP Surgery's demo.py "text to points from CLIP Surgery to guide SAM":
// the glue above both the surgery package (text → points) and SAM (points → mask), and the
// demo's drawing of a mask and its points.
package textmask

import (
	"errors"
	"fmt"
	"image"
	"slices"

	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// TextMask is one text target segmented the way demo.py does it: the target's CLIP Surgery
// points (as SimilarityMapToPoints returned them) and SAM's best-scored mask for them.
type TextMask struct {
	Text string
	*sam.PointsMask
}

// TextMasks segments every target of a CLIP Surgery result on the predictor's current image,
// which must be the image the result explains (same size). A target the presence gate found
// absent (surgery.Target.Absent: no points) gets no mask and is left out; SAM is not run for it.
func TextMasks(p *sam.Predictor, res *surgery.Result) ([]*TextMask, error) {
	if res == nil {
		return nil, errors.New("textmask: no CLIP Surgery result")
	}
	emb, err := p.Embedding()
	if err != nil {
		return nil, err
	}
	if emb.OriginalSize != [2]int{res.Height, res.Width} {
		return nil, fmt.Errorf("textmask: the predictor's image is %dx%d but the CLIP Surgery result is for %dx%d",
			emb.OriginalSize[1], emb.OriginalSize[0], res.Width, res.Height)
	}
	out := make([]*TextMask, 0, len(res.Targets))
	for _, t := range res.Targets {
		if t.Absent {
			continue
		}
		pm, err := p.MaskFromPoints(t.Points)
		if err != nil {
			return nil, fmt.Errorf("textmask: target %q: %w", t.Text, err)
		}
		out = append(out, &TextMask{Text: t.Text, PointsMask: pm})
	}
	return out, nil
}

// TextToMask is the demo's whole "text to points from CLIP Surgery to guide SAM" section for one
// image: CLIP Surgery explains the targets (points from similarity_map_to_points), SAM embeds the
// image (SetImage) and segments each target from its points. The predictor keeps the image.
// With opt.PresenceThreshold, targets found absent get no mask, and when all are absent SAM does
// not embed the image at all.
func TextToMask(ex *surgery.Explainer, pred *sam.Predictor, img image.Image, targets []string, opt surgery.Options) (*surgery.Result, []*TextMask, error) {
	if img == nil {
		return nil, nil, errors.New("textmask: TextToMask: no image")
	}
	return TextToMaskPixels(ex, pred, imageprep.ToPixels(img), targets, opt)
}

// TextToMaskPixels is TextToMask for decoded pixels, e.g. numpy's np.array(Image.open(file))
// (surgery.PixelsFromArray): the way to start from the reference's own JPEG decoding. Both
// models see the same pixels: CLIP through ExplainPixels, SAM as RGB (as demo.py's
// set_image(np.array(pil_img))).
func TextToMaskPixels(ex *surgery.Explainer, pred *sam.Predictor, px *surgery.Pixels, targets []string, opt surgery.Options) (*surgery.Result, []*TextMask, error) {
	if ex == nil || pred == nil || px == nil {
		return nil, nil, errors.New("textmask: TextToMask needs an explainer, a predictor and an image")
	}
	res, err := ex.ExplainPixels(px, targets, opt)
	if err != nil {
		return nil, nil, err
	}
	if !slices.ContainsFunc(res.Targets, func(t surgery.Target) bool { return !t.Absent }) {
		return res, nil, nil
	}
	if err := pred.SetImage(px.RGB()); err != nil {
		return nil, nil, err
	}
	masks, err := TextMasks(pred, res)
	if err != nil {
		return nil, nil, err
	}
	return res, masks, nil
}
