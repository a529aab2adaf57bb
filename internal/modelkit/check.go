package modelkit

import (
	"fmt"
	"slices"
	"strings"
)

// CheckShapes compares a checkpoint's tensor shapes (got) with the shapes a configuration
// expects (want) and lists every missing, unexpected and wrongly shaped tensor in one error,
// which starts with what ("checkpoint does not fit ..."). Tensors outside want that extra
// accepts (e.g. buffers some exports carry) are not unexpected; extra may be nil.
func CheckShapes(what string, want, got map[string][]int, extra func(name string, shape []int) bool) error {
	var missing, unexpected, wrong []string
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			missing = append(missing, name)
		case !slices.Equal(g, w):
			wrong = append(wrong, fmt.Sprintf("%s %v (want %v)", name, g, w))
		}
	}
	for name, g := range got {
		if _, ok := want[name]; !ok && (extra == nil || !extra(name, g)) {
			unexpected = append(unexpected, name)
		}
	}
	if len(missing)+len(unexpected)+len(wrong) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(what)
	for _, l := range []struct {
		what  string
		names []string
	}{{"missing", missing}, {"unexpected", unexpected}, {"with the wrong shape", wrong}} {
		if len(l.names) > 0 {
			slices.Sort(l.names)
			fmt.Fprintf(&b, "; %d %s: %s", len(l.names), l.what, Abbreviate(l.names, 12))
		}
	}
	return fmt.Errorf("%s", b.String())
}

// Abbreviate joins names with commas, showing at most n and counting the rest.
func Abbreviate(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(", … (%d more)", len(names)-n)
}
