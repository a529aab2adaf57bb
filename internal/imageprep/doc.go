// Package imageprep decodes images and turns them into CLIP input tensors with the same bits as
// the CLIP Surgery reference: Pillow 9.4 Image.resize((n, n), BICUBIC) -> ToTensor -> Normalize.
//
// The resampler re-implements Pillow's fixed-point antialiased bicubic (separable, horizontal
// pass first into a uint8 intermediate, 22-bit coefficients, Keys cubic a = -0.5, support scaled
// by the downscale factor) so that every resized byte and every float of the tensor equals the
// reference, not merely comes close. Normalize performs torch's two float32 operations in order.
//
// # Colour modes
//
// Pillow resizes an image in the mode it was opened in and only then converts it to RGB
// (clip._transform), so the package keeps the mode Pillow would have chosen (see Pixels):
//
//   - gray (image.Gray, Gray16) is mode "L": resized as one channel, then replicated to RGB;
//   - images whose alpha is 255 everywhere are mode "RGB";
//   - images with any alpha below 255 are mode "RGBA" (straight alpha, like Pillow).
//
// 16-bit samples keep their high byte (v >> 8), as Pillow does when it opens 16-bit RGB(A) PNGs.
// YCbCr and CMYK go through Go's standard conversions (color.YCbCrToRGB, color.CMYKToRGB); note
// that Go's JPEG decoder itself differs from libjpeg by a few levels (golden README, Q8).
// EXIF orientation is ignored, as Pillow's Image.open ignores it.
//
// # Alpha
//
// Without resizing (ToRGB, FromArray) alpha is dropped and the straight colour kept, which is
// Pillow's convert("RGB") and what clip._transform yields when the size does not change (Pillow's
// resize returns a copy then). Go's premultiplied *image.RGBA/RGBA64 are un-premultiplied first
// with Go's standard rounding (color.NRGBAModel).
//
// When resizing (ResizePixels, Preprocess) an RGBA image follows Pillow exactly: RGBA -> RGBa
// (colour premultiplied, c*a/255 rounded) -> bicubic resize of all four channels -> RGBA
// (colour * 255 / alpha, truncated and clipped; alpha 0 or 255 left alone) -> alpha dropped.
// Transparent regions therefore turn black and semi-transparent edges carry their own colour,
// not the colour hidden under transparent pixels.
//
// # Known differences from Pillow
//
// Pillow resizes palette ("P") images with NEAREST whatever filter is asked for; this package
// expands the palette to RGB(A) and uses bicubic, as if the caller had converted first. Pillow
// opens 16-bit gray PNGs as "I;16" and clips rather than shifts when converting; here they are >> 8.
package imageprep
