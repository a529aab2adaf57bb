package imageprep

import (
	"image"
	"image/color"
)

// source yields the rows of an image in a Pillow mode without first materialising a converted
// copy: Preprocess resamples straight from the decoder's buffer, so a large photo is held once.
type source struct {
	w, h, c int
	// row returns row y as w*c bytes: either a slice of the image's own memory (read only) or
	// buf (len >= w*c) filled in. It must be safe to call from several goroutines.
	row func(y int, buf []uint8) []uint8
}

func pixelsSource(p *Pixels) source {
	stride := p.W * p.C
	return source{w: p.W, h: p.H, c: p.C, row: func(y int, _ []uint8) []uint8 {
		return p.Pix[y*stride : (y+1)*stride]
	}}
}

// sourceOf picks the mode and a row reader for img: fast paths for the types Go's decoders
// return, and a generic At()-based path for everything else.
func sourceOf(img image.Image) source {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	switch m := img.(type) {
	case *image.Gray:
		return source{w, h, 1, func(y int, _ []uint8) []uint8 {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			return m.Pix[i : i+w]
		}}
	case *image.Gray16:
		return source{w, h, 1, func(y int, buf []uint8) []uint8 {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := range w {
				buf[x] = row[2*x] // big-endian: the high byte
			}
			return buf[:w]
		}}
	case *image.NRGBA:
		if s, ok := opaqueRGB(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), w, h, 1); ok {
			return s
		}
		return source{w, h, 4, func(y int, _ []uint8) []uint8 {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			return m.Pix[i : i+4*w]
		}}
	case *image.RGBA:
		if s, ok := opaqueRGB(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), w, h, 1); ok {
			return s
		}
		return source{w, h, 4, func(y int, buf []uint8) []uint8 {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := range w {
				unpremultiplyGo(buf[4*x:4*x+4], row[4*x:4*x+4])
			}
			return buf[:4*w]
		}}
	case *image.NRGBA64:
		// 16-bit straight alpha: high bytes, the 8-bit alpha decides opacity as it would in Pillow.
		if s, ok := opaqueRGB(m.Pix, m.Stride, m.PixOffset(b.Min.X, b.Min.Y), w, h, 2); ok {
			return s
		}
		return source{w, h, 4, func(y int, buf []uint8) []uint8 {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for i := range 4 * w {
				buf[i] = row[2*i]
			}
			return buf[:4*w]
		}}
	case *image.YCbCr:
		return source{w, h, 3, func(y int, buf []uint8) []uint8 {
			for x := range w {
				yi, ci := m.YOffset(b.Min.X+x, b.Min.Y+y), m.COffset(b.Min.X+x, b.Min.Y+y)
				buf[3*x], buf[3*x+1], buf[3*x+2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			}
			return buf[:3*w]
		}}
	case *image.NYCbCrA:
		c := 3
		if !opaqueAlpha(m.A, m.AStride, m.AOffset(b.Min.X, b.Min.Y), w, h) {
			c = 4
		}
		return source{w, h, c, func(y int, buf []uint8) []uint8 {
			for x := range w {
				yi, ci := m.YOffset(b.Min.X+x, b.Min.Y+y), m.COffset(b.Min.X+x, b.Min.Y+y)
				buf[c*x], buf[c*x+1], buf[c*x+2] = color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				if c == 4 {
					buf[4*x+3] = m.A[m.AOffset(b.Min.X+x, b.Min.Y+y)]
				}
			}
			return buf[:c*w]
		}}
	case *image.CMYK:
		return source{w, h, 3, func(y int, buf []uint8) []uint8 {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			for x := range w {
				buf[3*x], buf[3*x+1], buf[3*x+2] = color.CMYKToRGB(row[4*x], row[4*x+1], row[4*x+2], row[4*x+3])
			}
			return buf[:3*w]
		}}
	case *image.Paletted:
		// Expand the palette once (straight 8-bit colour); indices past its end (At would panic)
		// and nil entries are taken as opaque black.
		var pal [256][4]uint8
		for i := range pal {
			if i < len(m.Palette) && m.Palette[i] != nil {
				pal[i] = nrgba8(m.Palette[i])
			} else {
				pal[i] = [4]uint8{0, 0, 0, 0xff}
			}
		}
		c := 3
		for y := range h {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			for _, v := range m.Pix[i : i+w] {
				if pal[v][3] != 0xff {
					c = 4
				}
			}
		}
		return source{w, h, c, func(y int, buf []uint8) []uint8 {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			for x, v := range m.Pix[i : i+w] {
				copy(buf[c*x:c*x+c], pal[v][:c])
			}
			return buf[:c*w]
		}}
	}
	// Anything else (RGBA64, Alpha, Uniform, custom types): through NRGBA64, high bytes.
	c := 3
	for y := b.Min.Y; y < b.Max.Y && c == 3; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if nrgba8(img.At(x, y))[3] != 0xff {
				c = 4
				break
			}
		}
	}
	return source{w, h, c, func(y int, buf []uint8) []uint8 {
		for x := range w {
			v := nrgba8(img.At(b.Min.X+x, b.Min.Y+y))
			copy(buf[c*x:c*x+c], v[:c])
		}
		return buf[:c*w]
	}}
}

