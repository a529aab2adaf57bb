package surgery

import "testing"

// PyTorch (align_corners=False) upsamples [[0,1],[2,3]] to 4×4 as below: source coordinate
// (d+0.5)/2−0.5 clamped at 0, so the outer rows and columns repeat the edge.
func TestResizeBilinearByHand(t *testing.T) {
	got, err := ResizeBilinear([]float32{0, 1, 2, 3}, 2, 2, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{
		0, 0.25, 0.75, 1,
		0.5, 0.75, 1.25, 1.5,
		1.5, 1.75, 2.25, 2.5,
		2, 2.25, 2.75, 3,
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("element %d: %v, want %v (all %v)", i, got[i], want[i], got)
		}
	}
	for _, c := range []struct{ n, inH, inW, outH, outW int }{{3, 2, 2, 4, 4}, {4, 2, 2, 0, 4}, {0, 0, 0, 1, 1}} {
		if _, err := ResizeBilinear(make([]float32, c.n), c.inH, c.inW, c.outH, c.outW); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
