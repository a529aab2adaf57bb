package imageprep

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/racedetect"
)

// naiveResize is an independent, deliberately plain transcription of the golden README's
// description of Pillow's resize (division by fs, all rows, one channel at a time), including
// the RGBA premultiplied detour written as (c*a+127)/255. The package must agree with it.
func naiveResize(src []uint8, w, h, c, ow, oh int) []uint8 {
	if ow == w && oh == h {
		return append([]uint8(nil), src...)
	}
	pix := append([]uint8(nil), src...)
	if c == 4 {
		for i := 0; i < len(pix); i += 4 {
			for ch := range 3 {
				pix[i+ch] = uint8((int(pix[i+ch])*int(pix[i+3]) + 127) / 255)
			}
		}
	}
	coeffs := func(in, out, i int) (int, []int64) {
		scale := float64(in) / float64(out)
		fs := max(scale, 1.0)
		support := 2 * fs
		center := (float64(i) + 0.5) * scale
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), in)
		var ws []float64
		sum := 0.0
		for x := xmin; x < xmax; x++ {
			t := (float64(x) - center + 0.5) / fs
			if t < 0 {
				t = -t
			}
			var v float64
			switch {
			case t < 1:
				v = (1.5*t-2.5)*t*t + 1
			case t < 2:
				v = (((t-5)*t+8)*t - 4) * -0.5
			}
			ws = append(ws, v)
			sum += v
		}
		ks := make([]int64, len(ws))
		for j, v := range ws {
			v /= sum
			if v < 0 {
				ks[j] = int64(v*(1<<22) - 0.5)
			} else {
				ks[j] = int64(v*(1<<22) + 0.5)
			}
		}
		return xmin, ks
	}
	clamp := func(s int64) uint8 { return uint8(min(max(s>>22, 0), 255)) }
	cw := w
	if ow != w {
		tmp := make([]uint8, h*ow*c)
		for y := range h {
			for x := range ow {
				xmin, ks := coeffs(w, ow, x)
				for ch := range c {
					s := int64(1 << 21)
					for j, k := range ks {
						s += int64(pix[(y*w+xmin+j)*c+ch]) * k
					}
					tmp[(y*ow+x)*c+ch] = clamp(s)
				}
			}
		}
		pix, cw = tmp, ow
	}
	if oh != h {
		tmp := make([]uint8, oh*cw*c)
		for y := range oh {
			ymin, ks := coeffs(h, oh, y)
			for x := range cw * c {
				s := int64(1 << 21)
				for j, k := range ks {
					s += int64(pix[(ymin+j)*cw*c+x]) * k
				}
				tmp[y*cw*c+x] = clamp(s)
			}
		}
		pix = tmp
	}
	if c == 4 {
		for i := 0; i < len(pix); i += 4 {
			if a := int(pix[i+3]); a != 0 && a != 255 {
				for ch := range 3 {
					pix[i+ch] = uint8(min(255*int(pix[i+ch])/a, 255))
				}
			}
		}
	}
	return pix
}

func randomPixels(r *rand.Rand, w, h, c int) *Pixels {
	p := &Pixels{W: w, H: h, C: c, Pix: make([]uint8, w*h*c)}
	for i := range p.Pix {
		p.Pix[i] = uint8(r.IntN(256))
		if c == 4 && i%4 == 3 { // plenty of the special alphas 0 and 255
			switch r.IntN(4) {
			case 0:
				p.Pix[i] = 0
			case 1:
				p.Pix[i] = 255
			}
		}
	}
	return p
}

func TestResizeMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	type sz struct{ w, h, ow, oh int }
	cases := []sz{{1, 1, 5, 3}, {5, 3, 1, 1}, {1000, 2, 3, 2}, {2, 700, 2, 9}, {300, 200, 300, 77}, {64, 48, 224, 224}, {451, 300, 224, 224}}
	for range 40 {
		cases = append(cases, sz{1 + r.IntN(200), 1 + r.IntN(200), 1 + r.IntN(200), 1 + r.IntN(200)})
	}
	for i, s := range cases {
		c := []int{1, 3, 4}[i%3]
		src := randomPixels(r, s.w, s.h, c)
		got := ResizePixels(src, s.ow, s.oh)
		want := naiveResize(src.Pix, s.w, s.h, c, s.ow, s.oh)
		if got.W != s.ow || got.H != s.oh || got.C != c || !bytes.Equal(got.Pix, want) {
			t.Errorf("%dx%dx%d -> %dx%d: differs from the plain transcription", s.w, s.h, c, s.ow, s.oh)
		}
	}
}

