package imageprep

import (
	"fmt"
	"math"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// The protocol goldens store the tensor entering the peers' encoders: mmcv's keep-ratio resize of
// the 128×96 demo image by cv2.resize INTER_LINEAR, then (x − mean)/std. Undoing the
// normalisation gives the resized bytes, which must all be equal to ours.
func TestResizeLinearOpenCVGolden(t *testing.T) {
	img := goldens.ReadPNGRGB(t, goldens.Path(t, "protocols", "images", "demo128x96.png"))
	src := &Pixels{W: 128, H: 96, C: 3, Pix: img}
	mean := []float64{122.77100372314453, 116.74600219726562, 104.09400177001953}
	std := []float64{68.5009994506836, 66.63200378417969, 70.322998046875}
	for _, short := range []int{336, 448} {
		t.Run(fmt.Sprint(short), func(t *testing.T) {
			w, h, _ := RescaleSize(128, 96, 2048, short)
			want := goldens.Load(t, fmt.Sprintf("protocols/inputs/demo128x96@%d/input.f32.npy", short))
			if fmt.Sprint(want.Shape) != fmt.Sprint([]int{1, 3, h, w}) {
				t.Fatalf("size %dx%d, golden shape %v", w, h, want.Shape)
			}
			data := want.F32
			got := ResizeLinearOpenCV(src, w, h)
			bad := 0
			for c := range 3 {
				for i := range w * h {
					v := math.Round(float64(data[c*w*h+i])*std[c] + mean[c])
					if uint8(v) != got.Pix[i*3+c] {
						if bad < 5 {
							t.Errorf("channel %d pixel (%d,%d): %d, golden %v", c, i%w, i/w, got.Pix[i*3+c], v)
						}
						bad++
					}
				}
			}
			if bad > 0 {
				t.Fatalf("%d of %d bytes differ", bad, 3*w*h)
			}
		})
	}
}

func TestRescaleSize(t *testing.T) {
	for _, tc := range []struct{ w, h, long, short, nw, nh int }{
		{128, 96, 2048, 336, 448, 336}, {500, 375, 2048, 336, 448, 336}, {500, 333, 2048, 336, 505, 336},
		{2048, 1024, 2048, 560, 1120, 560}, {10, 1000, 2048, 336, 20, 2048}, // the long side caps the factor
	} {
		if nw, nh, _ := RescaleSize(tc.w, tc.h, tc.long, tc.short); nw != tc.nw || nh != tc.nh {
			t.Errorf("%dx%d to (%d, %d): %dx%d, want %dx%d", tc.w, tc.h, tc.long, tc.short, nw, nh, tc.nw, tc.nh)
		}
	}
}
