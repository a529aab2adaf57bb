package modelkit

import (
	"fmt"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/nn"
)

// Params holds a model's tensors inside one graph, by checkpoint name, as Weights stores them:
// the checkpoint's layout, except the dense weights, which are [in, out] or packed
// [in, out/32, 32] (see Dense, DenseWith).
type Params map[string]*Node

// Get returns a parameter, panicking (inside graph building, turned into an error by
// Program.Run) with the name when it is absent.
func (p Params) Get(name string) *Node {
	n, ok := p[name]
	if !ok {
		panic(fmt.Errorf("parameter %q is not in the graph", name))
	}
	return n
}

// Optional returns a parameter or nil (a bias some layers have and others not: the shape
// check decides which).
func (p Params) Optional(name string) *Node { return p[name] }

// Dense is torch's nn.Linear over the last axis, x Wᵀ + b, with Wᵀ stored [in, out] (Weights
// transposes the checkpoint's [out, in] on upload). Why that layout: the go backend packs the
// right-hand matrix of a product for its SIMD kernel on every call, and in the [in, out] layout
// that packing is an assembly routine, in [out, in] a scalar gather (see docs/BENCHMARKS.md).
// On the go backend with AVX-512, Weights packs it once at load instead (DenseWith).
// The bias prefix+".bias" is used when present.
func Dense(x *Node, p Params, prefix string) *Node {
	return DenseWith(x, p.Get(prefix+".weight"), p.Optional(prefix+".bias"))
}

// DenseActivated is act applied to DenseWith(x, w, b): on a packed weight (the go backend with
// AVX-512) fused into the product's epilogue, one pass over the output while it is in cache
// instead of the activation's own ops; otherwise decomposed(DenseWith(x, w, b)), decomposed
// being the activation as graph ops (the definition act must match).
func DenseActivated(x, w, b *Node, act compute.ActivationType, decomposed func(*Node) *Node) *Node {
	if w.Rank() == 3 {
		cfg := compute.DenseConfig{WeightLayout: compute.DenseLayoutPacked, Activation: compute.ActivationConfig{Type: act}}
		return BackendFusedDense(x, w, b, cfg)
	}
	return decomposed(DenseWith(x, w, b))
}

// DenseWith is Dense with the weight w and the bias b (nil: none) given as nodes, w as Weights
// stores a dense weight: [in, out], or [in, out/32, 32] when packed for the go backend's kernel
// at load (PackedDenseShape; compute.DenseLayoutPacked, a patch of compute: patches/README.md),
// which then reads it in place instead of packing it on every call.
func DenseWith(x, w, b *Node) *Node {
	if w.Rank() == 3 {
		return BackendFusedDense(x, w, b, compute.DenseConfig{WeightLayout: compute.DenseLayoutPacked})
	}
	return nn.Dense(x, w, b, compute.DenseLayoutInputOutputs)
}

// LayerNorm is torch's nn.LayerNorm over the last axis (biased variance) with the given eps.
func LayerNorm(x *Node, p Params, prefix string, eps float64) *Node {
	return nn.LayerNorm(x, []int{x.Rank() - 1}, eps, p.Get(prefix+".weight"), p.Get(prefix+".bias"), nil)
}
