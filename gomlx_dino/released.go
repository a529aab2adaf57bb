package dino

import (
	"fmt"
	"strings"

	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// releasedSizes are the backbones the authors release: width, depth and heads of vit_small,
// vit_base, vit_large and vit_giant2 (both repos' vision_transformer.py), mlp_ratio 4.
var releasedSizes = map[string]struct{ width, depth, heads int }{
	"s": {384, 12, 6}, "b": {768, 12, 12}, "l": {1024, 24, 16}, "g": {1536, 40, 24},
}

// ReleasedConfig returns the configuration of a released backbone by any name LookupDINO accepts
// ("dinov2-b14-reg", "dino_vitb8", "facebook/dinov2-large"), as the authors' hub functions build it:
// DINO at 224 px (native grid 224/patch), DINOv2 at 518 px (37×37), LayerScale, ViT-g's SwiGLU
// (SwiGLUFFNFused: hidden (int(4·1536·2/3) + 7)//8·8 = 4096), the _reg models' 4 registers and
// antialiased interpolation. Tools use it to write full-size random weights.
func ReleasedConfig(name string) (Config, error) {
	ck, err := registry.LookupDINO(name)
	if err != nil {
		return Config{}, fmt.Errorf("dino: %w", err)
	}
	fam, rest, _ := strings.Cut(ck.Name, "-") // "dinov2", "b14-reg"
	size := releasedSizes[rest[:1]]
	var patch int
	fmt.Sscanf(strings.TrimSuffix(rest[1:], "-reg"), "%d", &patch)
	c := Config{Family: Family(fam), PatchSize: patch, Width: size.width, Depth: size.depth, Heads: size.heads,
		MLPHidden: 4 * size.width, FFN: FFNMLP, QKVBias: true, Eps: releaseEps, Interpolation: Interpolation{Offset: releaseOffset}}
	if c.Family == V1 {
		c.NativeGrid = 224 / patch
		return c, c.Validate()
	}
	c.NativeGrid, c.LayerScale = 518/patch, true
	if rest[:1] == "g" {
		c.FFN, c.MLPHidden = FFNSwiGLU, (int(float64(c.MLPHidden)*2/3)+7)/8*8
	}
	if strings.HasSuffix(ck.Name, "-reg") {
		c.Registers, c.Interpolation = 4, Interpolation{Antialias: true}
	}
	return c, c.Validate()
}
