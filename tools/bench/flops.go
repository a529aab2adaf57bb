package main

import clip "github.com/clipsurgery/clipsurgery/gomlx_clip"

// surgeryFLOPs counts the floating-point operations (a multiply-add is two) of the ViT image
// encoder with CLIP Surgery as the bench runs it (clip.SurgeryOptions: dual path in the last
// DefaultSurgeryDepth blocks, the last block's original path for the class row only, every
// token projected) on one side×side image: the products only, which are all but a few percent
// of the work; softmax, LayerNorm, the activation and the copies are not counted. 0 for a ResNet.
func surgeryFLOPs(c clip.Config, side int) float64 {
	if c.Vision == clip.ResNet || c.PatchSize == 0 {
		return 0
	}
	g := side / c.PatchSize
	n, w := float64(1+g*g), float64(c.VisionWidth)
	mlp := float64(c.VisionMLP)
	if mlp == 0 {
		mlp = 4 * w
	}
	patch := 2 * float64(g*g) * w * float64(3*c.PatchSize*c.PatchSize)
	qkv, out, ffn := 2*n*w*3*w, 2*n*w*w, 2*2*n*w*mlp
	attn := 2 * 2 * n * n * w // scores and weighted sum, all heads
	full := qkv + attn + out + ffn
	dual := min(clip.DefaultSurgeryDepth, c.VisionLayers)
	total := patch + float64(c.VisionLayers-dual)*full
	if dual > 0 {
		total += float64(dual-1) * (full + attn + out) // the new path's attention and out_proj
		// last block: q, k, v for all rows, the new path, the original path for the class row
		total += qkv + attn + out + 2*2*n*w + 2*w*w + 2*2*w*mlp
	}
	return total + 2*n*w*float64(c.EmbedDim) // ln_post'd tokens through visual.proj
}
