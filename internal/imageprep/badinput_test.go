package imageprep_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/color/palette"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
)

// Bad-input matrix of the image path, through the public API only. Every file is generated here:
// small valid images, their truncations and corruptions, and headers that claim a 20000×20000
// image (400 MP, four times MaxPixels) in each supported container.

const bombSide = 20000

func le16(v int) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(v)) }
func le32(v int) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(v)) }

func pngChunk(b *bytes.Buffer, typ string, data []byte) {
	binary.Write(b, binary.BigEndian, uint32(len(data)))
	c := append([]byte(typ), data...)
	b.Write(c)
	binary.Write(b, binary.BigEndian, crc32.ChecksumIEEE(c))
}

// pngBomb is a PNG whose IHDR claims w×h truecolour pixels, with one tiny IDAT and IEND.
func pngBomb(w, h int) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(w)), uint32(h))
	pngChunk(&b, "IHDR", append(ihdr, 8, 2, 0, 0, 0))
	pngChunk(&b, "IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	pngChunk(&b, "IEND", nil)
	return b.Bytes()
}

// jpegBomb is SOI + APP0 + a baseline SOF0 claiming w×h YCbCr 4:2:0 + EOI.
func jpegBomb(w, h int) []byte {
	// APP0 "JFIF" lets the decoder answer DecodeConfig at SOF without looking further.
	b := []byte{0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	b = append(b, 0xff, 0xc0, 0, 17, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 3,
		1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1)
	return append(b, 0xff, 0xd9)
}

// gifBomb is a GIF89a logical screen of w×h with a 2-colour table and no frame.
func gifBomb(w, h int) []byte {
	b := append([]byte("GIF89a"), le16(w)...)
	b = append(b, le16(h)...)
	b = append(b, 0x80, 0, 0, 0, 0, 0, 255, 255, 255)
	return append(b, 0x3b)
}

// bmpBomb is a BITMAPFILEHEADER + BITMAPINFOHEADER claiming w×h 24-bit pixels, with no pixels.
func bmpBomb(w, h int) []byte {
	b := append([]byte("BM"), le32(54)...)
	b = append(b, 0, 0, 0, 0)
	b = append(b, le32(54)...)
	b = append(b, le32(40)...)
	b = append(b, le32(w)...)
	b = append(b, le32(h)...)
	b = append(b, le16(1)...)
	b = append(b, le16(24)...)
	return append(b, make([]byte, 24)...)
}

// webpBomb is a RIFF/WEBP file with a VP8X chunk whose canvas is w×h.
func webpBomb(w, h int) []byte {
	vp8x := []byte{0, 0, 0, 0, byte(w - 1), byte((w - 1) >> 8), byte((w - 1) >> 16), byte(h - 1), byte((h - 1) >> 8), byte((h - 1) >> 16)}
	body := append([]byte("WEBPVP8X"), le32(len(vp8x))...)
	body = append(body, vp8x...)
	return append(append([]byte("RIFF"), le32(len(body))...), body...)
}

// tiffBomb is a little-endian TIFF with one IFD describing a w×h 8-bit gray image in one strip.
func tiffBomb(w, h int) []byte {
	type entry struct{ tag, typ, val int }
	entries := []entry{{256, 4, w}, {257, 4, h}, {258, 3, 8}, {259, 3, 1}, {262, 3, 1}, {273, 4, 8}, {277, 3, 1},
		{278, 4, h}, {279, 4, w * h}}
	b := append([]byte("II*\x00"), le32(8)...)
	b = append(b, le16(len(entries))...)
	for _, e := range entries {
		b = append(b, le16(e.tag)...)
		b = append(b, le16(e.typ)...)
		b = append(b, le32(1)...)
		if e.typ == 3 {
			b = append(b, le16(e.val)...)
			b = append(b, 0, 0)
		} else {
			b = append(b, le32(e.val)...)
		}
	}
	return append(b, le32(0)...)
}

func smallPNG(t testing.TB) []byte {
	m := image.NewNRGBA(image.Rect(0, 0, 40, 30))
	for i := range m.Pix {
		m.Pix[i] = uint8(i * 31)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// allocated returns the bytes allocated while f runs (all goroutines; the test runs alone).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestBadImagesDecode(t *testing.T) {
	good := smallPNG(t)
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)/2] ^= 0xff // inside IDAT: the chunk CRC no longer matches
	cases := []struct {
		name string
		data []byte
		is   error
		msg  string
	}{
		{"empty", nil, imageprep.ErrEmpty, "empty"},
		{"text", []byte("this is not an image\n"), imageprep.ErrUnknownFormat, "unknown image format"},
		{"png signature only", good[:8], imageprep.ErrCorrupt, "png header"},
		{"png truncated", good[:len(good)/2], imageprep.ErrCorrupt, "truncated png"},
		{"png corrupt", corrupt, imageprep.ErrCorrupt, "png data"},
		{"jpeg header only", jpegBomb(64, 64), imageprep.ErrCorrupt, "jpeg data"},
		{"png zero width", pngBomb(0, 10), imageprep.ErrCorrupt, "png"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img, _, err := imageprep.Decode(bytes.NewReader(tc.data))
			if err == nil || img != nil {
				t.Fatalf("got image %v, error %v", img != nil, err)
			}
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q: want errors.Is %v and text %q", err, tc.is, tc.msg)
			}
		})
	}
}