// opaqueRGB is the RGB source (alpha dropped) of 4-sample pixels of bytesPerSample bytes each,
// starting at pix[off] with rows stride apart, when every alpha is opaque; ok is false otherwise.
func opaqueRGB(pix []uint8, stride, off, w, h, bytesPerSample int) (s source, ok bool) {
	if !opaque4(pix, stride, off, w, h, bytesPerSample) {
		return source{}, false
	}
	return source{w, h, 3, func(y int, buf []uint8) []uint8 {
		return drop4(buf, pix[off+y*stride:], w, bytesPerSample)
	}}, true
}

// nrgba8 is the straight 8-bit colour of c (16-bit values >> 8).
func nrgba8(c color.Color) [4]uint8 {
	if n, ok := c.(color.NRGBA); ok {
		return [4]uint8{n.R, n.G, n.B, n.A}
	}
	if n, ok := c.(color.RGBA); ok {
		var out [4]uint8
		unpremultiplyGo(out[:], []uint8{n.R, n.G, n.B, n.A})
		return out
	}
	n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
	return [4]uint8{uint8(n.R >> 8), uint8(n.G >> 8), uint8(n.B >> 8), uint8(n.A >> 8)}
}

// opaque4 reports whether every alpha (the high byte of the 4th sample) of a 4-sample image is 255.
func opaque4(pix []uint8, stride, off, w, h, bytesPerSample int) bool {
	for y := range h {
		row := pix[off+y*stride:]
		for x := range w {
			if row[(4*x+3)*bytesPerSample] != 0xff {
				return false
			}
		}
	}
	return true
}

func opaqueAlpha(a []uint8, stride, off, w, h int) bool {
	for y := range h {
		for _, v := range a[off+y*stride : off+y*stride+w] {
			if v != 0xff {
				return false
			}
		}
	}
	return true
}

// drop4 writes the colour (high bytes) of w 4-sample pixels into buf as RGB.
func drop4(buf, row []uint8, w, bytesPerSample int) []uint8 {
	for x := range w {
		for ch := range 3 {
			buf[3*x+ch] = row[(4*x+ch)*bytesPerSample]
		}
	}
	return buf[:3*w]
}

// unpremultiplyGo turns one premultiplied 8-bit RGBA pixel into straight colour exactly as
// color.NRGBAModel does (in 16 bits, truncating), without its per-pixel interface allocation.
func unpremultiplyGo(dst, src []uint8) {
	a := uint32(src[3])
	switch a {
	case 0xff:
		copy(dst[:4], src[:4])
	case 0:
		dst[0], dst[1], dst[2], dst[3] = 0, 0, 0, 0
	default:
		a16 := a * 0x101
		for i := range 3 {
			dst[i] = uint8((uint32(src[i]) * 0x101 * 0xffff / a16) >> 8)
		}
		dst[3] = uint8(a)
	}
}
