package sam

import (
	"fmt"
	"slices"
	"strings"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// GraphFunc builds one of the model's graphs from its parameters and its own inputs.
type GraphFunc func(p Params, inputs []*Node) []*Node

// program is one compiled graph of the model (modelkit.Program) with SAM's error prefix.
type program struct{ *modelkit.Program }

// program returns the executable registered under key, creating it on first use. It reads the
// parameters whose names start with one of prefixes (e.g. "image_encoder.") followed by the
// inputs run is given. GoMLX compiles it again for every new input shape and keeps those
// compilations; key must therefore identify the graph function, not the shapes.
func (m *Model) program(key string, prefixes []string, build GraphFunc) program {
	uses := func(name string) bool {
		return slices.ContainsFunc(prefixes, func(pre string) bool { return strings.HasPrefix(name, pre) })
	}
	return program{m.programs.Get(key, uses, 32, build)}
}

// run executes the program on its parameters and the given inputs.
func (pr program) run(inputs ...any) ([]*tensors.Tensor, error) {
	out, err := pr.Run(inputs...)
	if err != nil {
		return nil, fmt.Errorf("sam: %w", err)
	}
	return out, nil
}

// Weight returns a copy of a state-dict tensor's values in the checkpoint's layout, for tools and
// tests (its shape: ExpectedShapes(m.Config)[name]).
func (m *Model) Weight(name string) ([]float32, bool) {
	v, _, ok := m.weights.Weight(name)
	return v, ok
}

// Names lists the model's state-dict names, sorted.
func (m *Model) Names() []string { return m.weights.Names() }

// Features is a float32 array with its shape, row-major.
type Features = modelkit.Features

// toFeatures copies an output tensor to the host and frees its buffer right away.
func toFeatures(t *tensors.Tensor) (*Features, error) {
	f, err := modelkit.ToFeatures(t)
	if err != nil {
		return nil, fmt.Errorf("sam: %w", err)
	}
	return f, nil
}
