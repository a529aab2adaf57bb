package clip

import (
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// NewModel leaves the checkpoint alone; NewModelReleasing drops its host copies and gives the
// same model (weights and outputs).
func TestNewModelReleasing(t *testing.T) {
	keep := readCheckpoint(t, "vit16.openai.safetensors")
	give := readCheckpoint(t, "vit16.openai.safetensors")
	a, err := NewModel(keep, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewModelReleasing(give, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, tt := range keep {
		if _, used := a.Weight(name); used && tt.F32 == nil {
			t.Fatalf("NewModel released %q", name)
		}
	}
	for _, name := range b.weights.Names() {
		if give[name].F32 != nil {
			t.Errorf("NewModelReleasing kept the host copy of %q", name)
		}
		wa, _ := a.Weight(name)
		wb, _ := b.Weight(name)
		if len(wa) != len(wb) || len(wa) == 0 || wa[len(wa)/2] != wb[len(wb)/2] || wa[0] != keep[name].F32[0] {
			t.Fatalf("weight %q differs between the two models or from the checkpoint", name)
		}
	}
	fa, fb := encodeGoldenImage(t, a, 224, SurgeryOptions()), encodeGoldenImage(t, b, 224, SurgeryOptions())
	goldens.AssertClose(t, "released model", fb.Data, fb.Shape, goldens.Load(t, "vit16/surgery/demo_224/image_features_raw.f32.npy"), atol, rtol)
	goldens.AssertClose(t, "kept model", fa.Data, fa.Shape, goldens.Load(t, "vit16/surgery/demo_224/image_features_raw.f32.npy"), atol, rtol)
	if _, err := NewModel(give, nil); err == nil {
		t.Error("a released checkpoint was accepted again")
	}
}
