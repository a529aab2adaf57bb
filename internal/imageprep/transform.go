package imageprep

import (
	"fmt"
	"image"
	"math"
)

// Interpolation is the Pillow filter a Transform resizes with (antialiased when downscaling, as
// torchvision's Resize of a PIL image is).
type Interpolation string

const (
	Bicubic  Interpolation = "bicubic"
	Bilinear Interpolation = "bilinear"
)

// ResizeMode is how a Transform fits an image into its square input (open_clip's resize_mode).
type ResizeMode string

const (
	// Shortest resizes the shorter side to Size and crops the centre (CLIP's own preprocessing).
	Shortest ResizeMode = "shortest"
	// Squash resizes to Size×Size, ignoring the aspect ratio (CLIP Surgery's Resize((n, n))).
	Squash ResizeMode = "squash"
	// Longest resizes the longer side to Size and pads the rest with Fill, centred.
	Longest ResizeMode = "longest"
)

// Transform is a model's evaluation preprocessing as open_clip's image_transform_v2(PreprocessCfg,
// is_train=False) runs it (open_clip/transform.py, torchvision 0.14 on PIL images):
//
//   - Shortest: Resize(Size) — the shorter side becomes Size, the longer int(Size·long/short)
//     (truncated) — then CenterCrop(Size) at offsets int(round((side−Size)/2)) (round half to even);
//   - Squash: Resize((Size, Size));
//   - Longest: ResizeKeepRatio(Size, longest=1) — each side round(side·Size/longest side), with
//     the ratio computed as longest/Size in float64 and Python's rounding — then CenterCropOrPad:
//     padding (Size−side)//2 on the left/top and the rest on the right/bottom, colour Fill;
//
// each resize in the image's own mode with Pillow's antialiased filter (the package doc: gray as L,
// alpha premultiplied), then convert("RGB"), ToTensor and Normalize(Mean, Std) in float32. The
// zero value is not usable; OpenAITransform gives CLIP's.
type Transform struct {
	Size          int
	Mean, Std     [3]float32
	Interpolation Interpolation
	ResizeMode    ResizeMode
	Fill          uint8 // padding colour of Longest, on every channel (open_clip's fill_color)
}

// OpenAITransform is CLIP's own preprocessing at side n (clip._transform and open_clip's defaults):
// shortest side to n, centre crop, bicubic, OpenAI's mean and std.
func OpenAITransform(n int) Transform {
	return Transform{Size: n, Mean: Mean, Std: Std, Interpolation: Bicubic, ResizeMode: Shortest}
}

// Validate rejects an unknown mode or filter, a zero std and a size out of range.
func (t Transform) Validate() error {
	if err := checkTarget(t.Size); err != nil {
		return err
	}
	switch t.Interpolation {
	case Bicubic, Bilinear:
	default:
		return fmt.Errorf("imageprep: unknown interpolation %q (want bicubic or bilinear)", string(t.Interpolation))
	}
	switch t.ResizeMode {
	case Shortest, Squash, Longest:
	default:
		return fmt.Errorf("imageprep: unknown resize mode %q (want shortest, squash or longest)", string(t.ResizeMode))
	}
	for c := range 3 {
		if t.Std[c] == 0 || isBad(t.Std[c]) || isBad(t.Mean[c]) {
			return fmt.Errorf("imageprep: normalisation mean %v / std %v is not finite and non-zero", t.Mean, t.Std)
		}
	}
	return nil
}

func isBad(v float32) bool { return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) }

func (t Transform) filter() filter {
	if t.Interpolation == Bilinear {
		return bilinearFilter
	}
	return bicubicFilter
}

// Apply preprocesses a decoded image into the model input [3, Size, Size] (CHW).
func (t Transform) Apply(img image.Image) ([]float32, error) {
	if img == nil {
		return nil, fmt.Errorf("imageprep: preprocessing a nil image")
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, fmt.Errorf("imageprep: preprocessing an empty %dx%d image", b.Dx(), b.Dy())
	}
	rgb, err := t.geometry(sourceOf(img))
	if err != nil {
		return nil, err
	}
	return NormalizeWith(rgb, t.Mean, t.Std), nil
}

