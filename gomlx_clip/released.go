package clip

import (
	"fmt"
	"strings"
)

// The architecture each of the reference's model names promises, as InferConfig reads it off the
// checkpoint. Sources: mlfoundations/open_clip src/open_clip/model_configs/{RN50,RN101,RN50x4,RN50x16,
// RN50x64,ViT-B-32,ViT-B-16,ViT-L-14,ViT-L-14-336}.json (embed_dim, image_size, layers, width,
// patch_size, text width/heads/layers, context_length 77, vocab_size 49408); heads follow OpenAI's
// build_model: width/64 for the transformers, width*32/64 for the ResNet attention pool.
var released = map[string]Config{
	"RN50":           openAIResNet(224, 64, [4]int{3, 4, 6, 3}, 1024, 512),
	"RN101":          openAIResNet(224, 64, [4]int{3, 4, 23, 3}, 512, 512),
	"RN50x4":         openAIResNet(288, 80, [4]int{4, 6, 10, 6}, 640, 640),
	"RN50x16":        openAIResNet(384, 96, [4]int{6, 8, 18, 8}, 768, 768),
	"RN50x64":        openAIResNet(448, 128, [4]int{3, 15, 36, 10}, 1024, 1024),
	"ViT-B/32":       openAIViT(224, 32, 768, 12, 512, 512),
	"ViT-B/16":       openAIViT(224, 16, 768, 12, 512, 512),
	"ViT-L/14":       openAIViT(224, 14, 1024, 24, 768, 768),
	"ViT-L/14@336px": openAIViT(336, 14, 1024, 24, 768, 768),
}

// openAIText fills the text tower every OpenAI CLIP shares (12 layers, 77 tokens, 49408 words) and
// the joint embedding width. It is the one place OpenAI's conventions are written for the table.
func openAIText(c Config, embed, textWidth int) Config {
	c.EmbedDim, c.TextWidth, c.TextHeads, c.TextLayers = embed, textWidth, textWidth/HeadDim, 12
	c.ContextLength, c.VocabSize = 77, 49408
	return c
}

func openAIViT(res, patch, width, layers, embed, textWidth int) Config {
	return openAIText(Config{Vision: ViT, VisionWidth: width, VisionLayers: layers, VisionHeads: width / HeadDim,
		PatchSize: patch, NativeGrid: res / patch, ImageResolution: res}, embed, textWidth)
}

func openAIResNet(res, width int, stages [4]int, embed, textWidth int) Config {
	c := Config{Vision: ResNet, VisionWidth: width, ResNetLayers: stages, NativeGrid: res / 32, ImageResolution: res}
	c.VisionHeads = c.AttnPoolWidth() / HeadDim
	return openAIText(c, embed, textWidth)
}

// ReleasedConfig returns the architecture the reference's model name promises ("ViT-B/16",
// "CS-RN50", ...; registry.Names()), and false for any other name.
func ReleasedConfig(name string) (Config, bool) {
	c, ok := released[strings.TrimPrefix(name, "CS-")]
	return c, ok
}

// checkReleased verifies that a checkpoint loaded under a reference name is the architecture the
// name promises: a wrong file in a cache (placed by hand, or a hub repo that changed) fails loudly
// instead of running under the wrong name.
func checkReleased(got, want Config, name string) error {
	var diffs []string
	diff := func(what string, g, w any) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s %v (expected %v)", what, g, w))
		}
	}
	diff("image tower", got.Vision, want.Vision)
	diff("input resolution", got.ImageResolution, want.ImageResolution)
	diff("image width", got.VisionWidth, want.VisionWidth)
	diff("image heads", got.VisionHeads, want.VisionHeads)
	if want.Vision == ViT {
		diff("patch size", got.PatchSize, want.PatchSize)
		diff("image layers", got.VisionLayers, want.VisionLayers)
	} else {
		diff("ResNet stages", got.ResNetLayers, want.ResNetLayers)
	}
	diff("embedding width", got.EmbedDim, want.EmbedDim)
	diff("text width", got.TextWidth, want.TextWidth)
	diff("text layers", got.TextLayers, want.TextLayers)
	diff("context length", got.ContextLength, want.ContextLength)
	diff("vocabulary", got.VocabSize, want.VocabSize)
	if len(diffs) > 0 {
		return fmt.Errorf("checkpoint is not %s: %s", name, strings.Join(diffs, ", "))
	}
	return nil
}