// TestBadImagesBomb: a header claiming 20000×20000 pixels must be refused as ErrTooLarge from the
// header alone, allocating a tiny fraction of the 1.2 GB its RGB pixels would take.
func TestBadImagesBomb(t *testing.T) {
	for _, tc := range []struct {
		format string
		data   []byte
	}{
		{"png", pngBomb(bombSide, bombSide)},
		{"jpeg", jpegBomb(bombSide, bombSide)},
		{"gif", gifBomb(bombSide, bombSide)},
		{"bmp", bmpBomb(bombSide, bombSide)},
		{"webp", webpBomb(bombSide, bombSide)},
		{"tiff", tiffBomb(bombSide, bombSide)},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var err error
			var format string
			n := allocated(func() { _, format, err = imageprep.Decode(bytes.NewReader(tc.data)) })
			if !errors.Is(err, imageprep.ErrTooLarge) || !strings.Contains(err.Error(), "20000x20000") {
				t.Fatalf("%s bomb: %v", tc.format, err)
			}
			if format != tc.format {
				t.Errorf("format %q, want %q", format, tc.format)
			}
			if n > 1<<20 {
				t.Errorf("%s bomb: %d bytes allocated before refusing", tc.format, n)
			}
			t.Logf("%s: %d bytes allocated; %v", tc.format, n, err)
		})
	}
}

func TestBadImagesFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := imageprep.DecodeFile(filepath.Join(dir, "missing.png")); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.png") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := imageprep.DecodeFile(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory: %v", err)
	}
	p := filepath.Join(dir, "cut.png")
	good := smallPNG(t)
	if err := os.WriteFile(p, good[:100], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := imageprep.DecodeFile(p); !errors.Is(err, imageprep.ErrCorrupt) || !strings.Contains(err.Error(), "cut.png") {
		t.Errorf("truncated file: %v", err)
	}
	small := imageprep.Limits{MaxFileBytes: int64(len(good)) - 1}
	if _, _, err := small.Decode(bytes.NewReader(good)); !errors.Is(err, imageprep.ErrTooLarge) || !strings.Contains(err.Error(), "MaxFileBytes") {
		t.Errorf("file over MaxFileBytes: %v", err)
	}
}

// TestOddImages: unusual but valid images decode and preprocess to 3×n×n finite values.
func TestOddImages(t *testing.T) {
	pal := image.NewPaletted(image.Rect(0, 0, 5, 3), append(palette.Plan9[:8:8], color.NRGBA{1, 2, 3, 0}))
	for i := range pal.Pix {
		pal.Pix[i] = uint8(i % 9)
	}
	g16 := image.NewGray16(image.Rect(0, 0, 1, 1))
	g16.SetGray16(0, 0, color.Gray16{Y: 0xabcd})
	strip := image.NewNRGBA(image.Rect(0, 0, 3000, 1))
	offset := image.NewRGBA(image.Rect(-7, 11, 9, 20)) // bounds not at the origin
	for i := range offset.Pix {
		offset.Pix[i] = uint8(i)
	}
	for name, img := range map[string]image.Image{"paletted+transparent": pal, "gray16 1x1": g16, "3000x1 transparent strip": strip, "offset bounds": offset} {
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		for _, src := range []image.Image{img, mustDecode(t, b.Bytes())} {
			out, err := imageprep.Preprocess(src, 32)
			if err != nil || len(out) != 3*32*32 {
				t.Fatalf("%s: %d values, %v", name, len(out), err)
			}
			for _, v := range out {
				if v != v || v < -3 || v > 3 {
					t.Fatalf("%s: value %v", name, v)
				}
			}
		}
	}
}

func mustDecode(t *testing.T, data []byte) image.Image {
	img, _, err := imageprep.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestBadPreprocessArgs(t *testing.T) {
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	for _, tc := range []struct {
		name string
		run  func() error
		msg  string
	}{
		{"size 0", func() error { _, err := imageprep.Preprocess(img, 0); return err }, "must be positive"},
		{"size -224", func() error { _, err := imageprep.Preprocess(img, -224); return err }, "must be positive"},
		{"size over MaxPixels", func() error { _, err := imageprep.Preprocess(img, 20000); return err }, "MaxPixels"},
		{"size whose square overflows", func() error { _, err := imageprep.Preprocess(img, 1<<32); return err }, "MaxPixels"},
		{"size whose square overflows, pixels", func() error {
			_, err := imageprep.PreprocessPixels(&imageprep.Pixels{W: 1, H: 1, C: 3, Pix: make([]byte, 3)}, 1<<32)
			return err
		}, "MaxPixels"},
		{"nil image", func() error { _, err := imageprep.Preprocess(nil, 32); return err }, "nil image"},
		{"empty image", func() error { _, err := imageprep.Preprocess(image.NewGray(image.Rect(0, 0, 0, 5)), 32); return err }, "empty"},
		{"nil pixels", func() error { _, err := imageprep.PreprocessPixels(nil, 32); return err }, "nil"},
		{"array short", func() error { _, err := imageprep.PixelsFromArray(2, 2, 3, make([]byte, 11)); return err }, "needs 12 bytes, got 11"},
		{"array 2 channels", func() error { _, err := imageprep.FromArray(2, 2, 2, make([]byte, 8)); return err }, "2 channels"},
		{"array no pixels", func() error { _, err := imageprep.FromArray(0, 2, 3, nil); return err }, "no pixels"},
		{"pixels inconsistent", func() error {
			_, err := imageprep.PreprocessPixels(&imageprep.Pixels{W: 3, H: 3, C: 3, Pix: make([]byte, 5)}, 32)
			return err
		}, "needs 27 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := noPanic(t, tc.run)
			if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "imageprep: ") {
				t.Errorf("error %v, want one naming %q", err, tc.msg)
			}
		})
	}
}

func noPanic(t *testing.T, f func() error) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("panic: %v", p)
		}
	}()
	return f()
}
