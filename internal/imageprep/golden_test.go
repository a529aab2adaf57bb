package imageprep

import (
	"math"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/npy"
)

// Parity with the reference's Pillow 9.4 + torch preprocessing: every comparison is bit-exact.

// loadPixels reads a golden uint8 image array ([H,W] or [H,W,C]).
func loadPixels(t *testing.T, rel string) *Pixels {
	t.Helper()
	a := goldens.Load(t, rel)
	if a.U8 == nil || len(a.Shape) < 2 || len(a.Shape) > 3 {
		t.Fatalf("%s: not a uint8 image array (dtype %s, shape %v)", rel, a.DType, a.Shape)
	}
	c := 1
	if len(a.Shape) == 3 {
		c = a.Shape[2]
	}
	p, err := PixelsFromArray(a.Shape[0], a.Shape[1], c, a.U8)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return p
}

// decodePixels decodes a golden image file with Go's decoders.
func decodePixels(t *testing.T, name string) *Pixels {
	t.Helper()
	img, err := DecodeFile(goldens.Path(t, "images", name))
	if err != nil {
		t.Fatal(err)
	}
	return ToPixels(img)
}

func assertBytes(t *testing.T, name string, got *Pixels, want *npy.Array) {
	t.Helper()
	wantC := 1
	if len(want.Shape) == 3 {
		wantC = want.Shape[2]
	}
	if got.H != want.Shape[0] || got.W != want.Shape[1] || got.C != wantC {
		t.Fatalf("%s: got [%d,%d,%d], golden %v", name, got.H, got.W, got.C, want.Shape)
	}
	bad, worst, at := 0, 0, -1
	for i, g := range got.Pix {
		if d := int(g) - int(want.U8[i]); d != 0 {
			bad++
			if d < 0 {
				d = -d
			}
			if d > worst {
				worst, at = d, i
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d bytes differ, worst %d at %d (got %d, golden %d)",
			name, bad, len(got.Pix), worst, at, got.Pix[at], want.U8[at])
	}
}

func assertFloats(t *testing.T, name string, got []float32, want *npy.Array) {
	t.Helper()
	if len(got) != len(want.F32) {
		t.Fatalf("%s: %d values, golden %d (shape %v)", name, len(got), len(want.F32), want.Shape)
	}
	bad, at := 0, -1
	for i, g := range got {
		if math.Float32bits(g) != math.Float32bits(want.F32[i]) {
			if bad == 0 {
				at = i
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d floats not bit-identical, first at %d (got %.9g, golden %.9g)",
			name, bad, len(got), at, got[at], want.F32[at])
	}
}

func rgbPixels(r *RGB) *Pixels { return &Pixels{W: r.W, H: r.H, C: 3, Pix: r.Pix} }

func TestResizeGoldens(t *testing.T) {
	cases := []struct {
		name string
		src  func(t *testing.T) *Pixels
		n    int
		want string
	}{
		// JPEG: start from Pillow's decode (Go's differs, Q8).
		{"demo224", func(t *testing.T) *Pixels { return loadPixels(t, "images/npy/demo.uint8.npy") }, 224, "preprocess/demo_224_resized.uint8.npy"},
		{"demo512", func(t *testing.T) *Pixels { return loadPixels(t, "images/npy/demo.uint8.npy") }, 512, "preprocess/demo_512_resized.uint8.npy"},
		// PNG decoded by Go: 451x300 -> downscale in x, upscale in y at 512.
		{"chelsea224", func(t *testing.T) *Pixels { return decodePixels(t, "chelsea.png") }, 224, "preprocess/chelsea_224_resized.uint8.npy"},
		{"chelsea512", func(t *testing.T) *Pixels { return decodePixels(t, "chelsea.png") }, 512, "preprocess/chelsea_512_resized.uint8.npy"},
		// Mode L and mode RGBA (premultiplied round trip, 64x48 upscaled to 224).
		{"camera224_npy", func(t *testing.T) *Pixels { return loadPixels(t, "images/npy/camera.uint8.npy") }, 224, "preprocess/camera_cliptransform_224_resized.uint8.npy"},
		{"camera224_png", func(t *testing.T) *Pixels { return decodePixels(t, "camera.png") }, 224, "preprocess/camera_cliptransform_224_resized.uint8.npy"},
		{"rgba224_npy", func(t *testing.T) *Pixels { return loadPixels(t, "images/npy/rgba_synth.uint8.npy") }, 224, "preprocess/rgba_synth_cliptransform_224_resized.uint8.npy"},
		{"rgba224_png", func(t *testing.T) *Pixels { return decodePixels(t, "rgba_synth.png") }, 224, "preprocess/rgba_synth_cliptransform_224_resized.uint8.npy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src(t)
			want := goldens.Load(t, tc.want)
			got := ResizePixels(src, tc.n, tc.n)
			assertBytes(t, tc.want, got, want)
			if src.C == 3 { // the public RGB entry point must agree
				assertBytes(t, tc.want+" (Resize)", rgbPixels(Resize(src.RGB(), tc.n, tc.n)), want)
			}
		})
	}
}

// TestConvertRGBGoldens checks convert("RGB") after the resize in the original mode.
func TestConvertRGBGoldens(t *testing.T) {
	for _, name := range []string{"camera", "rgba_synth"} {
		resized := loadPixels(t, "preprocess/"+name+"_cliptransform_224_resized.uint8.npy")
		want := goldens.Load(t, "preprocess/"+name+"_cliptransform_224_rgb.uint8.npy")
		assertBytes(t, name+" rgb", rgbPixels(resized.RGB()), want)
	}
}

func TestPreprocessGoldens(t *testing.T) {
	cases := []struct {
		name string
		src  func(t *testing.T) *Pixels
		n    int
		want string
	}{
		{"demo224", func(t *testing.T) *Pixels { return loadPixels(t, "images/npy/demo.uint8.npy") }, 224, "preprocess/demo_224.f32.npy"},
		{"demo512", func(t *testing.T) *Pixels { return loadPixels(t, "images/npy/demo.uint8.npy") }, 512, "preprocess/demo_512.f32.npy"},
		{"camera_npy", func(t *testing.T) *Pixels { return loadPixels(t, "images/npy/camera.uint8.npy") }, 224, "preprocess/camera_cliptransform_224.f32.npy"},
		{"rgba_npy", func(t *testing.T) *Pixels { return loadPixels(t, "images/npy/rgba_synth.uint8.npy") }, 224, "preprocess/rgba_synth_cliptransform_224.f32.npy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PreprocessPixels(tc.src(t), tc.n)
			if err != nil {
				t.Fatal(err)
			}
			assertFloats(t, tc.want, got, goldens.Load(t, tc.want))
		})
	}
	// PNGs straight from the decoder through the public image.Image entry point.
	for _, tc := range []struct{ file, want string }{
		{"chelsea.png", "preprocess/chelsea_224.f32.npy"},
		{"astronaut.png", "preprocess/astronaut_224.f32.npy"},
		{"coffee.png", "preprocess/coffee_224.f32.npy"},
		{"camera.png", "preprocess/camera_cliptransform_224.f32.npy"},
		{"rgba_synth.png", "preprocess/rgba_synth_cliptransform_224.f32.npy"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			img, err := DecodeFile(goldens.Path(t, "images", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Preprocess(img, 224)
			if err != nil {
				t.Fatal(err)
			}
			assertFloats(t, tc.want, got, goldens.Load(t, tc.want))
		})
	}
}

// TestNormalizeGoldens: ToTensor+Normalize alone on the stored resized images.
func TestNormalizeGoldens(t *testing.T) {
	for _, name := range []string{"demo_224", "demo_512", "chelsea_224"} {
		resized := loadPixels(t, "preprocess/"+name+"_resized.uint8.npy")
		assertFloats(t, name, Normalize(resized.RGB()), goldens.Load(t, "preprocess/"+name+".f32.npy"))
	}
	for _, name := range []string{"camera", "rgba_synth"} {
		rgb := loadPixels(t, "preprocess/"+name+"_cliptransform_224_rgb.uint8.npy")
		assertFloats(t, name, Normalize(rgb.RGB()), goldens.Load(t, "preprocess/"+name+"_cliptransform_224.f32.npy"))
	}
}

// TestDecodeGoldens: Go's PNG decoding equals np.array(Image.open(file)) where it is stored, and
// Go's JPEG decoding of demo.jpg stays within the few levels the README reports (Q8).
func TestDecodeGoldens(t *testing.T) {
	for _, name := range []string{"camera", "rgba_synth"} {
		assertBytes(t, name+".png", decodePixels(t, name+".png"), goldens.Load(t, "images/npy/"+name+".uint8.npy"))
	}
	for _, tc := range []struct {
		file string
		w, h int
	}{{"chelsea.png", 451, 300}, {"astronaut.png", 512, 512}, {"coffee.png", 600, 400}} {
		p := decodePixels(t, tc.file)
		if p.W != tc.w || p.H != tc.h || p.C != 3 {
			t.Errorf("%s: decoded %dx%dx%d, want %dx%dx3", tc.file, p.W, p.H, p.C, tc.w, tc.h)
		}
	}
	got := decodePixels(t, "demo.jpg")
	want := goldens.Load(t, "images/npy/demo.uint8.npy")
	if got.H != want.Shape[0] || got.W != want.Shape[1] || got.C != 3 {
		t.Fatalf("demo.jpg: decoded [%d,%d,%d], golden %v", got.H, got.W, got.C, want.Shape)
	}
	worst, diff := 0, 0
	for i, g := range got.Pix {
		d := max(int(g)-int(want.U8[i]), int(want.U8[i])-int(g))
		worst = max(worst, d)
		if d != 0 {
			diff++
		}
	}
	t.Logf("demo.jpg Go vs libjpeg: %d of %d values differ, max %d levels", diff, len(got.Pix), worst)
	if worst > 4 {
		t.Errorf("demo.jpg: Go decode differs from Pillow's by %d levels (README Q8 reports <= 3)", worst)
	}
}

// TestMeanStdBits: the constants are float32(float64 literal), what torch.as_tensor makes.
func TestMeanStdBits(t *testing.T) {
	want := [6]uint32{}
	for i, v := range []float64{0.48145466, 0.4578275, 0.40821073, 0.26862954, 0.26130258, 0.27577711} {
		want[i] = math.Float32bits(float32(v))
	}
	got := [6]uint32{}
	for c := range 3 {
		got[c], got[3+c] = math.Float32bits(Mean[c]), math.Float32bits(Std[c])
	}
	if got != want {
		t.Errorf("Mean/Std bits %x, want %x", got, want)
	}
}
