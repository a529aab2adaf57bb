package evaluate

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// ErrProtocolStep: a step of a peer's protocol that is not implemented yet; the preset refuses
// to run rather than report a number the peer's code would not give.
var ErrProtocolStep = errors.New("evaluate: protocol step not implemented")

// ProtocolResult is a peer's end-to-end prediction of one image.
type ProtocolResult struct {
	W, H               int         // the original image
	ResizedW, ResizedH int         // after the keep-ratio resize
	Logits             [][]float32 // per query name, at the original size, before the logit scale
	Pred               []uint8     // the class map after postprocess_result
}

// PredictProtocol runs a peer's evaluation of one image: mmcv's keep-ratio resize with OpenCV's
// bilinear, the peer's forward_slide (surgery.PixelSimilarity: mmseg's window placement, each
// window's logits resized to it and averaged), the bilinear interpolation to the original size
// that SCLIP and ClearCLIP do inside forward_slide, then postprocess_result (PostProcess).
// Not yet implemented, refused with ErrProtocolStep: whole-image inference (NACLIP on VOC),
// windows larger than the image (ClearCLIP's padding to a multiple of 16), PAMR.
func PredictProtocol(ctx context.Context, ex *surgery.Explainer, pix *imageprep.Pixels, p Protocol, classes []Class) (*ProtocolResult, error) {
	return PredictProtocolWithVFM(ctx, ex, nil, pix, p, classes)
}

// PredictProtocolWithVFM is PredictProtocol for a peer whose method reads a vision foundation
// model (ProxyCLIP): vfm runs on every window beside CLIP (surgery.Options.VFM).
func PredictProtocolWithVFM(ctx context.Context, ex *surgery.Explainer, vfm surgery.VFM, pix *imageprep.Pixels, p Protocol, classes []Class) (*ProtocolResult, error) {
	if p.Window == 0 {
		return nil, fmt.Errorf("%w: whole-image inference (%s on %s)", ErrProtocolStep, p.Peer, p.Benchmark)
	}
	if p.PAMRSteps > 0 {
		return nil, fmt.Errorf("%w: PAMR (%s)", ErrProtocolStep, p.Peer)
	}
	nw, nh, _ := imageprep.RescaleSize(pix.W, pix.H, p.LongSide, p.ShortSide)
	if nw < p.Window || nh < p.Window {
		return nil, fmt.Errorf("%w: a %d×%d image under %d windows (the peer's small-window path)", ErrProtocolStep, nw, nh, p.Window)
	}
	rgb := pix.RGB()
	resized := imageprep.ResizeLinearOpenCV(&imageprep.Pixels{W: rgb.W, H: rgb.H, C: 3, Pix: rgb.Pix}, nw, nh)
	names, nameClass := queries(classes)
	// A name listed in two classes (SCLIP's COCO-Object "bed") is encoded once.
	var unique []string
	col := make([]int, len(names))
	seen := map[string]int{}
	for q, n := range names {
		j, ok := seen[n]
		if !ok {
			j = len(unique)
			seen[n] = j
			unique = append(unique, n)
		}
		col[q] = j
	}
	fs := surgery.FeatureSurgeryOff
	if p.FeatureSurgery {
		fs = surgery.FeatureSurgeryOn
	}
	planes, _, err := ex.PixelSimilarity(ctx, resized, surgery.Options{Size: p.Window, Slide: true, Stride: p.Stride,
		Labels: unique, Templates: p.TemplateSet(), Method: p.Peer, FeatureSurgery: fs, VFM: vfm})
	if err != nil {
		return nil, err
	}
	res := &ProtocolResult{W: pix.W, H: pix.H, ResizedW: nw, ResizedH: nh, Logits: make([][]float32, len(names))}
	for q := range names {
		if res.Logits[q], err = surgery.ResizeBilinear(planes[col[q]], nh, nw, pix.H, pix.W); err != nil {
			return nil, err
		}
	}
	res.Pred = PostProcess(res.Logits, nameClass, len(classes), p)
	return res, nil
}

// PostProcess is the peers' postprocess_result on per-name logits [Q][H·W]: softmax over the
// names of LogitScale·logits, each class the best of its names, SCLIP's area_thd (classes other
// than 0 predicted on at most AreaThd of the pixels predicted as a class other than 0 get
// probability 0), then the first class of maximum probability, class 0 where that is below ProbThd.
func PostProcess(logits [][]float32, nameClass []int, k int, p Protocol) []uint8 {
	n := len(logits[0])
	prob := make([][]float64, k)
	for c := range prob {
		prob[c] = make([]float64, n)
	}
	for i := range n {
		m := math.Inf(-1)
		for q := range logits {
			m = max(m, p.LogitScale*float64(logits[q][i]))
		}
		var sum float64
		for q := range logits {
			sum += math.Exp(p.LogitScale*float64(logits[q][i]) - m)
		}
		for q, c := range nameClass {
			prob[c][i] = max(prob[c][i], math.Exp(p.LogitScale*float64(logits[q][i])-m)/sum)
		}
	}
	pred := argmaxClasses(prob, n)
	if p.AreaThd > 0 {
		area := make([]int, k)
		total := 0
		for _, c := range pred {
			if c != 0 {
				area[c]++
				total++
			}
		}
		for c := 1; c < k; c++ {
			if !(float64(area[c]) > p.AreaThd*float64(total)) {
				clear(prob[c])
			}
		}
		pred = argmaxClasses(prob, n)
	}
	for i := range pred {
		if prob[pred[i]][i] < p.ProbThd {
			pred[i] = 0
		}
	}
	return pred
}

// argmaxClasses is the first class of maximum probability at every pixel (torch.argmax's tie rule).
func argmaxClasses(prob [][]float64, n int) []uint8 {
	pred := make([]uint8, n)
	for i := range n {
		best := prob[0][i]
		for c := 1; c < len(prob); c++ {
			if prob[c][i] > best {
				best, pred[i] = prob[c][i], uint8(c)
			}
		}
	}
	return pred
}
