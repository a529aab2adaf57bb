package imageprep

import "fmt"

// bilinearFilter is Pillow's triangle filter (support 1).
var bilinearFilter = filter{fn: func(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}, support: 1}

// ResizeBilinear is Pillow 9.4's Image.resize((w, h), BILINEAR) of an RGB image, bit for bit:
// the triangle filter widened by the scale when downscaling (antialiased), 22-bit fixed-point
// weights, horizontal pass first into a uint8 intermediate. It is what segment-anything's
// ResizeLongestSide.apply_image does through torchvision's resize of a PIL image. It panics on
// non-positive sizes or a Pix of the wrong length (programming errors), like Resize.
func ResizeBilinear(src *RGB, w, h int) *RGB {
	checkSize(w, h)
	if len(src.Pix) != src.W*src.H*3 || src.W <= 0 || src.H <= 0 {
		panic(fmt.Sprintf("imageprep: ResizeBilinear of a %dx%d RGB image with %d bytes", src.W, src.H, len(src.Pix)))
	}
	if w == src.W && h == src.H {
		return &RGB{W: w, H: h, Pix: append([]uint8(nil), src.Pix...)}
	}
	p := resampleFilter(pixelsSource(&Pixels{W: src.W, H: src.H, C: 3, Pix: src.Pix}), w, h, bilinearFilter)
	return &RGB{W: p.W, H: p.H, Pix: p.Pix}
}
