package sam

import (
	"errors"
	"fmt"
	"sync"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
)

// TargetSize is ResizeLongestSide.get_preprocess_shape: the size (h, w) whose longer side is
// long, scaling in float64 and rounding with int(x + 0.5) as upstream does.
func TargetSize(h, w, long int) (newH, newW int) {
	scale := float64(long) / float64(max(h, w))
	return int(float64(h)*scale + 0.5), int(float64(w)*scale + 0.5)
}

// ResizeLongestSide is ResizeLongestSide(long).apply_image: the RGB image resized with Pillow's
// 8-bit BILINEAR (torchvision's resize of a PIL image) so that its longer side is long. Images so
// elongated that the shorter side would round to 0 pixels are rejected.
func ResizeLongestSide(img *imageprep.RGB, long int) (*imageprep.RGB, error) {
	if img == nil || img.W <= 0 || img.H <= 0 || len(img.Pix) != img.W*img.H*3 {
		if img == nil {
			return nil, errors.New("sam: no image")
		}
		return nil, fmt.Errorf("sam: RGB image %dx%d with %d bytes (want %d)", img.W, img.H, len(img.Pix), img.W*img.H*3)
	}
	h, w := TargetSize(img.H, img.W, long)
	if h < 1 || w < 1 || long < 1 {
		return nil, fmt.Errorf("sam: a %dx%d image resized to a longest side of %d would be %dx%d pixels", img.W, img.H, long, w, h)
	}
	return imageprep.ResizeBilinear(img, w, h), nil
}

// Preprocess is Sam.preprocess of an already resized image: per channel
// (float32(u) − mean)/std in float32 on the 0–255 scale, CHW, then zero padding at the bottom
// and right to 3×S×S (S = Config.ImageSize). The image must fit in S×S.
func (c Config) Preprocess(img *imageprep.RGB) ([]float32, error) {
	s := c.ImageSize
	if img.W > s || img.H > s || img.W <= 0 || img.H <= 0 || len(img.Pix) != img.W*img.H*3 {
		return nil, fmt.Errorf("sam: cannot preprocess a %dx%d image (%d bytes) for a %dx%d input", img.W, img.H, len(img.Pix), s, s)
	}
	out := make([]float32, 3*s*s)
	for ch := range 3 {
		mean, std := c.PixelMean[ch], c.PixelStd[ch]
		plane := out[ch*s*s : (ch+1)*s*s]
		for y := range img.H {
			row := img.Pix[y*img.W*3 : (y+1)*img.W*3]
			dst := plane[y*s : y*s+img.W]
			for x := range dst {
				dst[x] = (float32(row[3*x+ch]) - mean) / std
			}
		}
	}
	return out, nil
}

// ImageEmbedding is the result of SetImage: the encoder output and the two sizes that
// postprocessing needs to map masks back to the original image.
type ImageEmbedding struct {
	Features     *Features // [1, OutChans, G, G], predictor.features
	OriginalSize [2]int    // original (H, W)
	InputSize    [2]int    // (H, W) after ResizeLongestSide, before padding
}

// EmbedImage is SamPredictor.set_image without the state: resize the longest side to
// Config.ImageSize (Pillow BILINEAR), normalise, pad and encode an RGB image.
func (m *Model) EmbedImage(img *imageprep.RGB) (*ImageEmbedding, error) {
	if m.Config.InChans != 3 {
		return nil, fmt.Errorf("sam: the encoder takes %d channels, not RGB", m.Config.InChans)
	}
	resized, err := ResizeLongestSide(img, m.Config.ImageSize)
	if err != nil {
		return nil, err
	}
	pixels, err := m.Config.Preprocess(resized)
	if err != nil {
		return nil, err
	}
	feats, err := m.EncodeImage(pixels, 1)
	if err != nil {
		return nil, err
	}
	return &ImageEmbedding{Features: feats, OriginalSize: [2]int{img.H, img.W}, InputSize: [2]int{resized.H, resized.W}}, nil
}

// ErrNoImage is returned when a Predictor is asked for its embedding before SetImage.
var ErrNoImage = errors.New("sam: no image set: call SetImage first")

// Predictor is SamPredictor: a model plus the embedding of the current image. SetImage replaces
// the embedding as a whole; Embedding returns the current one, so concurrent predictions see
// either the old or the new image, never a mix.
type Predictor struct {
	Model *Model

	mu  sync.RWMutex
	emb *ImageEmbedding
}

// NewPredictor returns a predictor with no image set.
func NewPredictor(m *Model) *Predictor { return &Predictor{Model: m} }

// SetImage computes and keeps the embedding of an RGB image (SamPredictor.set_image with
// image_format "RGB").
func (p *Predictor) SetImage(img *imageprep.RGB) error {
	emb, err := p.Model.EmbedImage(img)
	if err != nil {
		return err
	}
	p.SetEmbedding(emb)
	return nil
}

// SetEmbedding installs an embedding computed earlier (e.g. by Model.EmbedImage), so that one
// image's embedding can serve several predictors or be cached by the caller.
func (p *Predictor) SetEmbedding(emb *ImageEmbedding) {
	p.mu.Lock()
	p.emb = emb
	p.mu.Unlock()
}

// Embedding returns the current image's embedding, or ErrNoImage.
func (p *Predictor) Embedding() (*ImageEmbedding, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.emb == nil {
		return nil, ErrNoImage
	}
	return p.emb, nil
}

// ResetImage forgets the current image (SamPredictor.reset_image).
func (p *Predictor) ResetImage() { p.SetEmbedding(nil) }

// RGB is an H×W×3 image, as SetImage takes it (the same type as surgery.RGB; surgery.ToRGB
// converts an image.Image the way demo.py's np.array(pil_img) does).
type RGB = imageprep.RGB
