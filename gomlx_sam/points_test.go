package sam

import (
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// The stored b sets are CLIP Surgery-style points (similarity_map_to_points on a 7×7 map):
// MaskFromPoints must keep the golden best mask.
func TestMaskFromPointsGolden(t *testing.T) {
	m := loadTiny(t)
	for _, g := range goldenPromptSets {
		if g.set != "b_clipsurgery_points" {
			continue
		}
		t.Run(g.String(), func(t *testing.T) {
			p := NewPredictor(m)
			p.SetEmbedding(goldenEmbedding(t, g.image))
			pr := g.prompt(t)
			points := make([][2]int, len(pr.Points))
			labels := make([]uint8, len(pr.Labels))
			for i, pt := range pr.Points {
				points[i] = [2]int{int(pt[0]), int(pt[1])}
				labels[i] = uint8(pr.Labels[i])
			}
			tm, err := p.MaskFromPoints(points, labels)
			if err != nil {
				t.Fatal(err)
			}
			checkPrediction(t, g, tm.Prediction)
			if tm.Best != tm.Prediction.Best() || tm.Score != tm.Prediction.Scores[tm.Best] {
				t.Errorf("best %d score %v, prediction says %d", tm.Best, tm.Score, tm.Prediction.Best())
			}
			checkMask(t, "text mask", tm.Mask, tm.Prediction.Logits[tm.Best], goldens.Load(t, g.file("best_mask.npy")).U8)
		})
	}
}
