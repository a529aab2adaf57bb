package textmask

import (
	"slices"
	"testing"

	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// The presence gate reaches SAM: a target below surgery.Options.PresenceThreshold gets no mask
// (the others the masks of the ungated call), and when every target is below it SAM does not
// even embed the image.
func TestPresenceGateSkipsSAM(t *testing.T) {
	m, ex, px := tinyModels(t)
	targets := []string{"bench", "person", "sky"}
	opt := surgery.Options{Labels: []string{"bench", "person", "ground", "building", "sky"}, Templates: []string{"a photo of a {}."}}
	ungated, masks, err := TextToMaskPixels(ex, sam.NewPredictor(m), px, targets, opt)
	if err != nil {
		t.Fatal(err)
	}
	ps := make([]float32, len(ungated.Targets))
	for i, tg := range ungated.Targets {
		ps[i] = tg.Presence
	}
	sorted := slices.Clone(ps)
	slices.Sort(sorted)
	opt.PresenceThreshold = (sorted[0] + sorted[1]) / 2
	res, gated, err := TextToMaskPixels(ex, sam.NewPredictor(m), px, targets, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(gated) != len(targets)-1 {
		t.Fatalf("%d masks for %d targets, one below the gate (presences %v)", len(gated), len(targets), ps)
	}
	j := 0
	for i, tg := range res.Targets {
		if tg.Absent {
			if ps[i] != sorted[0] {
				t.Errorf("%s is absent but not the least present (%v)", tg.Text, ps)
			}
			continue
		}
		if gated[j].Text != tg.Text || !sameBools(gated[j].Mask, masks[i].Mask) {
			t.Errorf("%s: mask differs from the ungated call's", tg.Text)
		}
		j++
	}
	opt.PresenceThreshold = 1
	pred := sam.NewPredictor(m)
	res, none, err := TextToMaskPixels(ex, pred, px, targets, opt)
	if err != nil || len(none) != 0 || !res.Targets[0].Absent {
		t.Fatalf("all absent: %d masks, %v", len(none), err)
	}
	if _, err := pred.Embedding(); err == nil {
		t.Error("SAM embedded the image although every target is absent")
	}
}
