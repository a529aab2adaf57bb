package modelkit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Shapes is a state dict's tensor shapes by name, the view a model reads its configuration from.
type Shapes map[string][]int

// Dim returns dimension i of the named tensor, or an error naming what is missing (without a
// package prefix: the caller adds its own).
func (s Shapes) Dim(name string, i int) (int, error) {
	sh, ok := s[name]
	if !ok {
		return 0, fmt.Errorf("tensor %q is missing", name)
	}
	if i >= len(sh) {
		return 0, fmt.Errorf("tensor %q has shape %v, want at least %d dimensions", name, sh, i+1)
	}
	return sh[i], nil
}

// Count returns how many consecutive indices prefix.0., prefix.1., ... exist (a model's blocks).
func (s Shapes) Count(prefix string) int {
	seen := map[int]bool{}
	for name := range s {
		rest, ok := strings.CutPrefix(name, prefix+".")
		if !ok {
			continue
		}
		idx, _, _ := strings.Cut(rest, ".")
		if n, err := strconv.Atoi(idx); err == nil {
			seen[n] = true
		}
	}
	n := 0
	for seen[n] {
		n++
	}
	return n
}

// DescribeNames summarises a state dict for "wrong model" errors: its size and first names.
func DescribeNames(shapes map[string][]int) string {
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) > 3 {
		names = append(names[:3], "...")
	}
	return fmt.Sprintf("%d tensors: %s", len(shapes), strings.Join(names, ", "))
}
