package dino

import (
	"github.com/clipsurgery/clipsurgery/internal/bicubic"
	. "github.com/gomlx/gomlx/core/graph"
)

// PositionalEmbedding is interpolate_pos_encoding: the table pos [1, 1+M², W] for a gh×gw grid,
// [1, 1+gh·gw, W]. The class row is kept; the native M×M grid is used as it is for a square grid
// of M (the releases' `npatch == N and w == h`); otherwise the grid is resized bicubically as
// Config.Interpolation says:
//
//   - Offset > 0 (DINO v1: w0 + 0.1 over √N; DINOv2: float(w0 + interpolate_offset)/M):
//     F.interpolate(scale_factor=(gh+Offset)/M, (gw+Offset)/M), which samples the source at
//     (d+0.5)·M/(g+Offset) − 0.5 — slightly off the size ratio M/g;
//   - Offset = 0 (DINOv2 register models): F.interpolate(size=(gh, gw)), ratio M/g;
//
// antialiased with Interpolation.Antialias (DINOv2 register models: a wider, normalised kernel
// when shrinking, internal/bicubic.AntialiasMatrix), else plain (bicubic.Matrix).
func PositionalEmbedding(c Config, pos *Node, gh, gw int) *Node {
	m := c.NativeGrid
	if gh == m && gw == m {
		return pos
	}
	w := pos.Shape().Dimensions[2]
	grid := Reshape(Slice(pos, AxisRange(), AxisRangeToEnd(1)), m, m, w)
	g := pos.Graph()
	grid = Einsum("ys,stw->ytw", Const(g, ResizeMatrix(c.Interpolation, m, gh)), grid)
	grid = Einsum("xt,ytw->yxw", Const(g, ResizeMatrix(c.Interpolation, m, gw)), grid)
	return Concatenate([]*Node{Slice(pos, AxisRange(), AxisRange(0, 1)), Reshape(grid, 1, gh*gw, w)}, 1)
}

// ResizeMatrix is the [out][in] matrix of one axis of PositionalEmbedding's resize, in → out
// samples.
func ResizeMatrix(ip Interpolation, in, out int) [][]float32 {
	var scale float32 // 0: in/out, F.interpolate(size=...)
	if ip.Offset > 0 {
		// F.interpolate(scale_factor=sf) samples with 1/sf (a float64 division rounded to
		// float32, as torch's compute_scales_value does).
		sf := (float64(out) + ip.Offset) / float64(in)
		scale = float32(1 / sf)
	}
	if ip.Antialias {
		return bicubic.AntialiasMatrix(in, out, scale)
	}
	return bicubic.Matrix(in, out, scale)
}
