package sam

import (
	"fmt"
	"slices"
	"strings"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// GraphFunc builds one of the model's graphs from its parameters and its own inputs.
type GraphFunc func(p Params, inputs []*Node) []*Node

// program returns the executable registered under key, creating it on first use. It reads the
// parameters whose names start with one of prefixes (e.g. "image_encoder.") followed by the
// inputs run is given. GoMLX compiles it again for every new input shape and keeps those
// compilations; key must therefore identify the graph function, not the shapes.
func (m *Model) program(key string, prefixes []string, build GraphFunc) *program {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pr, ok := m.programs[key]; ok {
		return pr
	}
	pr := &program{model: m}
	for i, name := range m.names {
		if slices.ContainsFunc(prefixes, func(pre string) bool { return strings.HasPrefix(name, pre) }) {
			pr.idx = append(pr.idx, i)
		}
	}
	pr.exec = MustNewExec(m.backend, func(inputs []*Node) []*Node {
		n := len(pr.idx)
		p := make(Params, n)
		for j, i := range pr.idx {
			p[m.names[i]] = inputs[j]
		}
		return build(p, inputs[n:])
	}).SetMaxCache(32)
	m.programs[key] = pr
	return pr
}

// run executes the program on its parameters and the given inputs. GoMLX reports graph-building
// and execution failures by panicking; they come back here as errors.
func (pr *program) run(inputs ...any) (out []*tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sam: %v", r)
		}
	}()
	args := make([]any, 0, len(pr.idx)+len(inputs))
	for _, i := range pr.idx {
		args = append(args, pr.model.params[i])
	}
	out, err = pr.exec.Exec(append(args, inputs...)...)
	if err != nil {
		return nil, fmt.Errorf("sam: %w", err)
	}
	return out, nil
}

// Weight returns a copy of a state-dict tensor's values and its shape, for tools and tests.
func (m *Model) Weight(name string) ([]float32, []int, bool) {
	i, ok := slices.BinarySearch(m.names, name)
	if !ok {
		return nil, nil, false
	}
	data, err := tensors.CopyFlatData[float32](m.params[i])
	if err != nil {
		return nil, nil, false
	}
	return data, slices.Clone(m.shapes[name]), true
}

// Names lists the model's state-dict names, sorted.
func (m *Model) Names() []string { return slices.Clone(m.names) }

// Features is a float32 array with its shape, row-major.
type Features struct {
	Shape []int
	Data  []float32
}

// toFeatures copies an output tensor to the host and frees its buffer right away (not at the
// next GC: image embeddings of large models are big).
func toFeatures(t *tensors.Tensor) (*Features, error) {
	data, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return nil, fmt.Errorf("sam: %w", err)
	}
	dims := slices.Clone(t.Shape().Dimensions)
	_ = t.FinalizeAll()
	return &Features{Shape: dims, Data: data}, nil
}
