package clip

import (
	"github.com/clipsurgery/clipsurgery/internal/bicubic"

	. "github.com/gomlx/gomlx/core/graph"
)

// PositionalEmbeddingFor returns the positional table [1+gh·gw, W] for a gh×gw grid the way
// method m's authors resize it (its descriptor's PositionalEmbedding; MethodDefault is the
// table's default). Row 0 (class token) is always kept as is.
func PositionalEmbeddingFor(m Method, pos *Node, native, gh, gw int) *Node {
	return mustMethod(m).posEmbed(pos, native, gh, gw)
}

// ResizePositionalEmbeddingBicubic is MaskCLIP's resize_pos_embed: F.interpolate(mode='bicubic',
// align_corners=False) to the grid size.
func ResizePositionalEmbeddingBicubic(pos *Node, native, gh, gw int) *Node {
	return resizeGrid(pos, native, gh, gw, BicubicMatrix(native, gh, 0), BicubicMatrix(native, gw, 0))
}

// ResizePositionalEmbeddingScaled is the interpolate_pos_encoding of SCLIP, ClearCLIP and NACLIP:
// F.interpolate(mode='bicubic', align_corners=False, scale_factor=(g+0.1)/native) per axis. The
// +0.1 makes floor(native·factor) = g; torch then maps output d to the source coordinate
// (d+0.5)/factor − 0.5, slightly off the size ratio native/g. When the grid has as many tokens
// as the native one (gh·gw = native²) their code adds the table unresized; that is done here for
// the native square grid, while a non-square grid of native² tokens is resized (theirs would add
// the native table in row-major order, which is not a table for that grid).
func ResizePositionalEmbeddingScaled(pos *Node, native, gh, gw int) *Node {
	factor := func(g int) float32 { return float32(1 / ((float64(g) + 0.1) / float64(native))) }
	return resizeGrid(pos, native, gh, gw, BicubicMatrix(native, gh, factor(gh)), BicubicMatrix(native, gw, factor(gw)))
}

// resizeGrid applies the [gh][native] and [gw][native] matrices to the native grid of pos; a
// native square grid is returned unchanged.
func resizeGrid(pos *Node, native, gh, gw int, my, mx [][]float32) *Node {
	if gh == native && gw == native {
		return pos
	}
	w := pos.Shape().Dimensions[1]
	grid := Reshape(Slice(pos, AxisRangeToEnd(1)), native, native, w)
	g := pos.Graph()
	grid = Einsum("ys,stw->ytw", Const(g, my), grid)
	grid = Einsum("xt,ytw->yxw", Const(g, mx), grid)
	return Concatenate([]*Node{Slice(pos, AxisRange(0, 1)), Reshape(grid, gh*gw, w)}, 0)
}

// BicubicA is torch's cubic convolution coefficient (upsample_bicubic2d).
const BicubicA = bicubic.A

// BicubicMatrix is the [out][in] matrix of torch's 1-D bicubic resize, align_corners=False, no
// antialias (internal/bicubic.Matrix): scale is 1/scale_factor when F.interpolate gets a
// scale_factor, 0 for in/out.
func BicubicMatrix(in, out int, scale float32) [][]float32 { return bicubic.Matrix(in, out, scale) }
