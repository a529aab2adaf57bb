package nbutil

import (
	"image"
)

// Enlarge scales img up by an integer factor with nearest-neighbour pixels: each pixel becomes a
// factor×factor block, so a 14×14 token grid stays a grid of sharp cells instead of the blur a
// browser's smooth scaling makes of it.
func Enlarge(img image.Image, factor int) *image.RGBA {
	src := RGBA(img)
	if factor <= 1 {
		return src
	}
	w, h := src.Rect.Dx(), src.Rect.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w*factor, h*factor))
	for y := 0; y < h; y++ {
		row := out.Pix[y*factor*out.Stride : y*factor*out.Stride+w*factor*4]
		for x := 0; x < w; x++ {
			px := src.Pix[y*src.Stride+4*x : y*src.Stride+4*x+4]
			for k := 0; k < factor; k++ {
				copy(row[(x*factor+k)*4:], px)
			}
		}
		for k := 1; k < factor; k++ {
			copy(out.Pix[(y*factor+k)*out.Stride:], row)
		}
	}
	return out
}

// enlargeFactor is how much a picture w pixels wide is enlarged to fill a panel maxWidth wide: only
// pictures at most half as wide are enlarged (an integer factor keeps the cells equal).
func enlargeFactor(w, maxWidth int) int {
	if w <= 0 || 2*w > maxWidth {
		return 1
	}
	return maxWidth / w
}
