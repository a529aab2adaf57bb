package clip

import (
	"fmt"
	"image"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// The pooled path: CLIP's image embedding as the checkpoint's own code computes it (open_clip's
// encode_image, HF's get_image_features, OpenAI's encode_image), for classification and
// retrieval. The dense path (EncodeImage, the methods) keeps every token instead.

// VisionBlocksGraph is the unchanged ViT up to its last block: normalized images [B, 3, H, W]
// in, the last block's raw output [B, 1+gh·gw, W] out (token 0 = class token, then the patches
// row-major), before ln_post. The positional embedding is resized as MethodRaw does for inputs
// other than the native size.
func VisionBlocksGraph(c Config, p Params, images *Node) *Node {
	x := VisionStem(c, p, images, MethodRaw)
	t := c.VisionTower()
	for i := 0; i < c.VisionLayers; i++ {
		x = ResidualBlock(x, p, visualBlock(i), t, false)
	}
	return x
}

// EncodePooledGraph is the pooled, projected image feature [B, EmbedDim] (not normalized): for a
// ViT, the class token (Config.Pool "tok") or the mean of the patch tokens ("avg"), with ln_post
// before the pooling or, with Config.FinalLNAfterPool, after it (open_clip VisionTransformer._pool),
// then visual.proj; for a ResNet, the attention pool's first token.
func EncodePooledGraph(c Config, p Params, images *Node) *Node {
	if c.Vision == ResNet { // the attention pool's tokens are projected already
		all := EncodeImageGraph(c, p, images, ImageOptions{Method: MethodRaw})
		return Squeeze(Slice(all, AxisRange(), AxisRange(0, 1)), 1)
	}
	x := VisionBlocksGraph(c, p, images)
	eps := c.VisionTower().Eps
	pool := func(x *Node) *Node {
		if c.Pool == PoolAverage {
			return ReduceMean(Slice(x, AxisRange(), AxisRangeToEnd(1)), 1)
		}
		return Squeeze(Slice(x, AxisRange(), AxisRange(0, 1)), 1)
	}
	var pooled *Node
	if c.FinalLNAfterPool || c.Pool != PoolAverage {
		// LayerNorm is row-wise: ln_post of the class row alone is ln_post(x)'s class row.
		pooled = LayerNorm(pool(x), p, "visual.ln_post", eps)
	} else {
		pooled = pool(LayerNorm(x, p, "visual.ln_post", eps))
	}
	return Einsum("bw,we->be", pooled, p.Get("visual.proj"))
}

// PatchTokensGraph is what open_clip's VisionTransformer returns as its tokens with
// output_tokens=True: the patch tokens [B, gh·gw, W] after ln_post (raw with
// Config.FinalLNAfterPool), not projected.
func PatchTokensGraph(c Config, p Params, images *Node) *Node {
	x := Slice(VisionBlocksGraph(c, p, images), AxisRange(), AxisRangeToEnd(1))
	if c.FinalLNAfterPool {
		return x
	}
	return LayerNorm(x, p, "visual.ln_post", c.VisionTower().Eps)
}

// EncodeImagePooled encodes normalized images [B, 3, H, W] (PreprocessImage gives one at the
// native size) into their pooled embeddings [B, EmbedDim], not normalized (EncodePooledGraph).
// Any side that is a multiple of the patch size is accepted, as by EncodeImage.
func (m *Model) EncodeImagePooled(pixels []float32, batch, h, w int) (*Features, error) {
	if err := m.checkImageInput(pixels, batch, h, w, 0); err != nil {
		return nil, err
	}
	f, err := m.run(programKey{graph: "image-pooled"}, 64, func(p Params, in []*Node) *Node {
		return EncodePooledGraph(m.Config, p, in[0])
	}, tensors.FromFlatDataAndDimensions(pixels, batch, 3, h, w))
	if err != nil {
		return nil, fmt.Errorf("clip: encode pooled image: %w", err)
	}
	return f, nil
}

// PreprocessImage is the model's own preprocessing (Config.ImageTransform: the config's resize
// mode, filter, mean and std at the native resolution; CLIP's when there is no config): the
// [3, S, S] input of EncodeImagePooled.
func (m *Model) PreprocessImage(img image.Image) ([]float32, error) {
	return m.Config.ImageTransform().Apply(img)
}

// ImageEmbedding is PreprocessImage then EncodeImagePooled: the image's embedding [1, EmbedDim],
// not normalized, as the checkpoint's own code gives it.
func (m *Model) ImageEmbedding(img image.Image) (*Features, error) {
	pix, err := m.PreprocessImage(img)
	if err != nil {
		return nil, err
	}
	s := m.Config.ImageTransform().Size
	return m.EncodeImagePooled(pix, 1, s, s)
}
