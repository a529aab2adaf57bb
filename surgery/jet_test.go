package surgery

import "testing"

// TestJETMatchesOpenCV compares the derived table with cv2.applyColorMap(arange(256), JET) (BGR).
func TestJETMatchesOpenCV(t *testing.T) {
	lut := loadArray(t, "postprocess/jet_lut_bgr.uint8.npy")
	if len(lut.U8) != 256*3 {
		t.Fatalf("LUT has %d values", len(lut.U8))
	}
	bad := 0
	for v := 0; v < 256; v++ {
		got := JET(uint8(v))
		want := [3]uint8{lut.U8[v*3+2], lut.U8[v*3+1], lut.U8[v*3]} // BGR → RGB
		if got != want {
			bad++
			if bad < 10 {
				t.Errorf("JET(%d) = %v, OpenCV %v (RGB)", v, got, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of 256 colours differ", bad)
	}
}

// TestJETNeedsOpenCVArithmetic documents why the table is built through OpenCV's float32 interp1:
// rounding the ideal jet·255 half-to-even directly misses at least one of OpenCV's levels
// (v = 159, where interp1's float32 noise pushes 1.5 below the tie).
func TestJETNeedsOpenCVArithmetic(t *testing.T) {
	lut := loadArray(t, "postprocess/jet_lut_bgr.uint8.npy")
	differ := 0
	for v := 0; v < 256; v++ {
		x := float64(v) / 255
		naive := [3]uint8{
			saturateRound(float32(jetRamp(4*x+0.5, 2.5-4*x)) * 255), // B
			saturateRound(float32(jetRamp(4*x-0.5, 3.5-4*x)) * 255), // G
			saturateRound(float32(jetRamp(4*x-1.5, 4.5-4*x)) * 255), // R
		}
		if naive != [3]uint8(lut.U8[v*3:v*3+3]) {
			differ++
		}
	}
	if differ == 0 {
		t.Error("the naive table equals OpenCV's: the interp1 emulation would be unnecessary")
	}
	t.Logf("naive rounding differs from OpenCV in %d colours", differ)
}