// TestResizeParallelDeterministic: the row split over goroutines must not change a bit.
func TestResizeParallelDeterministic(t *testing.T) {
	src := randomPixels(rand.New(rand.NewPCG(3, 4)), 1200, 900, 3)
	prev := runtime.GOMAXPROCS(1)
	one := ResizePixels(src, 224, 224)
	runtime.GOMAXPROCS(4)
	four := ResizePixels(src, 224, 224)
	runtime.GOMAXPROCS(prev)
	if !bytes.Equal(one.Pix, four.Pix) {
		t.Error("1 and 4 goroutines give different bytes")
	}
}

// TestResizeRGBAShortCircuit: like Pillow, an unchanged size is a plain copy (the colour under
// alpha 0 survives), while any real resize goes through RGBa (that colour becomes black).
func TestResizeRGBAShortCircuit(t *testing.T) {
	p := &Pixels{W: 4, H: 4, C: 4, Pix: bytes.Repeat([]byte{200, 100, 50, 0}, 16)}
	if same := ResizePixels(p, 4, 4); !bytes.Equal(same.Pix, p.Pix) {
		t.Errorf("same size changed the pixels: %v", same.Pix[:4])
	}
	if wider := ResizePixels(p, 6, 4); !bytes.Equal(wider.Pix[:4], []byte{0, 0, 0, 0}) {
		t.Errorf("resized transparent pixel = %v, want black", wider.Pix[:4])
	}
	if rgb := p.RGB(); !bytes.Equal(rgb.Pix[:3], []byte{200, 100, 50}) {
		t.Errorf("ToRGB of a transparent pixel = %v, want its straight colour", rgb.Pix[:3])
	}
}

// TestPremultiplyRounding pins Pillow's MULDIV255 to round(c*a/255) over every input, and the
// inverse to truncation with a clip.
func TestPremultiplyRounding(t *testing.T) {
	for c := range 256 {
		for a := range 256 {
			var out [4]uint8
			premultiplyRow(out[:], []uint8{uint8(c), 0, 0, uint8(a)})
			if want := uint8((c*a + 127) / 255); out[0] != want {
				t.Fatalf("premultiply(%d, %d) = %d, want %d", c, a, out[0], want)
			}
			px := []uint8{uint8(c), 0, 0, uint8(a)}
			unpremultiplyRow(px)
			want := uint8(c)
			if a != 0 && a != 255 {
				want = uint8(min(255*c/a, 255))
			}
			if px[0] != want {
				t.Fatalf("unpremultiply(%d, %d) = %d, want %d", c, a, px[0], want)
			}
		}
	}
}

// generic hides an image's concrete type, forcing the At()-based path.
type generic struct{ image.Image }

