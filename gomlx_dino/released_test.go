package dino

import (
	"testing"

	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// TestReleasedConfigs: every registry name's configuration is named by it, and its state-dict
// shapes (with DINOv2's mask_token) infer it back exactly — the round trip a released file takes.
func TestReleasedConfigs(t *testing.T) {
	for _, name := range registry.DINONames() {
		c, err := ReleasedConfig(name)
		if err != nil {
			t.Fatal(err)
		}
		if c.Name() != name {
			t.Errorf("%s: config named %s", name, c.Name())
		}
		shapes := ExpectedShapes(c)
		for k, v := range unusedTensors(c) {
			shapes[k] = v
		}
		got, err := InferConfig(shapes, 0)
		if err != nil || got != c {
			t.Errorf("%s: inferred %+v, %v\nwant %+v", name, got, err, c)
		}
	}
	if c, _ := ReleasedConfig("dinov2_vitg14"); c.MLPHidden != 4096 || c.FFN != FFNSwiGLU || c.NativeGrid != 37 {
		t.Errorf("ViT-g: %+v", c)
	}
	if c, _ := ReleasedConfig("facebook/dino-vits8"); c.NativeGrid != 28 || c.Family != V1 {
		t.Errorf("DINO ViT-S/8: %+v", c)
	}
}
