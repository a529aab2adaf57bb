package clip

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Modifier names a change of the image encoder that composes with a base method (ImageOptions.
// Method) instead of replacing it: one switch from the graph (ImageOptions.Modifiers) through
// surgery.Options, the command line (-modifiers, or "method+modifier" in -method and -methods)
// and the notebooks. Each is one descriptor of the modifier table (modifiers_table.go): what it
// changes, where its definition comes from, the base methods it is defined on and the layer
// choices it makes, as a rule for any depth.
//
// What is a modifier and what a method: a modifier changes the attention a base method's last
// block computes and keeps the rest of that method (ResCLIP). A definition that replaces the
// last block(s) wholesale, with its own attention, residuals and class token, is a method of
// the method table (GEM, SC-CLIP): it has nothing of another method's left to modify.
type Modifier string

// ModifierSpec is one modifier's descriptor, a copy of the table's entry.
type ModifierSpec struct {
	Name  Modifier // canonical name, lower case (e.g. "resclip")
	Title string   // the modifier's own name (e.g. "ResCLIP")
	// Changes says in one line what the modifier changes (the README's table).
	Changes string
	// Steps describes each defining step, with the graph functions that build it and the
	// ImageOptions fields that switch it off or tune it.
	Steps string
	// Bases are the methods it composes with; any other method gives ErrModifierBase, with the
	// reason in Excluded.
	Bases    []Method
	Excluded string // why the other methods are excluded
	ViTOnly  bool   // defined for ViT image towers only (ErrViTOnly on a ResNet)
	// Defaults lists the default parameters and the rule that places the authors' ViT-B layer
	// choices in a model of another depth.
	Defaults string
	Paper    string // authors, title, venue and the sections that define it
	Code     string // the authors' repository, commit, files and functions it is read from
	Notes    string // what differs from the authors' release on purpose
}

// modifierDef is one entry of the modifier table.
type modifierDef struct {
	spec ModifierSpec
	// settle copies into the settled options s the fields of o the modifier reads, with their
	// defaults, so that equal encoders have equal options (the executable cache's key).
	settle func(o, s ImageOptions) ImageOptions
	// validate checks the modifier's own options (nil: none).
	validate func(o ImageOptions) error
	// needsClasses tells whether the settled options make the encoder read the label set's
	// text features (EncodeImageWithClasses).
	needsClasses func(o ImageOptions) bool
}

// Modifiers is a set of modifiers in canonical form: the canonical names, sorted and without
// repeats, joined by commas ("" = none). A string, so that ImageOptions stays comparable (the
// executable cache's key); ParseModifiers builds one from any spelling.
type Modifiers string

// ModifierSeparator joins a method and its modifiers in one name ("naclip+resclip", the form of
// -method, -methods and ParseMethodWithModifiers).
const ModifierSeparator = "+"

// ErrUnknownModifier is returned (wrapped) for a name that is not one of the modifier table's.
var ErrUnknownModifier = errors.New("clip: unknown modifier")

// ErrModifierBase is returned (wrapped) when a modifier is asked of a method its definition does
// not cover.
var ErrModifierBase = errors.New("clip: modifier not defined on this method")

// modifierFor finds a modifier's table entry by name.
func modifierFor(m Modifier) (*modifierDef, error) {
	for i := range modifierTable {
		if modifierTable[i].spec.Name == m {
			return &modifierTable[i], nil
		}
	}
	return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownModifier, string(m), strings.Join(ModifierNames(), ", "))
}

// ModifierNames lists the modifiers by their canonical names, in table order.
func ModifierNames() []string {
	out := make([]string, len(modifierTable))
	for i := range modifierTable {
		out[i] = string(modifierTable[i].spec.Name)
	}
	return out
}

// AllModifiers returns every modifier's descriptor (copies), in table order.
func AllModifiers() []ModifierSpec {
	out := make([]ModifierSpec, len(modifierTable))
	for i := range modifierTable {
		s := modifierTable[i].spec
		s.Bases = slices.Clone(s.Bases)
		out[i] = s
	}
	return out
}

// ParseModifiers reads a list of modifier names separated by commas or "+" (case-insensitive,
// spaces trimmed, "" = none) into the canonical set. An unknown name gives ErrUnknownModifier.
func ParseModifiers(s string) (Modifiers, error) {
	var names []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '+' }) {
		name := strings.ToLower(strings.TrimSpace(f))
		if name == "" {
			continue
		}
		if _, err := modifierFor(Modifier(name)); err != nil {
			return "", err
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return Modifiers(strings.Join(slices.Compact(names), ",")), nil
}

// List returns the set's modifiers in canonical order (nil for none).
func (ms Modifiers) List() []Modifier {
	if ms == "" {
		return nil
	}
	var out []Modifier
	for _, n := range strings.Split(string(ms), ",") {
		out = append(out, Modifier(n))
	}
	return out
}

// Has tells whether the set holds m.
func (ms Modifiers) Has(m Modifier) bool { return slices.Contains(ms.List(), m) }

// Validate accepts a set in canonical form of known modifiers.
func (ms Modifiers) Validate() error {
	canon, err := ParseModifiers(string(ms))
	if err != nil {
		return err
	}
	if canon != ms {
		return fmt.Errorf("%w: %q is not in canonical form %q (use ParseModifiers)", ErrUnknownModifier, string(ms), string(canon))
	}
	return nil
}

// checkModifiers returns ErrModifierBase (wrapped, one line saying why) when one of the set's
// modifiers is not defined on method d, and ErrViTOnly when it needs a ViT and c is a ResNet.
func checkModifiers(ms Modifiers, d *methodDef, c *Config) error {
	for _, m := range ms.List() {
		md, err := modifierFor(m)
		if err != nil {
			return err
		}
		if !slices.Contains(md.spec.Bases, d.spec.Name) {
			return fmt.Errorf("%w: %s on %s: %s", ErrModifierBase, m, d.spec.Name, md.spec.Excluded)
		}
		if c != nil && c.Vision == ResNet && md.spec.ViTOnly {
			return fmt.Errorf("%w: modifier %q needs a ViT checkpoint, this one is a %s", ErrViTOnly, string(m), c.Vision)
		}
	}
	return nil
}

// ParseMethodWithModifiers reads "method" or "method+modifier[+modifier…]" (the form of -method
// and -methods) into the method's canonical name and the modifier set. "" is MethodDefault
// without modifiers; "+resclip" is the default method with ResCLIP. A modifier the method's
// definition excludes gives ErrModifierBase; the model-dependent checks (ViT only) are the
// encoder's.
func ParseMethodWithModifiers(s string) (Method, Modifiers, error) {
	name, mods, _ := strings.Cut(s, ModifierSeparator)
	m, err := ParseMethod(name)
	if err != nil {
		return "", "", err
	}
	ms, err := ParseModifiers(mods)
	if err != nil {
		return "", "", err
	}
	if m != MethodDefault {
		if err := checkModifiers(ms, mustMethod(m), nil); err != nil {
			return "", "", err
		}
	}
	return m, ms, nil
}

// MethodLabel is the inverse of ParseMethodWithModifiers: "naclip+resclip", or the method alone.
func MethodLabel(m Method, ms Modifiers) string {
	if ms == "" {
		return string(m)
	}
	return string(m) + ModifierSeparator + strings.ReplaceAll(string(ms), ",", ModifierSeparator)
}
