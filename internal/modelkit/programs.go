package modelkit

import (
	"fmt"
	"slices"
	"sync"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Programs is a model's cache of executables: one Program per key (a graph function and its
// options), each compiled again by GoMLX for every new input shape and keeping those
// compilations. It is safe for concurrent use.
type Programs[K comparable] struct {
	weights *Weights
	mu      sync.Mutex
	progs   map[K]*Program
}

// NewPrograms returns an empty cache over w.
func NewPrograms[K comparable](w *Weights) *Programs[K] {
	return &Programs[K]{weights: w, progs: map[K]*Program{}}
}

// Program is one graph of a model: it reads the parameters it uses, then its own inputs.
type Program struct {
	weights *Weights
	idx     []int // indices into weights.names / weights.params
	exec    *Exec
}

// Get returns the program registered under key, creating it on first use: build receives the
// parameters for which uses(name) is true (all when uses is nil) and the inputs Run is given.
// At most maxShapes input shapes stay compiled. key must identify the graph function and its
// options, not the input shapes.
func (ps *Programs[K]) Get(key K, uses func(name string) bool, maxShapes int, build func(p Params, inputs []*Node) []*Node) *Program {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if pr, ok := ps.progs[key]; ok {
		return pr
	}
	w := ps.weights
	pr := &Program{weights: w}
	for i, name := range w.names {
		if uses == nil || uses(name) {
			pr.idx = append(pr.idx, i)
		}
	}
	pr.exec = MustNewExec(w.backend, func(inputs []*Node) []*Node {
		n := len(pr.idx)
		p := make(Params, n)
		for j, i := range pr.idx {
			p[w.names[i]] = inputs[j]
		}
		return build(p, inputs[n:])
	}).SetMaxCache(maxShapes)
	ps.progs[key] = pr
	return pr
}

// Run executes the program on its parameters and the given inputs. GoMLX reports
// graph-building and execution failures by panicking; they come back here as errors.
func (pr *Program) Run(inputs ...any) (out []*tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	args := make([]any, 0, len(pr.idx)+len(inputs))
	for _, i := range pr.idx {
		args = append(args, pr.weights.params[i])
	}
	return pr.exec.Exec(append(args, inputs...)...)
}

// Features is a float32 array with its shape, row-major: what the models return on the host.
type Features struct {
	Shape []int
	Data  []float32
}

// ToFeatures copies an output tensor to the host and frees its buffer right away (not at the
// next GC: image embeddings of large models are big).
func ToFeatures(t *tensors.Tensor) (*Features, error) {
	data, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return nil, err
	}
	dims := slices.Clone(t.Shape().Dimensions)
	_ = t.FinalizeAll()
	return &Features{Shape: dims, Data: data}, nil
}
