package main

import (
	"errors"
	"fmt"
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

// listImages returns path itself for a file, or the images of a folder (sorted, not recursive).
// Only regular files of a folder are listed (links to them included): a FIFO or device with an
// image extension would block or never end, so it is returned in skipped instead.
func listImages(path string) (images []string, skipped []error, err error) {
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
		if e.IsDir() || !imageExts[strings.ToLower(filepath.Ext(e.Name()))] {
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

// readImage decodes an image file, or reads a .npy uint8 array [H,W], [H,W,3] or [H,W,4] (what
// numpy's np.array(Image.open(f)) holds): the way to reproduce the reference's JPEG decoding
// exactly, since Go's decoder differs from libjpeg by a few levels.
func readImage(path string) (*imageprep.Pixels, error) {
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		// Bounded like an image file: at most MaxFileBytes, and PixelsFromArray applies MaxPixels.
		data, err := safefile.ReadFile(path, imageprep.DefaultMaxFileBytes)
		if err != nil {
			return nil, err
		}
		a, err := npy.Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if a.U8 == nil || (len(a.Shape) != 2 && len(a.Shape) != 3) {
			return nil, fmt.Errorf("%s: want a uint8 array [H,W] or [H,W,C], got %s %v", path, a.DType, a.Shape)
		}
		c := 1
		if len(a.Shape) == 3 {
			c = a.Shape[2]
		}
		p, err := imageprep.PixelsFromArray(a.Shape[0], a.Shape[1], c, a.U8)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return p, nil
	}
	img, err := imageprep.DecodeFile(path) // its errors name path
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, errors.New(path + ": empty image")
	}
	return imageprep.ToPixels(img), nil
}
