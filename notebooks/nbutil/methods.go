package nbutil

import (
	"fmt"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// MethodNames lists the image encoder methods (clip.AllMethods) by name, the default first.
func MethodNames() []string { return clip.MethodNames() }

// ModifierNames lists the modifiers (clip.AllModifiers) by name.
func ModifierNames() []string { return clip.ModifierNames() }

// MethodOptions is surgery.Options for a method cell, from the plain values a notebook form
// gives: method ("" = the model's default; "naclip+resclip" adds modifiers,
// clip.ParseMethodWithModifiers), featureSurgery ("on", "off" or "" for the method's own: on for
// surgery only), and sliding windows (stride 0 = half a window; ignored without slide). Unknown
// names, and a modifier the method excludes, are an error saying why.
func MethodOptions(method, featureSurgery string, slide bool, stride int) (surgery.Options, error) {
	m, mods, err := clip.ParseMethodWithModifiers(method)
	if err != nil {
		return surgery.Options{}, err
	}
	fs := surgery.FeatureSurgeryMode(featureSurgery)
	switch fs {
	case surgery.FeatureSurgeryAuto, surgery.FeatureSurgeryOn, surgery.FeatureSurgeryOff:
	default:
		return surgery.Options{}, fmt.Errorf("nbutil: feature surgery %q: want \"on\", \"off\" or \"\"", featureSurgery)
	}
	o := surgery.Options{Method: m, Modifiers: mods, FeatureSurgery: fs, Slide: slide}
	if slide {
		o.Stride = stride
	}
	return o, nil
}
