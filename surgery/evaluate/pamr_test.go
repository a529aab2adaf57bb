package evaluate

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// PAMR alone against NACLIP's: its own input tensor and pre-PAMR logits in, its post-PAMR logits
// out (rtol = atol = 1e-4, the goldens' tolerance).
func TestPAMRGolden(t *testing.T) {
	dir := "protocols/naclip/context60/demo128x96/"
	in := goldens.Load(t, "protocols/inputs/demo128x96@336/input.f32.npy")
	before := goldens.Load(t, dir+"seg_logits.f32.npy")
	want := goldens.Load(t, dir+"seg_logits_pamr.f32.npy")
	ih, iw := in.Shape[2], in.Shape[3]
	q, h, w := before.Shape[0], before.Shape[1], before.Shape[2]
	guide := make([][]float32, 3)
	for c := range guide {
		var err error
		if guide[c], err = surgery.ResizeBilinear(in.F32[c*ih*iw:(c+1)*ih*iw], ih, iw, h, w); err != nil {
			t.Fatal(err)
		}
	}
	mask := make([][]float32, q)
	for i := range mask {
		mask[i] = before.F32[i*h*w : (i+1)*h*w]
	}
	got, err := PAMR(context.Background(), guide, mask, h, w, 10, []int{8, 16})
	if err != nil {
		t.Fatal(err)
	}
	var flat []float32
	for _, p := range got {
		flat = append(flat, p...)
	}
	goldens.AssertClose(t, "seg_logits_pamr", flat, []int{q, h, w}, want, 1e-4, 1e-4)
	if mask[0][0] != before.F32[0] {
		t.Fatal("PAMR changed its input")
	}
}

// pamrOracle follows the authors' module literally in float64: replicate padding by d, 3×3
// convolutions of dilation d (the shift kernels), the standard deviation over all kernels'
// outputs, the mean over channels, the softmax, and the iterated weighted sums.
func pamrOracle(guide, mask [][]float64, h, w, steps int, dilations []int) [][]float64 {
	shifts := func(x []float64, d int) [9][]float64 { // conv with the 9 one-hot 3×3 kernels, dilation d
		pw := w + 2*d
		pad := make([]float64, (h+2*d)*pw)
		for y := range h + 2*d {
			for xx := range pw {
				sy, sx := min(max(y-d, 0), h-1), min(max(xx-d, 0), w-1)
				pad[y*pw+xx] = x[sy*w+sx]
			}
		}
		var out [9][]float64
		for k := range 9 {
			out[k] = make([]float64, h*w)
			for y := range h {
				for xx := range w {
					out[k][y*w+xx] = pad[(y+k/3*d)*pw+xx+k%3*d]
				}
			}
		}
		return out
	}
	p := 8 * len(dilations)
	aff := make([][]float64, p)
	for j := range aff {
		aff[j] = make([]float64, h*w)
	}
	for _, g := range guide {
		var all, nbr [][]float64
		for _, d := range dilations {
			s := shifts(g, d)
			all = append(all, s[:]...)
			nbr = append(nbr, s[0], s[1], s[2], s[3], s[5], s[6], s[7], s[8])
		}
		for i := range h * w {
			var m, v float64
			for _, a := range all {
				m += a[i]
			}
			m /= float64(len(all))
			for _, a := range all {
				v += (a[i] - m) * (a[i] - m)
			}
			std := math.Sqrt(v / float64(len(all)-1))
			for j := range p {
				aff[j][i] += -math.Abs(g[i]-nbr[j][i]) / (1e-8 + 0.1*std) / float64(len(guide))
			}
		}
	}
	for i := range h * w {
		var s float64
		for j := range p {
			s += math.Exp(aff[j][i])
		}
		for j := range p {
			aff[j][i] = math.Exp(aff[j][i]) / s
		}
	}
	out := make([][]float64, len(mask))
	for c, m := range mask {
		cur := append([]float64(nil), m...)
		for range steps {
			next := make([]float64, h*w)
			var nbr [][]float64
			for _, d := range dilations {
				s := shifts(cur, d)
				nbr = append(nbr, s[0], s[1], s[2], s[3], s[5], s[6], s[7], s[8])
			}
			for i := range next {
				for j := range p {
					next[i] += aff[j][i] * nbr[j][i]
				}
			}
			cur = next
		}
		out[c] = cur
	}
	return out
}

// Small odd sizes, dilations larger than the image (every neighbour clamped) and one of 1.
func TestPAMROracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 18))
	for _, tc := range []struct {
		h, w, steps int
		dil         []int
	}{{5, 7, 3, []int{8, 16}}, {9, 4, 10, []int{1, 2}}, {1, 6, 2, []int{1}}, {12, 13, 5, []int{3, 8}}} {
		guide32, guide64 := randPlanes(rng, 3, tc.h*tc.w, 2), [][]float64{}
		mask32, mask64 := randPlanes(rng, 4, tc.h*tc.w, 0.3), [][]float64{}
		for _, g := range guide32 {
			guide64 = append(guide64, widen(g))
		}
		for _, m := range mask32 {
			mask64 = append(mask64, widen(m))
		}
		got, err := PAMR(context.Background(), guide32, mask32, tc.h, tc.w, tc.steps, tc.dil)
		if err != nil {
			t.Fatal(err)
		}
		want := pamrOracle(guide64, mask64, tc.h, tc.w, tc.steps, tc.dil)
		for c := range want {
			for i, v := range want[c] {
				if math.Abs(float64(got[c][i])-v) > 1e-6 {
					t.Fatalf("%+v: plane %d pixel %d: %v, oracle %v", tc, c, i, got[c][i], v)
				}
			}
		}
	}
}

func randPlanes(rng *rand.Rand, n, size int, scale float64) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, size)
		for j := range out[i] {
			out[i][j] = float32(rng.NormFloat64() * scale)
		}
	}
	return out
}

func widen(p []float32) []float64 {
	out := make([]float64, len(p))
	for i, v := range p {
		out[i] = float64(v)
	}
	return out
}

func TestPAMRBadInput(t *testing.T) {
	ok := [][]float32{make([]float32, 6)}
	for _, tc := range []struct {
		name        string
		guide, mask [][]float32
		steps       int
		dil         []int
	}{
		{"no guide", nil, ok, 1, []int{1}}, {"no mask", ok, nil, 1, []int{1}},
		{"short plane", ok, [][]float32{make([]float32, 5)}, 1, []int{1}},
		{"negative steps", ok, ok, -1, []int{1}}, {"zero dilation", ok, ok, 1, []int{0}}, {"no dilations", ok, ok, 1, nil},
	} {
		if _, err := PAMR(context.Background(), tc.guide, tc.mask, 2, 3, tc.steps, tc.dil); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := PAMR(ctx, ok, ok, 2, 3, 1, []int{1}); err == nil {
		t.Error("cancelled context: no error")
	}
}

// The vector refinement step gives the generic loop's bits (a no-op comparison without SIMD).
func TestPAMRPropagateKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	h, w := 7, 29
	nb := newNeighbours(h, w, []int{1, 4})
	weights := randPlanes(rng, len(nb.row), h*w, 1)
	src := randPlanes(rng, 1, h*w*pamrBlock, 1)[0]
	want, got := make([]float32, len(src)), make([]float32, len(src))
	for y := range h {
		nb.propagateRowGeneric(want, src, weights, y)
		nb.propagateRow(got, src, weights, y)
	}
	for i := range want {
		if math.Float32bits(want[i]) != math.Float32bits(got[i]) {
			t.Fatalf("value %d: %v, generic %v", i, got[i], want[i])
		}
	}
}
