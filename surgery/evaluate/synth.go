package evaluate

import (
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// SyntheticClasses returns (a fresh copy of) the classes of WriteSynthetic's datasets (class 0 is
// the background).
func SyntheticClasses() []string { return slices.Clone(syntheticClasses) }

var syntheticClasses = []string{"background", "red circle", "green square", "blue triangle"}

// WriteSynthetic writes a small dataset of n images with known masks into dir, in the given
// layout: coloured shapes (SyntheticClasses()) on a textured grey background, image sizes varying
// between images. The VOC layout gets JPEG images, palette masks with a 1-pixel 255 border around
// each shape (as VOC's object boundaries), the "val" split and a classes.txt; the generic layout
// PNG images, grey index masks and classes.txt. The content depends only on n and the layout. For
// tests and for the evaluation notebook when no real dataset is given.
func WriteSynthetic(dir string, layout Layout, n int) error {
	if n <= 0 {
		return fmt.Errorf("evaluate: WriteSynthetic: %d images", n)
	}
	var imgDir, maskDir string
	switch layout {
	case LayoutVOC:
		imgDir, maskDir = filepath.Join(dir, "JPEGImages"), filepath.Join(dir, "SegmentationClass")
	case LayoutGeneric:
		imgDir, maskDir = filepath.Join(dir, "images"), filepath.Join(dir, "masks")
	default:
		return fmt.Errorf("evaluate: WriteSynthetic: unknown layout %q", layout)
	}
	for _, d := range []string{imgDir, maskDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	var ids []string
	for i := range n {
		id := fmt.Sprintf("synth_%03d", i)
		ids = append(ids, id)
		img, lab := syntheticImage(i, layout == LayoutVOC)
		if layout == LayoutVOC {
			if err := writeImage(filepath.Join(imgDir, id+".jpg"), img, true); err != nil {
				return err
			}
			pal := &image.Paletted{Pix: lab.Pix, Stride: lab.W, Rect: image.Rect(0, 0, lab.W, lab.H), Palette: VOCPalette()}
			if err := writeImage(filepath.Join(maskDir, id+".png"), pal, false); err != nil {
				return err
			}
		} else {
			if err := writeImage(filepath.Join(imgDir, id+".png"), img, false); err != nil {
				return err
			}
			gray := &image.Gray{Pix: lab.Pix, Stride: lab.W, Rect: image.Rect(0, 0, lab.W, lab.H)}
			if err := writeImage(filepath.Join(maskDir, id+".png"), gray, false); err != nil {
				return err
			}
		}
	}
	if layout == LayoutVOC {
		sets := filepath.Join(dir, "ImageSets", "Segmentation")
		if err := os.MkdirAll(sets, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(sets, "val.txt"), []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "classes.txt"), []byte(strings.Join(syntheticClasses, "\n")+"\n"), 0o644)
}

// syntheticImage draws image i: one or two shapes, the later drawn on top.
func syntheticImage(i int, border bool) (*image.RGBA, *Label) {
	w, h := 96+24*(i%3), 80+16*(i%4)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	lab := &Label{W: w, H: h, Pix: make([]uint8, w*h)}
	for y := range h {
		for x := range w {
			v := uint8(110 + (x*7+y*13+i*31)%40) // texture, not flat
			img.SetRGBA(x, y, color.RGBA{v, v, v - 10, 255})
		}
	}
	colours := []color.RGBA{{}, {220, 30, 30, 255}, {30, 200, 40, 255}, {30, 50, 220, 255}}
	shapes := 1 + i%2
	for s := range shapes {
		c := 1 + (i+s)%3
		cx, cy := w/4+(s*w/2)+(i%5), h/2+(i%7)-3
		r := min(w, h)/5 + i%4
		for y := range h {
			for x := range w {
				if inShape(c, x-cx, y-cy, r) {
					img.SetRGBA(x, y, colours[c])
					lab.Pix[y*w+x] = uint8(c)
				} else if border && inShape(c, x-cx, y-cy, r+1) {
					lab.Pix[y*w+x] = IgnoreIndex
				}
			}
		}
	}
	return img, lab
}

// inShape says whether the offset (dx, dy) from a shape's centre is inside a shape of class c and
// size r.
func inShape(c, dx, dy, r int) bool {
	switch c {
	case 1: // circle
		return dx*dx+dy*dy <= r*r
	case 2: // square
		return dx >= -r && dx <= r && dy >= -r && dy <= r
	default: // triangle, apex up
		return dy >= -r && dy <= r && 2*abs(dx) <= dy+r
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// VOCPalette is Pascal VOC's colour map (the class index's bits spread over R, G, B, high bits
// first), 256 entries: the palette of VOC's SegmentationClass PNGs.
func VOCPalette() color.Palette {
	p := make(color.Palette, 256)
	for i := range p {
		var r, g, b uint8
		c := i
		for j := 0; j < 8; j++ {
			r |= uint8((c>>0)&1) << (7 - j)
			g |= uint8((c>>1)&1) << (7 - j)
			b |= uint8((c>>2)&1) << (7 - j)
			c >>= 3
		}
		p[i] = color.RGBA{r, g, b, 255}
	}
	return p
}

func writeImage(path string, img image.Image, asJPEG bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if asJPEG {
		err = jpeg.Encode(f, img, &jpeg.Options{Quality: 95})
	} else {
		err = png.Encode(f, img)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
