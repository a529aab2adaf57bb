package surgery

import (
	"image"
	"io"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
)

// The image types and decoding of internal/imageprep, for callers outside this module: decoded
// pixels as the explainer takes them, RGB as SAM takes it, and the decoding errors to test with
// errors.Is.
type (
	Pixels = imageprep.Pixels // decoded image: H×W×C bytes, C = 1 (gray), 3 (RGB) or 4 (RGBA)
	RGB    = imageprep.RGB    // H×W×3 bytes, what SAM's SetImage and the overlays take
	// ImageLimits bounds decoding (MaxPixels, MaxFileBytes): ImageLimits.DecodeFile for limits
	// other than DefaultImageLimits.
	ImageLimits = imageprep.Limits
)

// DefaultImageLimits are the limits DecodeFile and Decode apply.
func DefaultImageLimits() ImageLimits { return imageprep.DefaultLimits() }

var (
	ErrEmpty         = imageprep.ErrEmpty
	ErrUnknownFormat = imageprep.ErrUnknownFormat
	ErrCorrupt       = imageprep.ErrCorrupt
	ErrTooLarge      = imageprep.ErrTooLarge
	ErrNotRegular    = imageprep.ErrNotRegular
)

// DecodeFile decodes an image file (JPEG, PNG, GIF, BMP, WebP, TIFF) within the decoder's limits.
func DecodeFile(path string) (image.Image, error) { return imageprep.DecodeFile(path) }

// Decode is DecodeFile for a reader; it also returns the format name.
func Decode(r io.Reader) (image.Image, string, error) { return imageprep.Decode(r) }

// PixelsFromArray wraps an H×W×C uint8 array, e.g. numpy's np.array(Image.open(file)).
func PixelsFromArray(h, w, c int, pix []uint8) (*Pixels, error) {
	return imageprep.PixelsFromArray(h, w, c, pix)
}

// ToRGB is the image as Pillow's convert("RGB") gives it: the module's one public name for
// imageprep.ToRGB, beside the other image entry points here, for SAM's SetImage (sam.RGB is RGB),
// Overlay and Resize.
func ToRGB(img image.Image) *RGB { return imageprep.ToRGB(img) }

// Preprocess is CLIP's preprocessing of img at n×n (Pillow bicubic resize, RGB, normalize): the
// [3, n, n] CHW input of clip.Model.EncodeImage.
func Preprocess(img image.Image, n int) ([]float32, error) { return imageprep.Preprocess(img, n) }

// Resize is Pillow's BICUBIC resize of an RGB image to w×h, the resize inside Preprocess.
func Resize(src *RGB, w, h int) *RGB { return imageprep.Resize(src, w, h) }
