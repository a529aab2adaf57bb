package bilinear

import (
	"math"
	"testing"
)

// The properties every resize must have; the bit-exact precision is tested against the goldens
// by its users (surgery's maps and points, SAM's postprocess, CLIP's 512 px encoder).
func TestTaps(t *testing.T) {
	for _, c := range []struct{ in, out int }{{7, 7}, {7, 512}, {14, 32}, {256, 1024}, {1024, 500}, {1, 4}, {5, 1}} {
		taps := Taps(c.in, c.out)
		if len(taps) != c.out {
			t.Fatalf("%d→%d: %d taps", c.in, c.out, len(taps))
		}
		for d, tp := range taps {
			if tp.I0 < 0 || tp.I1 >= c.in || tp.I1 < tp.I0 || tp.I1 > tp.I0+1 {
				t.Fatalf("%d→%d: tap %d = %+v", c.in, c.out, d, tp)
			}
			if tp.L0 < 0 || tp.L1 < 0 || math.Abs(float64(tp.L0+tp.L1)-1) > 1e-7 {
				t.Fatalf("%d→%d: weights of tap %d = %+v", c.in, c.out, d, tp)
			}
			if c.in == c.out && (tp.I0 != d || tp.L0 != 1) {
				t.Fatalf("%d→%d: equal sizes must copy, tap %d = %+v", c.in, c.out, d, tp)
			}
		}
	}
	// Downscaling 4 → 2: src = 2·(d+0.5) − 0.5 = 0.5, 2.5.
	if got := Taps(4, 2); got[0] != (Tap{0, 1, 0.5, 0.5}) || got[1] != (Tap{2, 3, 0.5, 0.5}) {
		t.Errorf("Taps(4, 2) = %+v", got)
	}
	// Upscaling clamps at both ends: src < 0 becomes 0, the last index repeats.
	if got := Taps(2, 8); got[0] != (Tap{0, 1, 1, 0}) || got[7] != (Tap{1, 1, 0.625, 0.375}) {
		t.Errorf("Taps(2, 8) = %+v", got)
	}
}

func TestMatrix(t *testing.T) {
	m := Matrix(2, 8)
	for d, row := range m {
		if s := row[0] + row[1]; math.Abs(float64(s)-1) > 1e-7 {
			t.Errorf("row %d sums to %v", d, s)
		}
	}
	if m[7][1] != 1 { // 0.625 + 0.375 on the same index
		t.Errorf("last row %v", m[7])
	}
}
