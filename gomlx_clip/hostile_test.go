package clip_test

import (
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/weights"
)

// A checkpoint naming block 999999999 is refused by config inference (it was believed, and the
// model sized by it), for the ViT and the ResNet trees and the text tower.
func TestInferConfigHugeBlockIndex(t *testing.T) {
	vit, _ := tiny(t)
	rn, err := weights.Read(goldens.Path(t, "models", "rn.openai.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range vit { // the tiny ResNet file is an image tower: borrow a text tower
		if !strings.HasPrefix(k, "visual.") {
			rn.Tensors[k] = v
		}
	}
	for _, c := range []struct {
		name  string
		base  map[string]*weights.Tensor
		extra string
	}{
		{"visual resblocks", vit, "visual.transformer.resblocks.999999999.ln_1.weight"},
		{"text resblocks", vit, "transformer.resblocks.999999999.ln_1.weight"},
		{"index past int", vit, "transformer.resblocks.99999999999999999999999.ln_1.weight"},
		{"ResNet layer4", rn.Tensors, "visual.layer4.999999999.conv1.weight"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := without(c.base, "", nil)
			delete(ts, "")
			ts[c.extra] = &weights.Tensor{Name: c.extra, Shape: []int{1}, DType: "F32", F32: []float32{1}}
			cfg, err := clip.InferConfig(ts)
			wantErr(t, err, "block index", "limit")
			t.Logf("%v (config %v)", err, cfg.TextLayers)
		})
	}
}

// The input side bound is an option (ImageOptions.MaxSide, default DefaultMaxImageSide), checked
// before anything is computed from the sides.
func TestEncodeImageMaxSide(t *testing.T) {
	_, m := tiny(t)
	for _, c := range []struct {
		name    string
		side    int
		opt     clip.ImageOptions
		wantMax string
	}{
		{"default", 2048, clip.ImageOptions{}, "1024"},
		{"lowered", 48, clip.ImageOptions{Method: clip.MethodRaw, MaxSide: 32}, "largest side 32"},
		{"lowered, surgery", 48, clip.ImageOptions{Method: clip.MethodSurgery, MaxSide: 32}, "largest side 32"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pix := make([]float32, 3*c.side*c.side)
			_, err := m.EncodeImage(pix, 1, c.side, c.side, c.opt)
			wantErr(t, err, c.wantMax)
		})
	}
}
