package clip

import (
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
	var taps, centred []*Node // taps: the 9 of each dilation (for σ); centred: the 8 neighbours
	for _, d := range dilations {
		for _, o := range pamrOffsets(true) {
			n := shiftReplicate(shiftReplicate(image, 2, o[0]*d), 3, o[1]*d)
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
	for range steps {
		var next *Node
		i := 0
		for _, d := range dilations {
			for _, o := range pamrOffsets(false) {
				w := Squeeze(Slice(weights, AxisRange(), AxisRange(), AxisElem(i)), 2)
				term := Mul(shiftReplicate(shiftReplicate(masks, 2, o[0]*d), 3, o[1]*d), w)
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

// shiftReplicate reads x at index i+off along axis, the index clamped to the axis (replicate
// padding): the neighbour at offset off.
func shiftReplicate(x *Node, axis, off int) *Node {
	n := x.Shape().Dimensions[axis]
	if off == 0 {
		return x
	}
	edgeAt := func(i int) *Node {
		return sliceAxis(x, axis, i, i+1)
	}
	repeat := func(e *Node, times int) *Node {
		d := e.Shape().Clone().Dimensions
		d[axis] = times
		return BroadcastToDims(e, d...)
	}
	if off > 0 {
		if off >= n {
			return repeat(edgeAt(n-1), n)
		}
		return Concatenate([]*Node{sliceAxis(x, axis, off, n), repeat(edgeAt(n-1), off)}, axis)
	}
	if -off >= n {
		return repeat(edgeAt(0), n)
	}
	return Concatenate([]*Node{repeat(edgeAt(0), -off), sliceAxis(x, axis, 0, n+off)}, axis)
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
