package imageprep

import (
	"math"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// Parity with open_clip's image_transform_v2 (../shared/golden/openclip/preprocess): the uint8
// image reaching ToTensor for each resize mode and filter, and the normalised model input.
func TestTransformMatchesOpenCLIP(t *testing.T) {
	src := decodePixels(t, "chelsea.png")
	for _, c := range []struct {
		dir    string
		mode   ResizeMode
		interp Interpolation
	}{
		{"shortest_bicubic_224", Shortest, Bicubic},
		{"shortest_bilinear_224", Shortest, Bilinear},
		{"squash_bicubic_224", Squash, Bicubic},
		{"squash_bilinear_224", Squash, Bilinear},
		{"longest_bicubic_224", Longest, Bicubic},
	} {
		t.Run(c.dir, func(t *testing.T) {
			tr := OpenAITransform(224)
			tr.ResizeMode, tr.Interpolation = c.mode, c.interp
			rgb, err := tr.GeometryPixels(src)
			if err != nil {
				t.Fatal(err)
			}
			assertBytes(t, c.dir, &Pixels{W: rgb.W, H: rgb.H, C: 3, Pix: rgb.Pix}, goldens.Load(t, "openclip/preprocess/"+c.dir+"/chelsea.u8.npy"))
		})
	}
	got, err := OpenAITransform(224).ApplyPixels(src)
	if err != nil {
		t.Fatal(err)
	}
	want := goldens.Load(t, "openclip/preprocess/shortest_bicubic_224/chelsea.openai.f32.npy")
	if len(got) != len(want.F32) {
		t.Fatalf("input has %d values, golden %v", len(got), want.Shape)
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want.F32[i]) {
			t.Fatalf("input value %d: %v, golden %v", i, got[i], want.F32[i])
		}
	}
}

// The golden image is landscape; the same arithmetic must hold for portrait images, odd margins
// and padding, checked here against the rules written out independently.
func TestTransformGeometryRules(t *testing.T) {
	mk := func(w, h int) *Pixels {
		p := &Pixels{W: w, H: h, C: 3, Pix: make([]uint8, 3*w*h)}
		for i := range p.Pix {
			p.Pix[i] = uint8(i*7 + i/3)
		}
		return p
	}
	tr := OpenAITransform(10)
	for _, c := range []struct {
		w, h int
		mode ResizeMode
	}{{7, 23, Shortest}, {23, 7, Shortest}, {7, 23, Longest}, {31, 12, Longest}, {10, 10, Longest}, {3, 40, Squash}} {
		tr.ResizeMode, tr.Fill = c.mode, 9
		got, err := tr.GeometryPixels(mk(c.w, c.h))
		if err != nil {
			t.Fatal(err)
		}
		if got.W != 10 || got.H != 10 || len(got.Pix) != 300 {
			t.Fatalf("%dx%d %s: output %dx%d", c.w, c.h, c.mode, got.W, got.H)
		}
		if c.mode != Longest {
			continue
		}
		// Longest: the resized image (long side 10) sits centred in a field of Fill.
		scale := float64(max(c.w, c.h)) / 10
		rw, rh := int(math.RoundToEven(float64(c.w)/scale)), int(math.RoundToEven(float64(c.h)/scale))
		left, top := (10-rw)/2, (10-rh)/2
		resized := ResizePixels(mk(c.w, c.h), rw, rh)
		for y := range 10 {
			for x := range 10 {
				want := uint8(9)
				if x >= left && x < left+rw && y >= top && y < top+rh {
					want = resized.Pix[3*((y-top)*rw+x-left)]
				}
				if g := got.Pix[3*(y*10+x)]; g != want {
					t.Fatalf("%dx%d longest: pixel (%d,%d) = %d, want %d", c.w, c.h, x, y, g, want)
				}
			}
		}
	}
	// Shortest on a portrait 7x23: resized to 10x32 (int(10*23/7) = 32), cropped at round(22/2) = 11.
	tr.ResizeMode = Shortest
	got, _ := tr.GeometryPixels(mk(7, 23))
	resized := ResizePixels(mk(7, 23), 10, 32)
	for i := range 10 * 3 {
		if got.Pix[i] != resized.Pix[11*30+i] {
			t.Fatalf("shortest 7x23: first row differs from resized row 11 at %d", i)
		}
	}
}

func TestTransformRejects(t *testing.T) {
	good := OpenAITransform(224)
	for name, tr := range map[string]Transform{
		"zero size":     {Size: 0, Mean: Mean, Std: Std, Interpolation: Bicubic, ResizeMode: Shortest},
		"zero std":      {Size: 8, Mean: Mean, Interpolation: Bicubic, ResizeMode: Shortest},
		"nearest":       {Size: 8, Mean: Mean, Std: Std, Interpolation: "nearest", ResizeMode: Shortest},
		"unknown mode":  {Size: 8, Mean: Mean, Std: Std, Interpolation: Bicubic, ResizeMode: "fit"},
		"NaN mean":      {Size: 8, Mean: [3]float32{float32(math.NaN()), 0, 0}, Std: Std, Interpolation: Bicubic, ResizeMode: Squash},
		"huge size":     {Size: 1 << 20, Mean: Mean, Std: Std, Interpolation: Bicubic, ResizeMode: Squash},
		"too thin":      {Size: 4, Mean: Mean, Std: Std, Interpolation: Bicubic, ResizeMode: Longest},
		"nil is caught": good,
	} {
		var err error
		switch name {
		case "too thin":
			_, err = tr.GeometryPixels(&Pixels{W: 1, H: 100, C: 1, Pix: make([]uint8, 100)})
		case "nil is caught":
			_, err = tr.ApplyPixels(nil)
		default:
			_, err = tr.ApplyPixels(&Pixels{W: 2, H: 2, C: 1, Pix: make([]uint8, 4)})
		}
		if err == nil {
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
