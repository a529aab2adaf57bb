package imageprep

// Pillow resizes RGBA images in premultiplied alpha ("RGBa") and converts back afterwards, so
// that transparent pixels do not bleed their hidden colour into visible ones. These two
// functions reproduce its conversions (libImaging/Convert.c, rgbA2rgba and rgba2rgbA) so the
// round trip rounds exactly as Pillow 9.4 does.

// premultiplyRow converts straight RGBA pixels in src to RGBa in dst (dst may be src):
// c' = round(c*a/255) computed as Pillow's MULDIV255, ((t>>8)+t)>>8 with t = c*a+128.
func premultiplyRow(dst, src []uint8) {
	for i := 0; i+3 < len(src); i += 4 {
		a := uint32(src[i+3])
		for ch := range 3 {
			t := uint32(src[i+ch])*a + 128
			dst[i+ch] = uint8(((t >> 8) + t) >> 8)
		}
		dst[i+3] = uint8(a)
	}
}

// unpremultiplyRow converts RGBa pixels back to straight RGBA in place: c = min(255*c'/a, 255)
// with integer (truncating) division; alpha 0 and 255 leave the colour as it is. Resampling can
// ring so that c' > a, hence the clip.
func unpremultiplyRow(pix []uint8) {
	for i := 0; i+3 < len(pix); i += 4 {
		a := uint32(pix[i+3])
		if a == 0 || a == 255 {
			continue
		}
		for ch := range 3 {
			pix[i+ch] = uint8(min(255*uint32(pix[i+ch])/a, 255))
		}
	}
}
