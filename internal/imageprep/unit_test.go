package imageprep

import (
	"math"
	"testing"
)

// Unit then NormalizeUnit gives NormalizeWith's bits; UnNormalize inverts a normalisation to
// within float32 rounding and maps a zero (F.pad's padding) to the mean.
func TestUnitNormalize(t *testing.T) {
	img := &RGB{W: 7, H: 5, Pix: make([]uint8, 7*5*3)}
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 37 % 256)
	}
	want := NormalizeWith(img, Mean, Std)
	unit := Unit(img)
	got := NormalizeUnit(unit, Mean, Std)
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("value %d: %v, NormalizeWith %v", i, got[i], want[i])
		}
	}
	back := UnNormalize(got, Mean, Std)
	for i := range back {
		if math.Abs(float64(back[i]-unit[i])) > 1e-6 {
			t.Fatalf("value %d: un-normalised %v, want %v", i, back[i], unit[i])
		}
	}
	zero := UnNormalize(make([]float32, 3), Mean, Std)
	if zero[0] != Mean[0] || zero[1] != Mean[1] || zero[2] != Mean[2] {
		t.Errorf("zeros un-normalised to %v, want the mean %v", zero, Mean)
	}
}
