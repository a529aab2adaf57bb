package evaluate

import (
	"fmt"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
)

// ErrMethod: a method name that no method has (clip.ErrUnknownMethod, so either sentinel matches).
var ErrMethod = clip.ErrUnknownMethod

// ResolveMethod turns a method name or alias (any of clip.Methods), with modifiers if any
// ("naclip+resclip", clip.ParseMethodWithModifiers), into its canonical form, the option the
// Explainer takes and the report's label; an empty name is an error (an evaluation names its
// methods). It is the one place the evaluation maps names to methods.
func ResolveMethod(name string) (clip.Method, error) {
	base, mods, _ := strings.Cut(name, clip.ModifierSeparator)
	spec, err := clip.LookupMethod(base)
	if err != nil {
		return "", fmt.Errorf("evaluate: %w", err)
	}
	m, ms, err := clip.ParseMethodWithModifiers(string(spec.Name) + clip.ModifierSeparator + mods)
	if err != nil {
		return "", fmt.Errorf("evaluate: %w", err)
	}
	return clip.Method(clip.MethodLabel(m, ms)), nil
}

// ParseMethods parses a comma-separated method list such as "surgery,raw" (the -methods flag):
// at least one, no duplicates.
func ParseMethods(list string) ([]clip.Method, error) {
	var out []clip.Method
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