// ApplyPixels is Apply for an image already in a Pillow mode.
func (t Transform) ApplyPixels(p *Pixels) ([]float32, error) {
	rgb, err := t.GeometryPixels(p)
	if err != nil {
		return nil, err
	}
	return NormalizeWith(rgb, t.Mean, t.Std), nil
}

// GeometryPixels is the resize / crop / pad part of the transform: the RGB image that reaches
// ToTensor.
func (t Transform) GeometryPixels(p *Pixels) (*RGB, error) {
	if p == nil {
		return nil, fmt.Errorf("imageprep: preprocessing nil pixels")
	}
	if _, err := PixelsFromArray(p.H, p.W, p.C, p.Pix); err != nil {
		return nil, err
	}
	return t.geometry(pixelsSource(p))
}

func (t Transform) geometry(src source) (*RGB, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	s := t.Size
	switch t.ResizeMode {
	case Squash:
		return resizeSourceFilter(src, s, s, t.filter()).RGB(), nil
	case Shortest:
		w, h := src.w, src.h
		short, long := min(w, h), max(w, h)
		// torchvision: int(size * long / short), a float64 division truncated.
		newLong := int(float64(s*long) / float64(short))
		nw, nh := s, newLong
		if w > h {
			nw, nh = newLong, s
		}
		return centerCropOrPad(resizeSourceFilter(src, nw, nh, t.filter()).RGB(), s, t.Fill), nil
	}
	// Longest: ResizeKeepRatio's ratio is max(h/S, w/S) (longest=1), each side round(side/ratio).
	ratio := max(float64(src.h)/float64(s), float64(src.w)/float64(s))
	nh, nw := int(math.RoundToEven(float64(src.h)/ratio)), int(math.RoundToEven(float64(src.w)/ratio))
	if nh <= 0 || nw <= 0 {
		return nil, fmt.Errorf("imageprep: a %dx%d image is too thin to fit %d px on its longest side", src.w, src.h, s)
	}
	return centerCropOrPad(resizeSourceFilter(src, nw, nh, t.filter()).RGB(), s, t.Fill), nil
}

// centerCropOrPad is open_clip's center_crop_or_pad (torchvision's CenterCrop is the same without
// the padding, which Shortest never needs): pad each side shorter than s with fill, (s−side)//2
// before and the rest after, then crop a longer side at int(round((side−s)/2)).
func centerCropOrPad(img *RGB, s int, fill uint8) *RGB {
	if img.W == s && img.H == s {
		return img
	}
	padLeft, padTop := max(s-img.W, 0)/2, max(s-img.H, 0)/2
	w, h := max(img.W, s), max(img.H, s)
	cropLeft, cropTop := int(math.RoundToEven(float64(w-s)/2)), int(math.RoundToEven(float64(h-s)/2))
	out := &RGB{W: s, H: s, Pix: make([]uint8, 3*s*s)}
	for i := range out.Pix {
		out.Pix[i] = fill
	}
	// Output pixel (x, y) is padded-image pixel (x+cropLeft, y+cropTop), i.e. source pixel
	// (x+cropLeft−padLeft, y+cropTop−padTop) when inside the source.
	for y := range s {
		sy := y + cropTop - padTop
		if sy < 0 || sy >= img.H {
			continue
		}
		x0 := max(padLeft-cropLeft, 0)
		x1 := min(img.W+padLeft-cropLeft, s)
		if x0 >= x1 {
			continue
		}
		sx0 := x0 + cropLeft - padLeft
		copy(out.Pix[3*(y*s+x0):3*(y*s+x1)], img.Pix[3*(sy*img.W+sx0):3*(sy*img.W+sx0+x1-x0)])
	}
	return out
}
