package surgery

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
)

// mmsegmentation's windows for a 375×500 (w×h) image, window 224, stride 112, worked out by hand:
// rows 4 windows (ends 224, 336, 448, 500 → starts 0, 112, 224, 276), columns 3 (ends 224, 336,
// 375 → starts 0, 112, 151).
func TestSlideWindows(t *testing.T) {
	wins, err := SlideWindows(500, 375, 224, 112)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range wins {
		got = append(got, fmt.Sprintf("%d:%d,%d:%d", w.Y0, w.Y1, w.X0, w.X1))
	}
	want := "0:224,0:224 0:224,112:336 0:224,151:375 112:336,0:224 112:336,112:336 112:336,151:375 " +
		"224:448,0:224 224:448,112:336 224:448,151:375 276:500,0:224 276:500,112:336 276:500,151:375"
	if strings.Join(got, " ") != want {
		t.Errorf("windows\n%s\nwant\n%s", strings.Join(got, " "), want)
	}
	// An image smaller than the window is one window: the whole image.
	if wins, _ := SlideWindows(100, 150, 224, 112); len(wins) != 1 || wins[0] != (Window{0, 0, 150, 100}) {
		t.Errorf("small image: %v", wins)
	}
	for _, bad := range [][4]int{{0, 10, 4, 2}, {10, 10, 0, 1}, {10, 10, 4, 0}, {10, 10, 4, 5}} {
		if _, err := SlideWindows(bad[0], bad[1], bad[2], bad[3]); err == nil {
			t.Errorf("SlideWindows%v accepted", bad)
		}
	}
}

// Three 4×4 windows over a 4×8 image at stride 2, each pasting a constant (bilinear keeps a
// constant): columns 0-1 see window A only, 2-3 A and B, 4-5 B and C, 6-7 C only.
func TestSlideAverageByHand(t *testing.T) {
	wins, err := SlideWindows(4, 8, 4, 2)
	if err != nil || len(wins) != 3 {
		t.Fatalf("windows %v, %v", wins, err)
	}
	a := NewSlideAverage(4, 8, 2)
	for i, w := range wins {
		v := []float32{1, 4, 16}[i]
		if err := a.Add(w, [][]float32{{v, v, v, v}, {-v, -v, -v, -v}}, 2, 2); err != nil {
			t.Fatal(err)
		}
	}
	planes, err := a.Average()
	if err != nil {
		t.Fatal(err)
	}
	wantRow := []float32{1, 1, 2.5, 2.5, 10, 10, 16, 16}
	for y := 0; y < 4; y++ {
		for x, want := range wantRow {
			if planes[0][y*8+x] != want || planes[1][y*8+x] != -want {
				t.Fatalf("pixel (%d,%d) = %v, %v; want ±%v", x, y, planes[0][y*8+x], planes[1][y*8+x], want)
			}
		}
	}
	if _, err := NewSlideAverage(4, 8, 1).Average(); !errors.Is(err, ErrUncovered) {
		t.Errorf("nothing added: %v", err)
	}
	if err := NewSlideAverage(4, 8, 1).Add(Window{6, 0, 10, 4}, [][]float32{{1}}, 1, 1); err == nil {
		t.Error("window outside the image accepted")
	}
}

func slidePixels(h, w int) *imageprep.Pixels {
	p := &imageprep.Pixels{W: w, H: h, C: 3, Pix: make([]uint8, h*w*3)}
	for i := range p.Pix {
		y, x, c := i/(w*3), (i/3)%w, i%3
		p.Pix[i] = uint8((x*7 + y*3 + c*50 + (x*y)%31) % 256)
	}
	return p
}

// upsampled is a target column of a one-window result at image resolution, before min-max.
func upsampled(t *testing.T, r *Result, column, h, w int) []float32 {
	t.Helper()
	col := r.Similarity.Column(column)[1:]
	side := int(math.Sqrt(float64(len(col))))
	return resizeNCHW(col, side, side, h, w)
}

func assertMapsClose(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-5) {
			t.Fatalf("%s: pixel %d = %v, want %v", name, i, got[i], want[i])
		}
	}
}

