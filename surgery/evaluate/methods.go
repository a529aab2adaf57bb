package evaluate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/clipsurgery/clipsurgery/surgery"
)

// ErrMethod: a method name that no method has.
var ErrMethod = errors.New("evaluate: unknown method")

// knownMethods are the method names the evaluation accepts, in the order they are listed.
var knownMethods = []surgery.Method{surgery.MethodSurgery, surgery.MethodRaw}

// ResolveMethod turns a method name into the option the Explainer takes. It is the one place the
// evaluation maps names to methods: when more methods become available it is the only function
// to extend.
func ResolveMethod(name string) (surgery.Method, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for _, m := range knownMethods {
		if string(m) == n {
			return m, nil
		}
	}
	names := make([]string, len(knownMethods))
	for i, m := range knownMethods {
		names[i] = string(m)
	}
	return "", fmt.Errorf("%w %q (known: %s)", ErrMethod, name, strings.Join(names, ", "))
}

// ParseMethods parses a comma-separated method list such as "surgery,raw" (the -methods flag):
// at least one, no duplicates.
func ParseMethods(list string) ([]surgery.Method, error) {
	var out []surgery.Method
	for _, name := range strings.Split(list, ",") {
		m, err := ResolveMethod(name)
		if err != nil {
			return nil, err
		}
		for _, o := range out {
			if o == m {
				return nil, fmt.Errorf("evaluate: method %q listed twice", name)
			}
		}
		out = append(out, m)
	}
	return out, nil
}
