package clip

import (
	"errors"
	"strings"
	"testing"
)

func TestParseMethod(t *testing.T) {
	if got, err := ParseMethod(""); err != nil || got != MethodDefault {
		t.Errorf("ParseMethod(\"\") = %q, %v", got, err)
	}
	_, err := ParseMethod("gemini")
	if !errors.Is(err, ErrUnknownMethod) || !strings.Contains(err.Error(), "naclip") {
		t.Errorf("ParseMethod(gemini): %v, want ErrUnknownMethod listing the methods", err)
	}
}

// Bad options on a ResNet give an error before any graph is built (TestMethodTable runs every
// method on one).
func TestMethodsOnResNet(t *testing.T) {
	m := loadGoldenModel(t, "rn")
	px := make([]float32, 3*224*224)
	if _, err := m.EncodeImage(px, 1, 224, 224, ImageOptions{Method: "x"}); !errors.Is(err, ErrUnknownMethod) {
		t.Errorf("unknown method: %v", err)
	}
	if _, err := m.EncodeImage(px, 1, 224, 224, ImageOptions{Method: MethodNACLIP, NeighbourhoodStd: -1}); err == nil {
		t.Error("negative neighbourhood std accepted")
	}
}

// Model.Method is the default of an empty ImageOptions.Method.
func TestModelDefaultMethod(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	px := oraclePixels(224, 224)
	m.Method = MethodClearCLIP
	a, err := m.EncodeImage(px, 1, 224, 224, ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.EncodeImage(px, 1, 224, 224, ImageOptions{Method: MethodClearCLIP})
	if err != nil {
		t.Fatal(err)
	}
	c, err := m.EncodeImage(px, 1, 224, 224, ImageOptions{Method: MethodSurgery})
	if err != nil {
		t.Fatal(err)
	}
	same, differ := true, false
	for i := range a.Data {
		same = same && a.Data[i] == b.Data[i]
		differ = differ || a.Data[i] != c.Data[i]
	}
	if !same || !differ {
		t.Errorf("empty Method with Model.Method clearclip: equal to clearclip %v, differs from surgery %v", same, differ)
	}
}
