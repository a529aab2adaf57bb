package evaluate

import (
	"errors"
	"slices"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
)

// -methods takes methods with modifiers side by side, each in canonical form, and refuses a
// modifier its method's definition excludes.
func TestParseMethodsWithModifiers(t *testing.T) {
	ms, err := ParseMethods("naclip, NACLIP+ResCLIP,clip-surgery+resclip")
	if err != nil || !slices.Equal(ms, []clip.Method{"naclip", "naclip+resclip", "surgery+resclip"}) {
		t.Fatalf("ParseMethods = %v, %v", ms, err)
	}
	if _, err := ParseMethods("naclip+resclip,naclip+RESCLIP"); err == nil {
		t.Error("a method with modifiers listed twice is accepted")
	}
	if _, err := ParseMethods("maskclip+resclip"); !errors.Is(err, clip.ErrModifierBase) {
		t.Errorf("maskclip+resclip: %v, want ErrModifierBase", err)
	}
	if _, err := ParseMethods("naclip+nope"); !errors.Is(err, clip.ErrUnknownModifier) {
		t.Errorf("naclip+nope: %v, want ErrUnknownModifier", err)
	}
}
