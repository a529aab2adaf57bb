package sam

import (
	"errors"
	"fmt"
	"math"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	"github.com/gomlx/gomlx/core/tensors"
)

// Point is one point prompt: (X, Y) pixels of the original image and its label, 1 foreground,
// 0 background or −1 ignored (not-a-point). It is surgery.Point too: CLIP Surgery's points are
// SAM's input as they are.
type Point = modelkit.Point

// Prompt is one SamPredictor.predict call's input. Coordinates are (x, y) pixels of the
// original image.
type Prompt struct {
	Points []Point     // point_coords and point_labels
	Box    *[4]float64 // x0, y0, x1, y1, or nil
	// MaskInput is an earlier prediction's low-res logits (Prediction.LowResLogits[k]), S×S
	// with S = Config.MaskInputSize() (256), or nil.
	MaskInput []float32
	// Multimask returns the 3 multimask outputs instead of the single-mask one.
	Multimask bool
}

// Prediction is SamPredictor.predict's result for one prompt: C masks (3 with Multimask, else
// 1), row-major H×W at the original image size.
type Prediction struct {
	Height, Width int
	Masks         [][]bool    // Masks[k][y·W+x] = Logits[k][y·W+x] > Config.MaskThreshold
	Scores        []float32   // predicted IoU per mask (raw IoU head, no sigmoid)
	Logits        [][]float32 // upscaled mask logits at the original size (postprocess_masks)
	LowResLogits  [][]float32 // decoder logits, LowResSize² each: the next call's MaskInput
	LowResSize    int
}

// Best is the index of the highest score (np.argmax: the first one on ties), the mask CLIP
// Surgery's demo keeps.
func (p *Prediction) Best() int {
	best := 0
	for i, s := range p.Scores {
		if s > p.Scores[best] {
			best = i
		}
	}
	return best
}

// Predict is SamPredictor.predict on the predictor's current image: points (x, y, label 1, 0 or
// −1), an optional box, an optional mask input (an earlier LowResLogits entry) and the multimask
// switch. At least one point or a box is required.
func (p *Predictor) Predict(points []Point, box *[4]float64, maskInput []float32, multimask bool) (*Prediction, error) {
	emb, err := p.Embedding()
	if err != nil {
		return nil, err
	}
	return p.Model.PredictEmbedding(emb, Prompt{Points: points, Box: box, MaskInput: maskInput, Multimask: multimask})
}

// PredictEmbedding is Predict for an embedding computed by EmbedImage (or read from elsewhere).
// Any panic below (GoMLX reports graph failures by panicking) is returned as an error.
func (m *Model) PredictEmbedding(emb *ImageEmbedding, pr Prompt) (res *Prediction, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("sam: predict: %v", r)
		}
	}()
	if emb == nil || emb.Features == nil {
		return nil, ErrNoImage
	}
	orig, input := emb.OriginalSize, emb.InputSize
	if orig[0] <= 0 || orig[1] <= 0 || input[0] <= 0 || input[1] <= 0 || input[0] > m.Config.ImageSize || input[1] > m.Config.ImageSize {
		return nil, fmt.Errorf("sam: embedding with original size %v and input size %v", orig, input)
	}
	tok, err := LayoutSparseTokens(pr.Points, pr.Box, orig, input)
	if err != nil {
		return nil, err
	}
	pe, err := m.EmbedPrompt(tok, pr.MaskInput)
	if err != nil {
		return nil, err
	}
	dec, err := m.DecodeMasks(emb.Features, pe)
	if err != nil {
		return nil, err
	}
	return m.postprocess(dec, pr.Multimask, orig, input)
}

// checkMaskInput requires an S×S array of finite logits.
func checkMaskInput(mask []float32, s int) error {
	if len(mask) != s*s {
		return fmt.Errorf("sam: mask input has %d values, want %d×%d = %d (an earlier prediction's low-res logits)", len(mask), s, s, s*s)
	}
	for i, v := range mask {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("sam: mask input value %d is %v", i, v)
		}
	}
	return nil
}

// SparseTokens are the prompt encoder's sparse inputs: T tokens of input-frame pixel
// coordinates (x, y) with upstream's +0.5 shift, and their labels (see labelPad ...).
type SparseTokens struct {
	Coords []float32 // T×2
	Labels []int32   // T
}

// Len is the token count T.
func (t *SparseTokens) Len() int { return len(t.Labels) }

