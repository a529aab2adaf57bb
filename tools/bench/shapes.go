package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Timing the encoder's products one at a time (-shapes): each distinct product of the ViT
// image encoder at one image side, in a graph of its own on the model's backend, with its
// wall and process CPU time per call and its GFLOP/s. The weights are cycled through
// weightCopies random copies, so that, as in the encoder, where each weight is used once per
// image, they do not stay in the core's caches between calls.

const weightCopies = 8

// shapeRow is one line of the -shapes report.
type shapeRow struct {
	Op       string  `json:"op"`
	Calls    int     `json:"calls_per_encode"` // full-size calls in one surgery encode
	GFLOP    float64 `json:"gflop_per_call"`
	WallMS   float64 `json:"wall_ms_per_call"`
	CPUMS    float64 `json:"cpu_ms_per_call"`
	GFLOPS   float64 `json:"gflop_per_s"`     // per wall second
	GFLOPCPU float64 `json:"gflop_per_cpu_s"` // per CPU second (both cores' time added)
}

// timeShapes times the products of one side×side encode (reps calls each after one warm-up).
func timeShapes(c clip.Config, side, reps int) ([]shapeRow, error) {
	backend, err := modelkit.BackendFromEnv()
	if err != nil {
		return nil, err
	}
	g := side / c.PatchSize
	n, w, heads := 1+g*g, c.VisionWidth, c.VisionHeads
	mlp := c.VisionMLP
	if mlp == 0 {
		mlp = 4 * w
	}
	layers, dual := c.VisionLayers, min(clip.DefaultSurgeryDepth, c.VisionLayers)
	hd := w / heads
	per := modelkit.HeadsPerGroup(heads, 4*n*n, modelkit.ScoreBudgetFor(backend))
	groups := heads / per
	attnCalls := (layers + dual - 1) * groups // the original path in every block but the last, the new path in the dual ones
	var rows []shapeRow
	dense := func(name string, calls, in, out int) error {
		r, err := timeDense(backend, n, in, out, reps)
		r.Op, r.Calls = fmt.Sprintf("%s [%d,%d]x[%d,%d]+bias", name, n, in, in, out), calls
		rows = append(rows, r)
		return err
	}
	if err := dense("qkv in_proj", layers, w, 3*w); err != nil {
		return nil, err
	}
	if err := dense("out_proj", layers+dual-1, w, w); err != nil {
		return nil, err
	}
	if err := dense("mlp c_fc", layers-1, w, mlp); err != nil {
		return nil, err
	}
	if err := dense("mlp c_proj", layers-1, mlp, w); err != nil {
		return nil, err
	}
	qkd := []int{1, per, n, hd}
	att := []struct {
		name   string
		flops  float64
		shapes [][]int
		build  func(in []*Node) *Node
	}{
		{fmt.Sprintf("scores q·kᵀ %d heads [%d,%d]x[%d,%d]", per, n, hd, hd, n), 2 * float64(per*n*n*hd), [][]int{qkd, qkd},
			func(in []*Node) *Node { return Einsum("bhqd,bhkd->bhqk", in[0], in[1]) }},
		{fmt.Sprintf("softmax %d heads [%d,%d]", per, n, n), 0, [][]int{{1, per, n, n}},
			func(in []*Node) *Node { return Softmax(in[0], -1) }},
		{fmt.Sprintf("weights·v %d heads [%d,%d]x[%d,%d]", per, n, n, n, hd), 2 * float64(per*n*n*hd), [][]int{{1, per, n, n}, qkd},
			func(in []*Node) *Node { return Einsum("bhqk,bhkd->bhqd", in[0], in[1]) }},
	}
	for _, a := range att {
		r, err := timeGraph(backend, a.build, a.shapes, 1, reps, a.flops)
		if err != nil {
			return nil, err
		}
		r.Op, r.Calls = a.name, attnCalls
		rows = append(rows, r)
	}
	return rows, nil
}

// timeDense times x [1, n, in] · W [in, out] + b as modelkit.Dense runs it, on weights packed
// for the kernel where modelkit.Upload packs them (the go backend with AVX-512).
func timeDense(backend compute.Backend, n, in, out, reps int) (shapeRow, error) {
	w := []int{in, out}
	if modelkit.SharedBuffers(backend) && gobackend.CanPackDenseWeight(out) {
		w = modelkit.PackedDenseShape(in, out) // random values: packing them would change nothing
	}
	return timeGraph(backend, func(v []*Node) *Node {
		p := modelkit.Params{"l.weight": v[1], "l.bias": v[2]}
		return modelkit.Dense(v[0], p, "l")
	}, [][]int{{1, n, in}, w, {out}}, weightCopies, reps, 2*float64(n*in*out))
}

// timeGraph runs build on random inputs of the given shapes, the second and later ones cycled
// through copies random copies, and returns the time per call.
func timeGraph(backend compute.Backend, build func([]*Node) *Node, shapes [][]int, copies, reps int, flops float64) (r shapeRow, err error) {
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("%v", e)
		}
	}()
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(dims []int) *tensors.Tensor {
		size := 1
		for _, d := range dims {
			size *= d
		}
		data := make([]float32, size)
		for i := range data {
			data[i] = rng.Float32() - 0.5
		}
		return tensors.FromFlatDataAndDimensions(data, dims...)
	}
	sets := make([][]any, copies)
	first := random(shapes[0])
	for i := range sets {
		sets[i] = []any{first}
		for _, s := range shapes[1:] {
			sets[i] = append(sets[i], random(s))
		}
	}
	exec := MustNewExec(backend, func(in []*Node) *Node { return build(in) })
	for _, set := range sets { // warm-up: compiles, and puts every input on the backend
		exec.MustExec(set...)[0].FinalizeAll()
	}
	c0, t0 := cpuTime(), time.Now()
	for i := range reps {
		exec.MustExec(sets[i%copies]...)[0].FinalizeAll()
	}
	wall, cpu := time.Since(t0).Seconds()/float64(reps), (cpuTime()-c0).Seconds()/float64(reps)
	r = shapeRow{GFLOP: flops / 1e9, WallMS: wall * 1e3, CPUMS: cpu * 1e3}
	if flops > 0 {
		r.GFLOPS, r.GFLOPCPU = flops/wall/1e9, flops/cpu/1e9
	}
	return r, nil
}

// printShapes writes the -shapes report as a table on stderr.
func printShapes(side int, rows []shapeRow) {
	fmt.Fprintf(os.Stderr, "products at %d px (calls per encode, wall ms, CPU ms per call, GFLOP/s per wall and per CPU second):\n", side)
	for _, r := range rows {
		fmt.Fprintf(os.Stderr, "  %-46s %3d  %8.3f %8.3f  %6.1f %6.1f\n", r.Op, r.Calls, r.WallMS, r.CPUMS, r.GFLOPS, r.GFLOPCPU)
	}
}
