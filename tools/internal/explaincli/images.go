package explaincli

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/npy"
	"github.com/clipsurgery/clipsurgery/internal/safefile"
)

// imageExts are the files a folder contributes (what imageprep decodes, plus numpy arrays).
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".bmp": true,
	".webp": true, ".tif": true, ".tiff": true, ".npy": true}

// IsImageName says whether a file name has the extension of an image a folder contributes.
func IsImageName(name string) bool { return imageExts[strings.ToLower(filepath.Ext(name))] }

// ListImages returns path itself for a file, or the images of a folder (sorted, not recursive).
// Only regular files of a folder are listed (links to them included): a FIFO or device with an
// image extension would block or never end, so it is returned in skipped instead.
func ListImages(path string) (images []string, skipped []error, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("-image: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, nil, fmt.Errorf("-image: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || !IsImageName(e.Name()) {
			continue
		}
		p := filepath.Join(path, e.Name())
		if err := safefile.Check(p); err != nil {
			skipped = append(skipped, err)
			continue
		}
		images = append(images, p)
	}
	sort.Strings(images)
	if len(images) == 0 {
		return nil, skipped, fmt.Errorf("-image: no image files in folder %s", path)
	}
	return images, skipped, nil
}

// ReadImage decodes an image file, or reads a .npy uint8 array [H,W], [H,W,3] or [H,W,4] (what
// numpy's np.array(Image.open(f)) holds): the way to reproduce the reference's JPEG decoding
// exactly, since Go's decoder differs from libjpeg by a few levels.
func ReadImage(path string) (*imageprep.Pixels, error) {
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		// Bounded like an image file: at most MaxFileBytes, and PixelsFromArray applies MaxPixels.
		data, err := safefile.ReadFile(path, imageprep.DefaultMaxFileBytes)
		if err != nil {
			return nil, err
		}
		return DecodeImage(path, bytes.NewReader(data))
	}
	img, err := imageprep.DecodeFile(path) // its errors name path
	if err != nil {
		return nil, err
	}
	return pixels(path, img)
}

// DecodeImage decodes the content of the image file name (an image, or a .npy array as ReadImage
// reads), from r (at most imageprep.DefaultMaxFileBytes are read); errors name the file.
func DecodeImage(name string, r io.Reader) (*imageprep.Pixels, error) {
	data, err := io.ReadAll(io.LimitReader(r, imageprep.DefaultMaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(data)) > imageprep.DefaultMaxFileBytes {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", name, imageprep.ErrTooLarge, imageprep.DefaultMaxFileBytes)
	}
	if !strings.EqualFold(filepath.Ext(name), ".npy") {
		img, _, err := imageprep.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return pixels(name, img)
	}
	a, err := npy.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if a.U8 == nil || (len(a.Shape) != 2 && len(a.Shape) != 3) {
		return nil, fmt.Errorf("%s: want a uint8 array [H,W] or [H,W,C], got %s %v", name, a.DType, a.Shape)
	}
	c := 1
	if len(a.Shape) == 3 {
		c = a.Shape[2]
	}
	p, err := imageprep.PixelsFromArray(a.Shape[0], a.Shape[1], c, a.U8)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// pixels converts a decoded image, refusing an empty one.
func pixels(name string, img image.Image) (*imageprep.Pixels, error) {
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, errors.New(name + ": empty image")
	}
	return imageprep.ToPixels(img), nil
}
