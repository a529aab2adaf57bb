package clip

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// checkPath is check_path pair by pair on the host, the oracle of SameEntity: the points
// round(i·(1−t) + j·t) at t = linspace(0, 1, max_steps+1)[s], s = 1..steps(i, j), all in i's class.
func checkPath(c []int32, gh, gw, i, j int) bool {
	ts := torchLinspace01(max(gh, gw))
	ri, ci, rj, cj := i/gw, i%gw, j/gw, j%gw
	steps := max(abs(ri-rj), abs(ci-cj))
	at := func(a, b int, t float32) int {
		return int(math.RoundToEven(float64(float32(float32(a)*(1-t)) + float32(float32(b)*t))))
	}
	for s := 1; s <= steps; s++ {
		if c[at(ri, rj, ts[s])*gw+at(ci, cj, ts[s])] != c[i] {
			return false
		}
	}
	return true
}

func abs(x int) int { return max(x, -x) }

// SameEntity agrees with check_path on every pair, for square and oblong grids and a batch of
// class maps with few classes (so that paths both stay in and leave their class).
func TestSameEntityFollowsCheckPath(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, grid := range [][2]int{{1, 2}, {3, 5}, {7, 4}, {14, 14}, {10, 18}} {
		gh, gw := grid[0], grid[1]
		const b = 2
		p := gh * gw
		classes := make([]int32, b*p)
		for i := range classes { // blobs: a patch mostly repeats its left neighbour
			if i%gw > 0 && rng.IntN(4) > 0 {
				classes[i] = classes[i-1]
			} else {
				classes[i] = int32(rng.IntN(3))
			}
		}
		exec := MustNewExec(backend, func(c *Node) *Node { return SameEntity(c, gh, gw) })
		got := exec.MustExec(tensors.FromFlatDataAndDimensions(classes, b, p))[0].Value().([][][]bool)
		var mixed [2]int
		for n := range b {
			for i := range p {
				for j := range p {
					want := checkPath(classes[n*p:(n+1)*p], gh, gw, i, j)
					if got[n][i][j] != want {
						t.Fatalf("%d×%d grid, image %d: pair (%d, %d) is %v, check_path says %v", gh, gw, n, i, j, got[n][i][j], want)
					}
					if want {
						mixed[1]++
					} else {
						mixed[0]++
					}
				}
			}
		}
		if p > 2 && (mixed[0] == 0 || mixed[1] == 0) {
			t.Fatalf("%d×%d grid: the class maps test only one outcome (%v)", gh, gw, mixed)
		}
	}
}

// GaussianRowBlur is F.conv1d of each row with gaussianKernel1D, zero-padded by half the kernel:
// checked against that sum on the host, for rows shorter and longer than the kernel.
func TestGaussianRowBlurIsTheZeroPaddedConvolution(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		p   int
		std float64
	}{{5, 5}, {40, 5}, {97, 2.5}} {
		const b = 2
		s := make([]float32, b*c.p*c.p)
		for i := range s {
			s[i] = rng.Float32()
		}
		exec := MustNewExec(backend, func(s *Node) *Node { return GaussianRowBlur(s, c.std) })
		got := exec.MustExec(tensors.FromFlatDataAndDimensions(s, b, c.p, c.p))[0].Value().([][][]float32)
		kernel := gaussianKernel1D(c.p, c.std)
		half := len(kernel) / 2
		for row := range b * c.p {
			for j := range c.p {
				var want float64
				for k, w := range kernel {
					if m := j + k - half; m >= 0 && m < c.p {
						want += float64(w) * float64(s[row*c.p+m])
					}
				}
				if d := math.Abs(float64(got[row/c.p][row%c.p][j]) - want); d > 1e-6 {
					t.Fatalf("P %d, σ %v: row %d, column %d is %v, the convolution %v", c.p, c.std, row, j, got[row/c.p][row%c.p][j], want)
				}
			}
		}
	}
}
