package clip

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"

	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Attending in groups of heads gives what attending all heads at once gives, with and without
// the causal mask and a per-head mask.
func TestAttendHeadsInGroups(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	const b, h, n, d = 2, 6, 40, 64
	rng := rand.New(rand.NewPCG(1, 2))
	random := func() *tensors.Tensor {
		v := make([]float32, b*h*n*d)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(v, b, h, n, d)
	}
	mask := make([]bool, b*h*n*n)
	for i := range mask {
		mask[i] = i%n == 0 || rng.IntN(3) > 0 // every row keeps its first key
	}
	q, k, v, m := random(), random(), random(), tensors.FromFlatDataAndDimensions(mask, b, h, n, n)
	attend := func(causal, masked bool, budget int) []float32 {
		exec := MustNewExec(backend, func(q, k, v, m *Node) *Node {
			if !masked {
				m = nil
			}
			return AttendHeads(q, k, v, causal, m, budget)
		})
		var flat []float32
		for _, img := range exec.MustExec(q, k, v, m)[0].Value().([][][]float32) {
			for _, row := range img {
				flat = append(flat, row...)
			}
		}
		return flat
	}
	for _, causal := range []bool{false, true} {
		for _, masked := range []bool{false, true} {
			whole := attend(causal, masked, modelkit.NoScoreBudget)
			for _, perGroup := range []int{1, 2, 3} {
				func() {
					got := attend(causal, masked, perGroup*4*b*n*n)
					if len(got) != b*n*h*d {
						t.Fatalf("%d values, want %d", len(got), b*n*h*d)
					}
					for i := range got {
						if math.Abs(float64(got[i]-whole[i])) > 1e-6 {
							t.Fatalf("causal %v, masked %v, %d heads per group: value %d is %v, all heads at once %v",
								causal, masked, perGroup, i, got[i], whole[i])
						}
					}
				}()
			}
		}
	}
}
