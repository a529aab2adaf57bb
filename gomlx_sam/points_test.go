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
			tm, err := p.MaskFromPoints(pr.Points)
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
