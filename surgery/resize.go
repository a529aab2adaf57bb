package surgery

import "fmt"

// ResizeBilinear resizes one row-major inH×inW plane of raw scores to outH×outW with PyTorch's
// bilinear interpolation (F.interpolate(mode='bilinear', align_corners=False)): what the
// training-free segmentation peers (SCLIP, ClearCLIP, NACLIP) apply to the patch logits before the
// per-pixel argmax. Unlike SimilarityMap it does not min-max normalise, so the values of different
// classes stay comparable. Same kernel as the point maps (resizeNCHW).
func ResizeBilinear(src []float32, inH, inW, outH, outW int) ([]float32, error) {
	if inH <= 0 || inW <= 0 || outH <= 0 || outW <= 0 {
		return nil, fmt.Errorf("surgery: ResizeBilinear: sizes %d×%d → %d×%d", inH, inW, outH, outW)
	}
	if len(src) != inH*inW {
		return nil, fmt.Errorf("surgery: ResizeBilinear: %d values for a %d×%d plane", len(src), inH, inW)
	}
	return resizeNCHW(src, inH, inW, outH, outW), nil
}
