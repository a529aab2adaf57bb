package sam

import (
	"errors"
	"fmt"
	"image"

	"github.com/clipsurgery/clipsurgery/gomlx_clip/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// TextMask is one text target segmented the way CLIP Surgery's demo.py does it: the target's
// point prompts go to SamPredictor.predict with multimask_output=True and the mask with the
// highest predicted IoU is kept.
type TextMask struct {
	Text       string
	Points     [][2]int // (x, y) on the original image, as SimilarityMapToPoints returned them
	Labels     []uint8  // 1 positive, 0 negative
	Prediction *Prediction
	Best       int    // Prediction.Best(): np.argmax(scores)
	Mask       []bool // Prediction.Masks[Best], H×W row-major
	Score      float32
}

// MaskFromPoints is demo.py's SAM step for one set of CLIP Surgery points: predict with the
// points and labels (no box, no mask input, multimask) and keep the best-scored mask.
func (p *Predictor) MaskFromPoints(points [][2]int, labels []uint8) (*TextMask, error) {
	if len(points) != len(labels) {
		return nil, fmt.Errorf("sam: %d points but %d labels", len(points), len(labels))
	}
	pts := make([][2]float64, len(points))
	lab := make([]int, len(labels))
	for i, pt := range points {
		pts[i] = [2]float64{float64(pt[0]), float64(pt[1])}
		lab[i] = int(labels[i])
	}
	pred, err := p.Predict(pts, lab, nil, nil, true)
	if err != nil {
		return nil, err
	}
	best := pred.Best()
	return &TextMask{Points: points, Labels: labels, Prediction: pred, Best: best, Mask: pred.Masks[best], Score: pred.Scores[best]}, nil
}

// TextMasks segments every target of a CLIP Surgery result on the predictor's current image,
// which must be the image the result explains (same size).
func (p *Predictor) TextMasks(res *surgery.Result) ([]*TextMask, error) {
	if res == nil {
		return nil, errors.New("sam: no CLIP Surgery result")
	}
	emb, err := p.Embedding()
	if err != nil {
		return nil, err
	}
	if emb.OriginalSize != [2]int{res.Height, res.Width} {
		return nil, fmt.Errorf("sam: the predictor's image is %dx%d but the CLIP Surgery result is for %dx%d",
			emb.OriginalSize[1], emb.OriginalSize[0], res.Width, res.Height)
	}
	out := make([]*TextMask, 0, len(res.Targets))
	for _, t := range res.Targets {
		tm, err := p.MaskFromPoints(t.Points, t.Labels)
		if err != nil {
			return nil, fmt.Errorf("sam: target %q: %w", t.Text, err)
		}
		tm.Text = t.Text
		out = append(out, tm)
	}
	return out, nil
}

// TextToMask is the demo's whole "text to points from CLIP Surgery to guide SAM" section for one
// image: CLIP Surgery explains the targets (points from similarity_map_to_points), SAM embeds the
// image (SetImage) and segments each target from its points. The predictor keeps the image.
func TextToMask(ex *surgery.Explainer, pred *Predictor, img image.Image, targets []string, opt surgery.Options) (*surgery.Result, []*TextMask, error) {
	if img == nil {
		return nil, nil, errors.New("sam: TextToMask: no image")
	}
	return TextToMaskPixels(ex, pred, imageprep.ToPixels(img), targets, opt)
}

// TextToMaskPixels is TextToMask for decoded pixels, e.g. numpy's np.array(Image.open(file))
// (imageprep.PixelsFromArray): the way to start from the reference's own JPEG decoding. Both
// models see the same pixels: CLIP through ExplainPixels, SAM as RGB (as demo.py's
// set_image(np.array(pil_img))).
func TextToMaskPixels(ex *surgery.Explainer, pred *Predictor, px *imageprep.Pixels, targets []string, opt surgery.Options) (*surgery.Result, []*TextMask, error) {
	if ex == nil || pred == nil || px == nil {
		return nil, nil, errors.New("sam: TextToMask needs an explainer, a predictor and an image")
	}
	res, err := ex.ExplainPixels(px, targets, opt)
	if err != nil {
		return nil, nil, err
	}
	if err := pred.SetImage(px.RGB()); err != nil {
		return nil, nil, err
	}
	masks, err := pred.TextMasks(res)
	if err != nil {
		return nil, nil, err
	}
	return res, masks, nil
}
