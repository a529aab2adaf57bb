package imageprep

import (
	"fmt"
	"math"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// The tensor entering the peers' encoders, bit for bit: our OpenCV resize, then NormalizeMMSeg.
func TestNormalizeMMSegGolden(t *testing.T) {
	img := goldens.ReadPNGRGB(t, goldens.Path(t, "protocols", "images", "demo128x96.png"))
	src := &Pixels{W: 128, H: 96, C: 3, Pix: img}
	for _, short := range []int{336, 448} {
		t.Run(fmt.Sprint(short), func(t *testing.T) {
			w, h, _ := RescaleSize(128, 96, 2048, short)
			want := goldens.Load(t, fmt.Sprintf("protocols/inputs/demo128x96@%d/input.f32.npy", short))
			got := NormalizeMMSeg(ResizeLinearOpenCV(src, w, h).RGB())
			if len(got) != len(want.F32) {
				t.Fatalf("%d values, golden %d", len(got), len(want.F32))
			}
			bad := 0
			for i, v := range got {
				if math.Float32bits(v) != math.Float32bits(want.F32[i]) {
					if bad < 5 {
						t.Errorf("value %d: %v, golden %v", i, v, want.F32[i])
					}
					bad++
				}
			}
			if bad > 0 {
				t.Fatalf("%d of %d values differ", bad, len(got))
			}
		})
	}
}
