package sam

// PointsMask is SAM's answer to one set of point prompts the way CLIP Surgery's demo.py asks
// for it: SamPredictor.predict with multimask_output=True, keeping the mask with the highest
// predicted IoU.
type PointsMask struct {
	Points     []Point // on the original image; label 1 positive, 0 negative
	Prediction *Prediction
	Best       int    // Prediction.Best(): np.argmax(scores)
	Mask       []bool // Prediction.Masks[Best], H×W row-major
	Score      float32
}

// MaskFromPoints is demo.py's SAM step for one set of points: predict with the points (no box,
// no mask input, multimask) and keep the best-scored mask.
func (p *Predictor) MaskFromPoints(points []Point) (*PointsMask, error) {
	pred, err := p.Predict(points, nil, nil, true)
	if err != nil {
		return nil, err
	}
	best := pred.Best()
	return &PointsMask{Points: points, Prediction: pred, Best: best, Mask: pred.Masks[best], Score: pred.Scores[best]}, nil
}
