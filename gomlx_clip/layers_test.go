package clip

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// withScoreBudget runs f with AttentionScoreBudget set to budget (the tests of this package do
// not run in parallel).
func withScoreBudget(budget int, f func()) {
	saved := AttentionScoreBudget
	AttentionScoreBudget = budget
	defer func() { AttentionScoreBudget = saved }()
	f()
}

func TestHeadsPerGroup(t *testing.T) {
	withScoreBudget(24<<20, func() {
		for _, c := range []struct{ heads, perHead, want int }{
			{12, 4 * 1025 * 1025, 4}, // ViT-B/16 at 512 px
			{12, 4 * 197 * 197, 12},  // at 224 px: one group
			{12, 4 * 4097 * 4097, 1}, // 1024 px: one head over the budget still runs
			{16, 4 * 1025 * 1025, 4}, // ViT-L: 6 heads would fit but do not divide 16
			{7, 4 * 1025 * 1025, 1},
		} {
			if got := HeadsPerGroup(c.heads, c.perHead); got != c.want {
				t.Errorf("HeadsPerGroup(%d, %d) = %d, want %d", c.heads, c.perHead, got, c.want)
			}
		}
	})
}

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
	attend := func(causal, masked bool) []float32 {
		exec := MustNewExec(backend, func(q, k, v, m *Node) *Node {
			if !masked {
				m = nil
			}
			return AttendHeads(q, k, v, causal, m)
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
			var whole []float32
			withScoreBudget(1<<30, func() { whole = attend(causal, masked) })
			for _, perGroup := range []int{1, 2, 3} {
				withScoreBudget(perGroup*4*b*n*n, func() {
					got := attend(causal, masked)
					if len(got) != b*n*h*d {
						t.Fatalf("%d values, want %d", len(got), b*n*h*d)
					}
					for i := range got {
						if math.Abs(float64(got[i]-whole[i])) > 1e-6 {
							t.Fatalf("causal %v, masked %v, %d heads per group: value %d is %v, all heads at once %v",
								causal, masked, perGroup, i, got[i], whole[i])
						}
					}
				})
			}
		}
	}
}