// TestToPixelsTypes: every fast path gives the bytes of the generic path and the right mode;
// sub-images with a non-zero origin work.
func TestToPixelsTypes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	rect := image.Rect(0, 0, 9, 7)
	fill := func(set func(x, y int)) {
		for y := range rect.Dy() {
			for x := range rect.Dx() {
				set(x, y)
			}
		}
	}
	b := func() uint8 { return uint8(r.IntN(256)) }
	gray := image.NewGray(rect)
	gray16 := image.NewGray16(rect)
	nrgba := image.NewNRGBA(rect)
	nrgbaOpaque := image.NewNRGBA(rect)
	rgba := image.NewRGBA(rect)
	nrgba64 := image.NewNRGBA64(rect)
	rgba64 := image.NewRGBA64(rect)
	cmyk := image.NewCMYK(rect)
	fill(func(x, y int) {
		gray.SetGray(x, y, color.Gray{b()})
		gray16.SetGray16(x, y, color.Gray16{uint16(r.IntN(65536))})
		nrgba.SetNRGBA(x, y, color.NRGBA{b(), b(), b(), b()})
		nrgbaOpaque.SetNRGBA(x, y, color.NRGBA{b(), b(), b(), 255})
		a := b()
		rgba.SetRGBA(x, y, color.RGBA{b() & a, b() & a, b() & a, a}) // valid premultiplied
		nrgba64.SetNRGBA64(x, y, color.NRGBA64{uint16(r.IntN(65536)), 3, 60000, uint16(r.IntN(65536))})
		rgba64.SetRGBA64(x, y, color.RGBA64{100, 200, 300, 40000})
		cmyk.SetCMYK(x, y, color.CMYK{b(), b(), b(), b()})
	})
	ycc := image.NewYCbCr(rect, image.YCbCrSubsampleRatio420)
	nycca := image.NewNYCbCrA(rect, image.YCbCrSubsampleRatio422)
	for _, s := range [][]uint8{ycc.Y, ycc.Cb, ycc.Cr, nycca.Y, nycca.Cb, nycca.Cr, nycca.A} {
		for i := range s {
			s[i] = b()
		}
	}
	pal := image.NewPaletted(rect, color.Palette{color.NRGBA{1, 2, 3, 255}, color.RGBA{0, 0, 0, 0}, color.Gray{77}})
	fill(func(x, y int) { pal.SetColorIndex(x, y, uint8(r.IntN(4))) }) // index 3: past the palette
	palOpaque := image.NewPaletted(rect, color.Palette{color.Gray{5}, color.RGBA{9, 8, 7, 255}})

	for _, tc := range []struct {
		name string
		img  image.Image
		c    int
	}{
		{"gray", gray, 1}, {"gray16", gray16, 1}, {"nrgba", nrgba, 4}, {"nrgba-opaque", nrgbaOpaque, 3},
		{"rgba", rgba, 4}, {"nrgba64", nrgba64, 4}, {"rgba64", rgba64, 4}, {"cmyk", cmyk, 3},
		{"ycbcr", ycc, 3}, {"nycbcra", nycca, 4}, {"paletted", pal, 4}, {"paletted-opaque", palOpaque, 3},
		{"sub-nrgba", nrgba.SubImage(image.Rect(2, 1, 8, 6)), 4},
		{"sub-ycbcr", ycc.SubImage(image.Rect(3, 3, 9, 7)), 3},
		{"sub-gray", gray.SubImage(image.Rect(1, 2, 5, 7)), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ToPixels(tc.img)
			if got.C != tc.c || got.W != tc.img.Bounds().Dx() || got.H != tc.img.Bounds().Dy() {
				t.Fatalf("mode %d size %dx%d, want mode %d size %v", got.C, got.W, got.H, tc.c, tc.img.Bounds())
			}
			if tc.name == "paletted" || tc.name == "nycbcra" {
				return // no generic reference: At panics past the palette / loses straight colour
			}
			// The generic path (through NRGBA64) reports gray as 3 equal channels.
			ref := ToPixels(generic{tc.img})
			if tc.c == 1 {
				ref = &Pixels{W: ref.W, H: ref.H, C: 1, Pix: make([]uint8, ref.W*ref.H)}
				for i := range ref.Pix {
					ref.Pix[i] = ToPixels(generic{tc.img}).Pix[3*i]
				}
			}
			if !bytes.Equal(got.Pix, ref.Pix) {
				t.Errorf("fast path differs from the generic At() path")
			}
			if _, err := Preprocess(tc.img, 5); err != nil {
				t.Error(err)
			}
		})
	}
	// Spot checks of the rules themselves.
	if v := ToPixels(gray16).Pix[0]; v != uint8(gray16.Gray16At(0, 0).Y>>8) {
		t.Errorf("gray16 not >> 8")
	}
	c := rgba.RGBAAt(0, 0)
	want := color.NRGBAModel.Convert(c).(color.NRGBA)
	if got := ToPixels(rgba).Pix[:4]; !bytes.Equal(got, []uint8{want.R, want.G, want.B, want.A}) {
		t.Errorf("rgba %v un-premultiplied to %v, want %v", c, got, want)
	}
	// Paletted: straight palette colours, transparent entry kept as 4 channels, black past the end.
	pp := ToPixels(pal)
	for i, v := range pal.Pix {
		want := [][]uint8{{1, 2, 3, 255}, {0, 0, 0, 0}, {77, 77, 77, 255}, {0, 0, 0, 255}}[v]
		if !bytes.Equal(pp.Pix[4*i:4*i+4], want) {
			t.Fatalf("paletted pixel %d (index %d) = %v, want %v", i, v, pp.Pix[4*i:4*i+4], want)
		}
	}
	// NYCbCrA: straight colour through YCbCrToRGB, alpha as stored (no premultiplied detour).
	np := ToPixels(nycca)
	for y := range rect.Dy() {
		for x := range rect.Dx() {
			yi, ci := nycca.YOffset(x, y), nycca.COffset(x, y)
			cr, cg, cb := color.YCbCrToRGB(nycca.Y[yi], nycca.Cb[ci], nycca.Cr[ci])
			want := []uint8{cr, cg, cb, nycca.A[nycca.AOffset(x, y)]}
			if got := np.Pix[4*(y*rect.Dx()+x) : 4*(y*rect.Dx()+x)+4]; !bytes.Equal(got, want) {
				t.Fatalf("nycbcra (%d,%d) = %v, want %v", x, y, got, want)
			}
		}
	}
	yr, yg, yb := color.YCbCrToRGB(ycc.Y[0], ycc.Cb[0], ycc.Cr[0])
	if got := ToRGB(ycc).Pix[:3]; !bytes.Equal(got, []uint8{yr, yg, yb}) {
		t.Errorf("ycbcr %v, want YCbCrToRGB %v", got, []uint8{yr, yg, yb})
	}
}

