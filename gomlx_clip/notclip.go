package clip

import (
	"fmt"
	"strings"

	"github.com/clipsurgery/clipsurgery/weights"
)

// notCLIP says, in one line, that a checkpoint holding no image tower is not CLIP at all, naming
// the vision foundation model its tensor names belong to when they tell (DINO / DINOv2 or SAM:
// ProxyCLIP's VFMs, given to the wrong loader); nil when it has CLIP's image tower.
func notCLIP(path string, canon map[string]*weights.Tensor) error {
	for name := range canon {
		if strings.HasPrefix(name, "visual.") {
			return nil
		}
	}
	what := "no visual.* tensors"
	for name := range canon {
		switch {
		case name == "patch_embed.proj.weight" || strings.HasSuffix(name, "embeddings.patch_embeddings.projection.weight"):
			what = "a DINO / DINOv2 checkpoint: load it with dino.Load, or give it as ProxyCLIP's VFM (-vfm)"
		case strings.HasPrefix(name, "image_encoder."):
			what = "a Segment Anything checkpoint: load it with sam.Load, or give it as ProxyCLIP's VFM (-vfm)"
		}
	}
	return fmt.Errorf("clip: %s is not a CLIP checkpoint (%s)", path, what)
}
