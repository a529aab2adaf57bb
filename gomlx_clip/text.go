package clip

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
)

// EncodeTextGraph encodes token ids [B, L] (int32, L <= ContextLength) into [B, EmbedDim]:
// token + positional embedding, causal transformer, ln_final, the row of the first EOT (the
// argmax of the ids), text_projection.
//
// Because of the causal mask, the rows after the last EOT of a batch never influence the
// result: callers may pass ids cut after the batch's longest prompt (exact, and much faster).
func EncodeTextGraph(c Config, p Params, ids *Node) *Node {
	d := ids.Shape().Dimensions
	l := d[1]
	x := Gather(p.Get("token_embedding.weight"), InsertAxes(ids, -1)) // [B, L, W]
	pos := Slice(p.Get("positional_embedding"), AxisRange(0, l))
	x = Add(x, InsertAxes(pos, 0))
	t := c.TextTower()
	for i := 0; i < c.TextLayers; i++ {
		x = ResidualBlock(x, p, fmt.Sprintf("transformer.resblocks.%d", i), t, true)
	}
	x = LayerNorm(x, p, "ln_final", t.Eps)
	eot := OneHot(ArgMax(ids, 1), l, x.DType()) // first occurrence of the largest id
	x = Einsum("bl,blw->bw", eot, x)
	return Einsum("bw,we->be", x, p.Get("text_projection"))
}
