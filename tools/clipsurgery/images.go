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
)

// imageExts are the files a folder contributes (what imageprep decodes, plus numpy arrays).
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".bmp": true,
	".webp": true, ".tif": true, ".tiff": true, ".npy": true}

// listImages returns path itself for a file, or the images of a folder (sorted, not recursive).
func listImages(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("-image: %w", err)
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("-image: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && imageExts[strings.ToLower(filepath.Ext(e.Name()))] {
			out = append(out, filepath.Join(path, e.Name()))
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("-image: no image files in folder %s", path)
	}
	return out, nil
}

// readImage decodes an image file, or reads a .npy uint8 array [H,W], [H,W,3] or [H,W,4] (what
// numpy's np.array(Image.open(f)) holds): the way to reproduce the reference's JPEG decoding
// exactly, since Go's decoder differs from libjpeg by a few levels.
func readImage(path string) (*imageprep.Pixels, error) {
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		a, err := npy.ReadFile(path)
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
	img, err := imageprep.DecodeFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, errors.New(path + ": empty image")
	}
	return imageprep.ToPixels(img), nil
}
