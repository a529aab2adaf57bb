// Package bilinear is PyTorch's index arithmetic of a bilinear (or 1-D linear) resize along one
// axis, align_corners=False, no antialias: the one copy CLIP's positional-embedding resize, SAM's
// relative-position resize and mask postprocessing, and CLIP Surgery's similarity maps share.
//
// Precision, as PyTorch 1.13's CPU kernels compute it (compute_source_index_and_lambda), for
// output index d of an axis of in → out samples:
//
//	scale = float32(in) / float32(out)               float32
//	src   = max(float64(scale)·(d + 0.5) − 0.5, 0)    float64 (the accumulate type of float on CPU)
//	i0    = int(src), i1 = min(i0 + 1, in − 1)
//	l1    = float32(src − i0), l0 = 1 − l1            float32
//
// and equal sizes are a copy (l0 = 1, l1 = 0). The goldens were made with it: an overlay pixel
// flips a level, and a mask pixel near the threshold flips, when a weight moves by one ulp. How
// the taps are combined (FMA or not, in which order) depends on the kernel and stays with its
// caller.
package bilinear

// Tap is one output index of a resized axis: the two source indices and their weights.
type Tap struct {
	I0, I1 int
	L0, L1 float32
}

// Taps computes the taps of every output index of an axis resized from in to out samples.
func Taps(in, out int) []Tap {
	taps := make([]Tap, out)
	if in == out { // PyTorch special-cases equal sizes as a copy
		for d := range taps {
			taps[d] = Tap{I0: d, I1: d, L0: 1}
		}
		return taps
	}
	scale := float64(float32(in) / float32(out))
	for d := range taps {
		src := max(float64(scale*(float64(d)+0.5))-0.5, 0) // conversion: no FMA fusion
		i0 := int(src)
		i1 := min(i0+1, in-1)
		l1 := float32(src - float64(i0))
		taps[d] = Tap{I0: i0, I1: i1, L0: 1 - l1, L1: l1}
	}
	return taps
}

// Matrix is Taps as the [out][in] matrix of the resize (row d holds L0 at I0 and L1 at I1, added
// where they coincide), for graphs that apply the resize as a product with a constant.
func Matrix(in, out int) [][]float32 {
	m := make([][]float32, out)
	for d, t := range Taps(in, out) {
		m[d] = make([]float32, in)
		m[d][t.I0] += t.L0
		m[d][t.I1] += t.L1
	}
	return m
}
