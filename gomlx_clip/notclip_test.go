package clip

import (
	"strings"
	"testing"
)

// TestVFMGivenAsCLIP: a DINO / DINOv2 checkpoint (the authors' .pth or a Hugging Face copy) given to
// the CLIP loader is one line saying what it is and where it goes, not a missing text tower.
func TestVFMGivenAsCLIP(t *testing.T) {
	for _, p := range []string{"../testdata/dino/models/dino_v1_tiny.pth", "../testdata/dino/models/dinov2_tiny_hf",
		"../testdata/dino/models/dinov2_reg_tiny.pth"} {
		_, err := LoadFile(p, LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), "not a CLIP checkpoint (a DINO / DINOv2 checkpoint") ||
			strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v", p, err)
		}
	}
}
