package imageprep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
)

// testImage is a small opaque gradient, so lossy encoders keep something recognisable.
func testImage(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / max(w-1, 1)), uint8(y * 255 / max(h-1, 1)), 128, 255})
		}
	}
	return m
}

func encodePNG(t testing.TB, m image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, m image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngHeaderOnly is a PNG signature plus a valid IHDR claiming w×h RGB pixels, and nothing else:
// the shape of a decompression bomb's header.
func pngHeaderOnly(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit truecolour
	chunk := append([]byte("IHDR"), ihdr...)
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

// webpLossless builds a VP8L file of one colour: five "simple" single-symbol prefix codes make
// every pixel cost zero bits, so no real encoder is needed (Go has no WebP encoder).
func webpLossless(w, h int, c color.NRGBA) []byte {
	var bits []bool
	put := func(v uint32, n int) {
		for i := range n {
			bits = append(bits, v>>i&1 == 1)
		}
	}
	put(uint32(w-1), 14)
	put(uint32(h-1), 14)
	put(1, 1) // alpha used
	put(0, 3) // version
	put(0, 1) // no transform
	put(0, 1) // no colour cache
	put(0, 1) // no meta prefix codes
	for _, sym := range []uint8{c.G, c.R, c.B, c.A, 0} {
		put(1, 1) // simple code
		put(0, 1) // one symbol
		put(1, 1) // 8-bit symbol
		put(uint32(sym), 8)
	}
	data := []byte{0x2f}
	for i := 0; i < len(bits); i += 8 {
		var v byte
		for j := 0; j < 8 && i+j < len(bits); j++ {
			if bits[i+j] {
				v |= 1 << j
			}
		}
		data = append(data, v)
	}
	if len(data)%2 == 1 {
		data = append(data, 0)
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(4+8+len(data)))
	b.WriteString("WEBPVP8L")
	binary.Write(&b, binary.LittleEndian, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

func TestDecodeFormats(t *testing.T) {
	src := testImage(37, 21)
	var gifBuf, bmpBuf, tiffBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, src, nil); err != nil {
		t.Fatal(err)
	}
	if err := bmp.Encode(&bmpBuf, src); err != nil {
		t.Fatal(err)
	}
	if err := tiff.Encode(&tiffBuf, src, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		format string
		data   []byte
		lossy  bool
	}{
		{"png", encodePNG(t, src), false},
		{"jpeg", encodeJPEG(t, src), true},
		{"gif", gifBuf.Bytes(), true},
		{"bmp", bmpBuf.Bytes(), false},
		{"tiff", tiffBuf.Bytes(), false},
	} {
		img, format, err := Decode(bytes.NewReader(tc.data))
		if err != nil {
			t.Errorf("%s: %v", tc.format, err)
			continue
		}
		if format != tc.format || img.Bounds().Dx() != 37 || img.Bounds().Dy() != 21 {
			t.Errorf("%s: got format %q size %v", tc.format, format, img.Bounds())
			continue
		}
		got, want := ToRGB(img), ToRGB(src)
		if !tc.lossy && !bytes.Equal(got.Pix, want.Pix) {
			t.Errorf("%s: lossless round trip changed the pixels", tc.format)
		}
		if _, err := Preprocess(img, 32); err != nil {
			t.Errorf("%s: Preprocess: %v", tc.format, err)
		}
	}

	img, format, err := Decode(bytes.NewReader(webpLossless(5, 3, color.NRGBA{10, 20, 30, 128})))
	if err != nil {
		t.Fatalf("webp: %v", err)
	}
	p := ToPixels(img)
	if format != "webp" || p.W != 5 || p.H != 3 || p.C != 4 || !bytes.Equal(p.Pix[:4], []byte{10, 20, 30, 128}) {
		t.Errorf("webp: format %q, %dx%dx%d, first pixel %v", format, p.W, p.H, p.C, p.Pix[:4])
	}
}

// TestDecodeErrors: each kind of bad input yields a descriptive error (and no panic).
func TestDecodeErrors(t *testing.T) {
	pngData := encodePNG(t, testImage(64, 64))
	jpegData := encodeJPEG(t, testImage(256, 256))
	rnd := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range rnd {
		rnd[i] = byte(r.IntN(256))
	}
	for _, tc := range []struct {
		name string
		data []byte
		is   error
		msg  string
	}{
		{"empty", nil, ErrEmpty, "empty input"},
		{"truncated png", pngData[:len(pngData)/2], ErrCorrupt, "truncated png"},
		{"truncated png header", pngData[:20], ErrCorrupt, "png header"},
		{"truncated jpeg", jpegData[:len(jpegData)/2], ErrCorrupt, "truncated jpeg data"},
		{"truncated jpeg header", jpegData[:300], ErrCorrupt, "truncated jpeg header"},
		{"random bytes", rnd, ErrUnknownFormat, "unknown image format"},
		{"huge png header", pngHeaderOnly(20000, 20000), ErrTooLarge, "20000x20000"},
		{"zero-size png", pngHeaderOnly(0, 10), ErrCorrupt, "png"},
		{"unknown format", []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< >>\nendobj\n"), ErrUnknownFormat, "unknown image format"},
		{"huge webp", webpLossless(16384, 16384, color.NRGBA{}), ErrTooLarge, "16384x16384"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, _, err := Decode(bytes.NewReader(tc.data))
			if err == nil {
				t.Fatalf("no error (image %v)", img.Bounds())
			}
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q: want errors.Is %v and text containing %q", err, tc.is, tc.msg)
			}
			t.Log(err)
		})
	}
}

func TestDecodeFileMissing(t *testing.T) {
	if _, err := DecodeFile("testdata/does-not-exist.png"); err == nil || !strings.Contains(err.Error(), "does-not-exist") {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzDecodePreprocess: arbitrary bytes must give an image or an error, never a panic, hang or
// huge allocation. The pixel cap is lowered so a small input cannot legally expand to 100 MP.
func FuzzDecodePreprocess(f *testing.F) {
	f.Add(encodePNG(f, testImage(7, 5)))
	f.Add(encodeJPEG(f, testImage(9, 4)))
	f.Add(webpLossless(3, 2, color.NRGBA{1, 2, 3, 4}))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, _, err := Limits{MaxPixels: 1 << 22}.Decode(bytes.NewReader(data))
		if err != nil {
			if img != nil {
				t.Fatalf("image and error %v", err)
			}
			return
		}
		out, err := Preprocess(img, 32)
		if err != nil {
			t.Fatalf("decoded %T %v but Preprocess failed: %v", img, img.Bounds(), err)
		}
		if len(out) != 3*32*32 {
			t.Fatalf("Preprocess gave %d values", len(out))
		}
	})
}
