package sam

import "fmt"

// PointsMask is SAM's answer to one set of point prompts the way CLIP Surgery's demo.py asks
// for it: SamPredictor.predict with multimask_output=True, keeping the mask with the highest
// predicted IoU.
type PointsMask struct {
	Points     [][2]int // (x, y) on the original image
	Labels     []uint8  // 1 positive, 0 negative
	Prediction *Prediction
	Best       int    // Prediction.Best(): np.argmax(scores)
	Mask       []bool // Prediction.Masks[Best], H×W row-major
	Score      float32
}

// MaskFromPoints is demo.py's SAM step for one set of points: predict with the points and
// labels (no box, no mask input, multimask) and keep the best-scored mask.
func (p *Predictor) MaskFromPoints(points [][2]int, labels []uint8) (*PointsMask, error) {
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
	return &PointsMask{Points: points, Labels: labels, Prediction: pred, Best: best, Mask: pred.Masks[best], Score: pred.Scores[best]}, nil
}