func (t *SparseTokens) coordsTensor() *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(t.Coords, 1, t.Len(), 2)
}

func (t *SparseTokens) labelsTensor() *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(t.Labels, 1, t.Len())
}

// ErrNoPrompt is returned when a prediction has neither points nor a box.
var ErrNoPrompt = errors.New("sam: no prompt: give at least one point or a box")

// LayoutSparseTokens validates a prompt and lays out its sparse tokens as upstream's
// predict + PromptEncoder do: points transformed to the input frame (TransformCoords) and
// shifted by +0.5; without a box, a padding token (0, 0) with label −1 after them; with a
// box, its two corners (labels 2, 3) after the points. orig and input are (H, W).
func LayoutSparseTokens(points []Point, box *[4]float64, orig, input [2]int) (*SparseTokens, error) {
	if len(points) == 0 && box == nil {
		return nil, ErrNoPrompt
	}
	h, w := float64(orig[0]), float64(orig[1])
	inside := func(what string, x, y float64) error {
		if !(x >= 0 && x <= w && y >= 0 && y <= h) { // also rejects NaN
			return fmt.Errorf("sam: %s (%g, %g) is outside the %d×%d image (x in [0, %d], y in [0, %d])", what, x, y, orig[1], orig[0], orig[1], orig[0])
		}
		return nil
	}
	tok := &SparseTokens{}
	add := func(x, y float64, label int32) {
		tx, ty := TransformCoords(x, y, orig, input)
		tok.Coords = append(tok.Coords, tx+0.5, ty+0.5)
		tok.Labels = append(tok.Labels, label)
	}
	for i, pt := range points {
		if err := inside(fmt.Sprintf("point %d", i), pt.X, pt.Y); err != nil {
			return nil, err
		}
		switch pt.Label {
		case labelForeground, labelBackground, labelPad:
		default:
			return nil, fmt.Errorf("sam: point %d has label %d, want 1 (foreground), 0 (background) or -1 (ignore)", i, pt.Label)
		}
		add(pt.X, pt.Y, int32(pt.Label))
	}
	if box == nil {
		// Upstream pads before its +0.5 is visible to the PE, and the pad's PE is zeroed anyway.
		tok.Coords = append(tok.Coords, 0, 0)
		tok.Labels = append(tok.Labels, labelPad)
		return tok, nil
	}
	b := *box
	if err := inside("box corner", b[0], b[1]); err != nil {
		return nil, err
	}
	if err := inside("box corner", b[2], b[3]); err != nil {
		return nil, err
	}
	if b[2] < b[0] || b[3] < b[1] {
		return nil, fmt.Errorf("sam: box %v is not (x0, y0, x1, y1) with x0 ≤ x1 and y0 ≤ y1", b)
	}
	add(b[0], b[1], labelBoxTL)
	add(b[2], b[3], labelBoxBR)
	return tok, nil
}

// TransformCoords is ResizeLongestSide.apply_coords for one point: x·(newW/W), y·(newH/H) in
// float64 with the rounded target size, cast to float32 (as predict's torch.as_tensor does).
// orig and input are (H, W).
func TransformCoords(x, y float64, orig, input [2]int) (float32, float32) {
	sx := float64(input[1]) / float64(orig[1])
	sy := float64(input[0]) / float64(orig[0])
	return float32(x * sx), float32(y * sy)
}

// postprocess selects the output channels (1.. with multimask, 0 without), upsamples their
// logits to the original size (PostprocessMasks) and thresholds them.
func (m *Model) postprocess(dec *DecoderOutputs, multimask bool, orig, input [2]int) (*Prediction, error) {
	s := dec.Logits.Shape[2]
	nm := dec.Logits.Shape[1]
	first, last := 0, 1
	if multimask {
		first, last = 1, nm
	}
	res := &Prediction{Height: orig[0], Width: orig[1], LowResSize: s}
	for k := first; k < last; k++ {
		low := dec.Logits.Data[k*s*s : (k+1)*s*s]
		logits, err := PostprocessMasks(low, s, m.Config.ImageSize, input, orig)
		if err != nil {
			return nil, err
		}
		mask := make([]bool, len(logits))
		for i, v := range logits {
			mask[i] = v > m.Config.MaskThreshold
		}
		res.LowResLogits = append(res.LowResLogits, low)
		res.Logits = append(res.Logits, logits)
		res.Masks = append(res.Masks, mask)
		res.Scores = append(res.Scores, dec.IoU.Data[k])
	}
	return res, nil
}
