package clip

import (
	"slices"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// PAMR is pixel-adaptive mask refinement (Araslanov and Roth, "Single-Stage Semantic
// Segmentation from Image Labels", CVPR 2020; the pamr.py that ResCLIP, NACLIP and SCLIP ship):
// masks [B, K, H, W] are smoothed steps times by an affinity of each pixel to its 8 neighbours
// at every dilation, read off the image [B, C, H, W]. The affinity of neighbour n is
// softmax_n(mean_c −|x_c − x_c(n)| / (1e-8 + 0.1·σ_c)), σ_c the unbiased standard deviation of
// channel c over the 3×3 taps of all dilations; neighbours past the border repeat the edge
// pixel (replicate padding). The neighbours are in pamr.py's kernel order, dilation by
// dilation, so that the sums run in its order.
func PAMR(image, masks *Node, steps int, dilations []int) *Node {
	reach := slices.Max(dilations)
	h, w := image.Shape().Dimensions[2], image.Shape().Dimensions[3]
	var taps, centred []*Node // taps: the 9 of each dilation (for σ); centred: the 8 neighbours
	padded := padReplicate(image, reach)
	for _, d := range dilations {
		for _, o := range pamrOffsets(true) {
			n := neighbourWindow(padded, reach+o[0]*d, reach+o[1]*d, h, w)
			taps = append(taps, n)
			if o != [2]int{0, 0} {
				centred = append(centred, n)
			}
		}
	}
	std := stdDevUnbiased(Stack(taps, 2)) // [B, C, 1, H, W]
	aff := Abs(Sub(InsertAxes(image, 2), Stack(centred, 2)))
	aff = Neg(Div(aff, AddScalar(MulScalar(std, float32(0.1)), float32(1e-8))))
	weights := Softmax(ReduceAndKeep(aff, ReduceMean, 1), 2) // [B, 1, 8·len(dilations), H, W]
	// The affinity is the image's alone: each neighbour's weight is read off once, not per step.
	perNeighbour := make([]*Node, len(centred))
	for i := range perNeighbour {
		perNeighbour[i] = Squeeze(Slice(weights, AxisRange(), AxisRange(), AxisElem(i)), 2)
	}
	for range steps {
		// One replicate-padded copy per step; each neighbour is a window of it.
		padded := padReplicate(masks, reach)
		var next *Node
		i := 0
		for _, d := range dilations {
			for _, o := range pamrOffsets(false) {
				term := Mul(neighbourWindow(padded, reach+o[0]*d, reach+o[1]*d, h, w), perNeighbour[i])
				if next == nil {
					next = term
				} else {
					next = Add(next, term)
				}
				i++
			}
		}
		masks = next
	}
	return masks
}

// pamrOffsets are pamr.py's kernel positions as (row, column) offsets: the 3×3 window row by row,
// with the centre (LocalStDev) or without it (LocalAffinity).
func pamrOffsets(withCentre bool) [][2]int {
	var out [][2]int
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			if dy == 0 && dx == 0 && !withCentre {
				continue
			}
			out = append(out, [2]int{dy, dx})
		}
	}
	return out
}

// stdDevUnbiased is torch.std(dim=2, keepdim=True): the unbiased standard deviation over axis 2.
func stdDevUnbiased(x *Node) *Node {
	n := x.Shape().Dimensions[2]
	dev := Sub(x, ReduceAndKeep(x, ReduceMean, 2))
	return Sqrt(DivScalar(ReduceAndKeep(Square(dev), ReduceSum, 2), float32(n-1)))
}

// padReplicate extends x [B, C, H, W] by reach pixels on each side of both spatial axes,
// repeating the edge pixels (replicate padding): the window of it at (reach+dy, reach+dx) reads x
// at (i+dy, j+dx) with the indices clamped to the image, for any offset up to reach.
func padReplicate(x *Node, reach int) *Node {
	for axis := 2; axis <= 3; axis++ {
		n := x.Shape().Dimensions[axis]
		repeat := func(at int) *Node {
			e := sliceAxis(x, axis, at, at+1)
			d := e.Shape().Clone().Dimensions
			d[axis] = reach
			return BroadcastToDims(e, d...)
		}
		x = Concatenate([]*Node{repeat(0), x, repeat(n - 1)}, axis)
	}
	return x
}

// neighbourWindow is the h×w window of x [B, C, H', W'] whose top-left pixel is (top, left). It
// is a one-index Gather rather than a Slice or a cropping Pad: the backend copies a gathered
// window row by row, a slice element by element, and a pad first fills its whole output; PAMR
// reads 16 such windows of every mask on every step.
func neighbourWindow(x *Node, top, left, h, w int) *Node {
	d := x.Shape().Dimensions
	at := Const(x.Graph(), []int32{int32(top), int32(left)})
	return BackendGather(x, at, 0, []int{0, 1, 2, 3}, nil, []int{2, 3}, []int{d[0], d[1], h, w}, true)
}

// sliceAxis is x[..., from:to, ...] along one axis.
func sliceAxis(x *Node, axis, from, to int) *Node {
	spec := make([]SliceAxisSpec, x.Rank())
	for i := range spec {
		spec[i] = AxisRange()
	}
	spec[axis] = AxisRange(from, to)
	return Slice(x, spec...)
}

// shapeOf is shapes.Make, shortened for the graph code of the modifiers.
func shapeOf(dtype dtypes.DType, dims ...int) shapes.Shape { return shapes.Make(dtype, dims...) }