func TestFromArray(t *testing.T) {
	rgb, err := FromArray(1, 2, 4, []uint8{1, 2, 3, 0, 4, 5, 6, 255})
	if err != nil || !bytes.Equal(rgb.Pix, []uint8{1, 2, 3, 4, 5, 6}) {
		t.Errorf("RGBA array: %v %v", rgb, err)
	}
	rgb, err = FromArray(2, 1, 1, []uint8{7, 9})
	if err != nil || !bytes.Equal(rgb.Pix, []uint8{7, 7, 7, 9, 9, 9}) {
		t.Errorf("gray array: %v %v", rgb, err)
	}
	for _, bad := range []struct{ h, w, c, n int }{{0, 1, 3, 0}, {1, 1, 2, 2}, {2, 2, 3, 11}} {
		if _, err := FromArray(bad.h, bad.w, bad.c, make([]uint8, bad.n)); err == nil {
			t.Errorf("FromArray%v: no error", bad)
		}
	}
}

func TestPreprocessErrors(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for _, n := range []int{0, -3, 1 << 20} {
		if _, err := Preprocess(img, n); err == nil {
			t.Errorf("n = %d: no error", n)
		}
	}
	if _, err := Preprocess(nil, 8); err == nil {
		t.Error("nil image: no error")
	}
	if _, err := Preprocess(image.NewRGBA(image.Rect(3, 3, 3, 9)), 8); err == nil {
		t.Error("empty image: no error")
	}
	out, err := Preprocess(img, 1)
	if err != nil || len(out) != 3 {
		t.Errorf("n = 1: %d values, %v", len(out), err)
	}
}

// TestNormalizeFormula: per value, float32(u8)/255 then (x-mean)/std, each rounded to float32.
func TestNormalizeFormula(t *testing.T) {
	img := &RGB{W: 256, H: 1, Pix: make([]uint8, 3*256)}
	for i := range 256 {
		img.Pix[3*i], img.Pix[3*i+1], img.Pix[3*i+2] = uint8(i), uint8(255-i), uint8(i*7)
	}
	out := Normalize(img)
	for c := range 3 {
		for i := range 256 {
			v := img.Pix[3*i+c]
			x := float32(v) / 255
			want := (x - Mean[c]) / Std[c]
			if got := out[c*256+i]; got != want {
				t.Fatalf("channel %d value %d: %v, want %v", c, v, got, want)
			}
		}
	}
}

// photo is a 4000×3000 4:2:0 YCbCr image, what image/jpeg returns for a camera photo.
func photo() *image.YCbCr {
	m := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range m.Y {
		m.Y[i] = uint8(i*31/4000) ^ uint8(r.IntN(16))
	}
	for i := range m.Cb {
		m.Cb[i], m.Cr[i] = uint8(i), uint8(i/7)
	}
	return m
}

// TestLargePhotoMemory: a 12-megapixel photo to 512 is resampled from the decoder's buffer (its
// speed is BenchmarkPreprocessPhoto512's, in docs/BENCHMARKS.md, not a test's).
func TestLargePhotoMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if racedetect.Enabled {
		t.Skip("the race detector's instrumentation changes what is allocated")
	}
	img := photo()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Preprocess(img, 512); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("Preprocess 4000x3000 -> 512: %.1f MB allocated", float64(alloc)/1e6)
	// Rows are pulled from the decoder's buffer: no 36 MB RGB copy, only the 512-wide
	// intermediate (512*3000*3 = 4.6 MB), the output and the tensor.
	if alloc > 12<<20 {
		t.Errorf("allocated %d bytes: a full-size copy of the photo was made", alloc)
	}
}

func BenchmarkPreprocessPhoto512(b *testing.B) {
	img := photo()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Preprocess(img, 512); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResizeRGB(b *testing.B) {
	src := randomPixels(rand.New(rand.NewPCG(1, 2)), 4000, 3000, 3).RGB()
	for _, n := range []int{224, 512} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				Resize(src, n, n)
			}
		})
	}
}
