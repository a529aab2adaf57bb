package imageprep

import (
	"fmt"
	"image"
)

// CLIP's normalisation constants. torch turns the Python (float64) values into a float32
// tensor, so they are rounded from float64 here too (see f32).
var (
	Mean = [3]float32{f32(0.48145466), f32(0.4578275), f32(0.40821073)}
	Std  = [3]float32{f32(0.26862954), f32(0.26130258), f32(0.27577711)}
)

// f32 rounds through float64 at run time, like torch.as_tensor(python_float, dtype=float32),
// rather than rounding the decimal constant straight to float32 (which could differ by double rounding).
func f32(x float64) float32 { return float32(x) }

// Normalize is ToTensor + Normalize on an RGB image: CHW float32 with, per value,
// x = float32(u8) / 255 and then (x - Mean[c]) / Std[c], each a separately rounded float32
// operation, exactly as torch computes it.
func Normalize(img *RGB) []float32 { return NormalizeWith(img, Mean, Std) }

// NormalizeWith is Normalize with another mean and std (a model's preprocessing config: torch
// rounds its float64 values to float32 first, as F32 does).
func NormalizeWith(img *RGB, mean, std [3]float32) []float32 {
	n := img.W * img.H
	out := make([]float32, 3*n)
	for c := range 3 {
		// 256 possible inputs per channel: a table gives the same bits as computing each value.
		var lut [256]float32
		for v := range lut {
			x := float32(v) / float32(255)
			x = float32(x - mean[c])
			lut[v] = float32(x / std[c])
		}
		plane := out[c*n : (c+1)*n]
		for i := range plane {
			plane[i] = lut[img.Pix[3*i+c]]
		}
	}
	return out
}

// Preprocess is the CLIP Surgery preprocessing of img at n×n: Pillow bicubic resize in the
// image's own mode (clip._transform: gray as L, alpha in premultiplied RGBa), convert to RGB,
// ToTensor, Normalize. It returns the [3, n, n] CHW tensor (batch dimension left to the caller).
// For RGB images this is also exactly demo.py's preprocess.
func Preprocess(img image.Image, n int) ([]float32, error) {
	if img == nil {
		return nil, fmt.Errorf("imageprep: Preprocess of a nil image")
	}
	if err := checkTarget(n); err != nil {
		return nil, err
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, fmt.Errorf("imageprep: Preprocess of an empty %dx%d image", b.Dx(), b.Dy())
	}
	return Normalize(resizeSource(sourceOf(img), n, n).RGB()), nil
}

// PreprocessPixels is Preprocess for an image already in a Pillow mode (e.g. from a numpy array).
func PreprocessPixels(p *Pixels, n int) ([]float32, error) {
	if p == nil {
		return nil, fmt.Errorf("imageprep: PreprocessPixels of nil pixels")
	}
	if err := checkTarget(n); err != nil {
		return nil, err
	}
	if _, err := PixelsFromArray(p.H, p.W, p.C, p.Pix); err != nil {
		return nil, err
	}
	return Normalize(resizeSource(pixelsSource(p), n, n).RGB()), nil
}

func checkTarget(n int) error {
	if n <= 0 {
		return fmt.Errorf("imageprep: preprocess size %d must be positive", n)
	}
	if int64(n) > DefaultMaxPixels/int64(n) { // not n*n: that wraps around for n ≥ 2^32
		return fmt.Errorf("imageprep: preprocess size %dx%d is above MaxPixels (%d)", n, n, DefaultMaxPixels)
	}
	return nil
}