// One window covering the whole image (an image smaller than the window) gives the one-window
// pipeline's similarity at image resolution; with two overlapping windows the map is the
// min-max of the hand-computed average of the two windows' own results.
func TestSlideMatchesWindows(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	targets := []string{"person", "bench+ground"}
	for _, fs := range []FeatureSurgeryMode{FeatureSurgeryAuto, FeatureSurgeryOff} {
		opt := Options{Method: clip.MethodSurgery, FeatureSurgery: fs}
		small := slidePixels(150, 200)
		whole, err := e.ExplainPixels(small, targets, opt)
		if err != nil {
			t.Fatal(err)
		}
		slide := opt
		slide.Slide = true
		one, err := e.ExplainPixels(small, targets, slide)
		if err != nil {
			t.Fatal(err)
		}
		if one.Windows != 1 || len(one.Similarity.Data) != 0 {
			t.Fatalf("one window: %d windows, similarity %d values", one.Windows, len(one.Similarity.Data))
		}
		want := upsampled(t, whole, whole.Targets[0].Columns[0], 150, 200)
		if err := minMaxInPlace(want); err != nil {
			t.Fatal(err)
		}
		assertMapsClose(t, fmt.Sprintf("fs %q one window", fs), one.Targets[0].Map, want)

		// 224×320 at window 224, stride 112: windows x ∈ [0, 224) and [96, 320).
		big := slidePixels(224, 320)
		two, err := e.ExplainPixels(big, targets, slide)
		if err != nil {
			t.Fatal(err)
		}
		var parts [2][]float32
		for i, x0 := range []int{0, 96} {
			r, err := e.ExplainPixels(cropPixels(big, Window{X0: x0, Y0: 0, X1: x0 + 224, Y1: 224}), targets, opt)
			if err != nil {
				t.Fatal(err)
			}
			parts[i] = upsampled(t, r, r.Targets[0].Columns[0], 224, 224)
		}
		avg := make([]float32, 224*320)
		for y := 0; y < 224; y++ {
			for x := 0; x < 320; x++ {
				switch {
				case x < 96:
					avg[y*320+x] = parts[0][y*224+x]
				case x < 224:
					avg[y*320+x] = (parts[0][y*224+x] + parts[1][y*224+x-96]) / 2
				default:
					avg[y*320+x] = parts[1][y*224+x-96]
				}
			}
		}
		if err := minMaxInPlace(avg); err != nil {
			t.Fatal(err)
		}
		if two.Windows != 2 || len(two.Targets[1].Map) != 224*320 || len(two.Targets[0].Points) == 0 {
			t.Fatalf("two windows: %d windows, combined map %d, points %d", two.Windows, len(two.Targets[1].Map), len(two.Targets[0].Points))
		}
		assertMapsClose(t, fmt.Sprintf("fs %q two windows", fs), two.Targets[0].Map, avg)
	}
}

func TestSlideBadOptions(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	pix := slidePixels(64, 64)
	for _, c := range []struct {
		opt Options
		msg string
	}{
		{Options{Stride: 16}, "without sliding"},
		{Options{Slide: true, Stride: 300}, "stride 300"},
		{Options{Slide: true, Stride: -1}, "stride -1"},
		{Options{Size: clip.DefaultMaxImageSide + 16}, "-slide"},
		{Options{Method: "nope"}, "nope"},
		{Options{FeatureSurgery: "maybe"}, "maybe"},
	} {
		if _, err := e.ExplainPixels(pix, []string{"person"}, c.opt); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+v: error %v, want one naming %q", c.opt, err, c.msg)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.ExplainPixelsContext(ctx, pix, []string{"person"}, Options{Slide: true}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// PixelSimilarity: every class's logits at image size; without Slide the token similarities
// resized, with one window the same, with overlapping windows the plane whose min-max is
// Explain's sliding map.
func TestPixelSimilarity(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	labels := []string{"person", "bench", "ground", "sky"}
	opt := Options{Labels: labels, Method: clip.MethodSCLIP}
	small := slidePixels(150, 200)
	whole, err := e.ExplainPixels(small, []string{"bench"}, opt)
	if err != nil {
		t.Fatal(err)
	}
	planes, res, err := e.PixelSimilarity(context.Background(), small, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(planes) != 4 || res.Method != clip.MethodSCLIP || res.FeatureSurgery || res.Windows != 0 {
		t.Fatalf("%d planes, result %+v", len(planes), res)
	}
	for c := range labels {
		assertMapsClose(t, labels[c], planes[c], upsampled(t, whole, c, 150, 200))
	}
	slide := opt
	slide.Slide = true
	one, res, err := e.PixelSimilarity(context.Background(), small, slide)
	if err != nil || res.Windows != 1 {
		t.Fatalf("one window: %v, %+v", err, res)
	}
	for c := range labels {
		assertMapsClose(t, "one window "+labels[c], one[c], planes[c])
	}
	big := slidePixels(224, 320)
	two, res, err := e.PixelSimilarity(context.Background(), big, slide)
	if err != nil || res.Windows != 2 || res.Stride != 112 {
		t.Fatalf("two windows, default stride: %v, %+v", err, res)
	}
	ex, err := e.ExplainPixels(big, []string{"ground"}, slide)
	if err != nil {
		t.Fatal(err)
	}
	if err := minMaxInPlace(two[2]); err != nil {
		t.Fatal(err)
	}
	assertMapsClose(t, "two windows ground", two[2], ex.Targets[0].Map)
	if _, _, err := e.PixelSimilarity(context.Background(), small, Options{Single: true}); err == nil {
		t.Error("single-text mode accepted")
	}
}
