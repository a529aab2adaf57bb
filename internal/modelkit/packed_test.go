package modelkit

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// On the go backend with AVX-512 a dense weight whose output width is a multiple of 32 and whose
// size reaches packMin is stored packed for the kernel, the others stay [in, out]; Weight gives
// both back in the checkpoint's layout, and Dense computes x Wᵀ + b with either, row counts on
// both sides of the backend's small-matrix threshold included.
func TestUploadPacksDenseWeights(t *testing.T) {
	backend, err := NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	if !gobackend.CanPackDenseWeight(64) {
		t.Skip("the go backend packs no weights here (no AVX-512)")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	random := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	const in = 1024
	ckpt := map[string]*weights.Tensor{}
	// p is packed; q (40 is not a multiple of 32) and s (below packMin) are not
	outs := map[string]int{"p": 544, "q": 40, "s": 96}
	for name, out := range outs {
		ckpt[name+".weight"] = &weights.Tensor{Shape: []int{out, in}, DType: "F32", F32: random(out * in)}
		ckpt[name+".bias"] = &weights.Tensor{Shape: []int{out}, DType: "F32", F32: random(out)}
	}
	orig := map[string][]float32{}
	for name, t := range ckpt {
		orig[name] = slices.Clone(t.F32)
	}
	w, err := Upload(backend, ckpt, slices.Sorted(maps.Keys(ckpt)), func(n string) bool { return strings.HasSuffix(n, ".weight") }, false)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range outs {
		i, _ := slices.BinarySearch(w.names, name+".weight")
		if rank := w.params[i].Shape().Rank(); (rank == 3) != (name == "p") {
			t.Errorf("%s: stored with rank %d", name, rank)
		}
		v, shape, ok := w.Weight(name + ".weight")
		if !ok || !slices.Equal(shape, []int{out, in}) || !slices.Equal(v, orig[name+".weight"]) {
			t.Errorf("%s: Weight does not give the checkpoint's tensor back (shape %v)", name, shape)
		}
		for _, rows := range []int{1, 8, 50} {
			x := random(rows * in)
			pr := NewPrograms[string](w).Get(name, nil, 1, func(p Params, inputs []*Node) []*Node {
				return []*Node{Dense(inputs[0], p, name)}
			})
			res, err := pr.Run(tensors.FromFlatDataAndDimensions(x, rows, in))
			if err != nil {
				t.Fatal(err)
			}
			f, err := ToFeatures(res[0])
			if err != nil {
				t.Fatal(err)
			}
			wt, b := orig[name+".weight"], orig[name+".bias"]
			for r := range rows {
				for o := range out {
					want := float64(b[o])
					for k := range in {
						want += float64(x[r*in+k]) * float64(wt[o*in+k])
					}
					if got := float64(f.Data[r*out+o]); math.Abs(got-want) > 1e-4*(1+math.Abs(want)) {
						t.Fatalf("%s, %d rows: [%d,%d] = %g, want %g", name, rows, r, o, got, want)
					}
				}
			}
		}
	}
}
