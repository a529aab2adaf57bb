package imageprep

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"strings"

	"github.com/clipsurgery/clipsurgery/internal/safefile"

	// Decoders registered with package image; Decode accepts exactly these formats.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/tiff"
	_ "golang.org/x/image/webp"
)

// Limits bound what the package accepts from untrusted input. The package-level functions use
// DefaultLimits; the methods of a Limits value apply other bounds. A zero field means its default.
type Limits struct {
	// MaxPixels bounds width*height of a decoded image. The header is checked before any pixel
	// memory is allocated, so a tiny file claiming a huge image (a "decompression bomb") is
	// refused cheaply. Default DefaultMaxPixels.
	MaxPixels int64
	// MaxFileBytes bounds an image file, which is held in memory while it is decoded: DecodeFile
	// decides from the file's size before reading it, Decode reads at most this much plus one
	// byte. Default DefaultMaxFileBytes.
	MaxFileBytes int64
}

// Default limits: 100 megapixels cover any camera photo; 1 GiB any image file of that size.
// DefaultMaxPixels also bounds the Preprocess size and the arrays of PixelsFromArray.
const (
	DefaultMaxPixels    = 100_000_000
	DefaultMaxFileBytes = 1 << 30
)

// DefaultLimits are the bounds of Decode and DecodeFile.
func DefaultLimits() Limits {
	return Limits{MaxPixels: DefaultMaxPixels, MaxFileBytes: DefaultMaxFileBytes}
}

func (l Limits) withDefaults() Limits {
	if l.MaxPixels <= 0 {
		l.MaxPixels = DefaultMaxPixels
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	return l
}

// Errors Decode wraps, for errors.Is.
var (
	ErrEmpty         = errors.New("empty input")
	ErrUnknownFormat = errors.New("unknown image format (supported: JPEG, PNG, GIF, BMP, WebP, TIFF)")
	ErrTooLarge      = errors.New("image too large")
	ErrCorrupt       = errors.New("corrupt or truncated image")
	// ErrNotRegular: DecodeFile reads only regular files (not FIFOs, devices, folders).
	ErrNotRegular = safefile.ErrNotRegular
)

// Decode reads one image (JPEG, PNG, GIF first frame, BMP, WebP, TIFF) and returns it with the
// format name, within DefaultLimits (see Limits.Decode).
func Decode(r io.Reader) (image.Image, string, error) {
	return DefaultLimits().Decode(r)
}

// Decode reads one image within l. It reads the header first and refuses images above MaxPixels
// before decoding pixels. Damaged input gives an error naming the problem, never a panic.
func (l Limits) Decode(r io.Reader) (image.Image, string, error) {
	return l.withDefaults().decode(r)
}

// DecodeFile decodes the image file at path within DefaultLimits (see Limits.DecodeFile).
func DecodeFile(path string) (image.Image, error) {
	return DefaultLimits().DecodeFile(path)
}

// DecodeFile decodes the image file at path within l (see Decode). Only a regular file is read (a
// FIFO or device is refused without blocking), and one larger than MaxFileBytes is refused from
// its size before any of it is read. Errors name path once.
func (l Limits) DecodeFile(path string) (image.Image, error) {
	l = l.withDefaults()
	f, st, err := safefile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("imageprep: %w", err)
	}
	defer f.Close()
	if st.Size() > l.MaxFileBytes {
		return nil, fmt.Errorf("%s: imageprep: %w: file of %d bytes is larger than MaxFileBytes (%d)",
			path, ErrTooLarge, st.Size(), l.MaxFileBytes)
	}
	img, _, err := l.decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

func (l Limits) decode(r io.Reader) (img image.Image, format string, err error) {
	data, err := io.ReadAll(io.LimitReader(r, l.MaxFileBytes+1))
	if err != nil {
		return nil, "", fmt.Errorf("imageprep: reading image: %w", err)
	}
	if len(data) == 0 {
		return nil, "", fmt.Errorf("imageprep: %w", ErrEmpty)
	}
	if int64(len(data)) > l.MaxFileBytes {
		return nil, "", fmt.Errorf("imageprep: %w: file larger than MaxFileBytes (%d)", ErrTooLarge, l.MaxFileBytes)
	}
	// Decoders are written to return errors, but x/image ones have panicked on crafted input
	// before; a bad file must not take the program down.
	defer func() {
		if p := recover(); p != nil {
			img = nil
			err = fmt.Errorf("imageprep: %w: %s decoder failed: %v", ErrCorrupt, nameOr(format), p)
		}
	}()

	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, format, describe(format, "header", err)
	}
	if err := checkPixels(format, cfg.Width, cfg.Height, l.MaxPixels); err != nil {
		return nil, format, err
	}
	img, format, err = image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, format, describe(format, "data", err)
	}
	// The frame can differ from the header's canvas (GIF, WebP): check what was decoded too.
	b := img.Bounds()
	if err := checkPixels(format, b.Dx(), b.Dy(), l.MaxPixels); err != nil {
		return nil, format, err
	}
	return img, format, nil
}

func checkPixels(format string, w, h int, maxPixels int64) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("imageprep: %w: %s image of %dx%d pixels has no pixels", ErrCorrupt, nameOr(format), w, h)
	}
	if int64(w)*int64(h) > maxPixels {
		return fmt.Errorf("imageprep: %w: %s image is %dx%d = %d pixels, above MaxPixels (%d)",
			ErrTooLarge, nameOr(format), w, h, int64(w)*int64(h), maxPixels)
	}
	return nil
}

func describe(format, part string, err error) error {
	if errors.Is(err, image.ErrFormat) {
		return fmt.Errorf("imageprep: %w", ErrUnknownFormat)
	}
	what := "corrupt"
	// Go's PNG and JPEG decoders report data cut short inside the compressed stream as
	// "not enough pixel data" and "short Huffman data".
	if msg := err.Error(); errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		strings.Contains(msg, "not enough pixel data") || strings.Contains(msg, "short Huffman data") {
		what = "truncated"
	}
	return fmt.Errorf("imageprep: %w: %s %s %s: %v", ErrCorrupt, what, nameOr(format), part, err)
}

func nameOr(format string) string {
	if format == "" {
		return "image"
	}
	return format
}
