package evaluate

import (
	"errors"
	"fmt"
	"image"
	"image/png"

	"github.com/clipsurgery/clipsurgery/internal/safefile"
)

// Sentinel errors of mask reading.
var (
	ErrMask         = errors.New("evaluate: bad mask")
	ErrNotIndexMask = errors.New("evaluate: mask is not an index PNG (palette or 8-bit grey): colour masks cannot be mapped to classes")
	ErrMaskSize     = errors.New("evaluate: mask size differs from its image")
)

// MaxMaskPixels bounds a mask's size before decoding (a hostile PNG header cannot make Open
// allocate gigabytes).
const MaxMaskPixels = 1 << 28

// Label is an image's ground truth: the class index of every pixel, row-major, IgnoreIndex for
// pixels no metric counts.
type Label struct {
	W, H int
	Pix  []uint8
}

// ReadMask reads an index mask: a palette PNG (the palette index is the class, as VOC's
// SegmentationClass) or an 8-bit grey PNG (the grey level is the class). Colour masks are refused:
// reading their colours as classes would give silently wrong metrics. Every value must be a class
// (< numClasses) or IgnoreIndex.
func ReadMask(path string, numClasses int) (*Label, error) {
	f, _, err := safefile.Open(path) // a FIFO or device is refused, never read
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMask, err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMask, path, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxMaskPixels || cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, fmt.Errorf("%w: %s: %d×%d pixels", ErrMask, path, cfg.Width, cfg.Height)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMask, path, err)
	}
	img, err := png.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMask, path, err)
	}
	lab, err := indexPixels(img)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, v := range lab.Pix {
		if v != IgnoreIndex && int(v) >= numClasses {
			return nil, fmt.Errorf("%s: %w: value %d at (x %d, y %d), %d classes", path, ErrLabelRange, v,
				i%lab.W, i/lab.W, numClasses)
		}
	}
	return lab, nil
}

// indexPixels copies the indices of a palette or grey image.
func indexPixels(img image.Image) (*Label, error) {
	b := img.Bounds()
	lab := &Label{W: b.Dx(), H: b.Dy(), Pix: make([]uint8, b.Dx()*b.Dy())}
	var stride int
	var pix []uint8
	switch m := img.(type) {
	case *image.Paletted:
		stride, pix = m.Stride, m.Pix
	case *image.Gray:
		stride, pix = m.Stride, m.Pix
	default:
		return nil, fmt.Errorf("%w (decoded as %T)", ErrNotIndexMask, img)
	}
	for y := range lab.H {
		copy(lab.Pix[y*lab.W:(y+1)*lab.W], pix[y*stride:y*stride+lab.W])
	}
	return lab, nil
}
