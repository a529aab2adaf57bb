package evaluate

import (
	"context"
	"errors"
	"fmt"
	"math"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// ProtocolResult is a peer's end-to-end prediction of one image.
type ProtocolResult struct {
	W, H               int         // the original image
	ResizedW, ResizedH int         // after the keep-ratio resize
	Windows            int         // sliding windows encoded (0: the whole image at once)
	Logits             [][]float32 // per query name, at the original size, what postprocess_result receives (after PAMR), before the logit scale
	Pred               []uint8     // the class map after postprocess_result
}

// PredictProtocol runs a peer's evaluation of one image (pix in RGB; any size), as its segmentor's
// predict does it:
//
//   - mmcv's keep-ratio resize (imageprep.RescaleSize) with OpenCV's bilinear, then mmseg's data
//     pre-processor (imageprep.NormalizeMMSeg);
//   - with p.Window, forward_slide (slideLogits: mmseg's windows, a window being the whole axis
//     where the input is smaller, padded with ClearCLIP's or ProxyCLIP's rule (p.PadTo) or cut
//     to the patch grid as the others' convolution does, averaged where they overlap), then the bilinear resize to the
//     original size that SCLIP and ClearCLIP do inside forward_slide and NACLIP in predict;
//     without, forward_feature on the whole input (wholeLogits; NACLIP resizes twice);
//   - PAMR where the preset has it (NACLIP), then postprocess_result (PostProcess).
//
// The windows of the image go through the encoder batch at a time (0 = DefaultWindowBatch).
// Text features are the Explainer's (cached); the image goes to its model's EncodeImage directly,
// at the sizes the peer encodes (windows, whole inputs of any side up to p.LongSide).
func PredictProtocol(ctx context.Context, ex *surgery.Explainer, pix *imageprep.Pixels, p Protocol, classes []Class, batch int) (*ProtocolResult, error) {
	return PredictProtocolWithVFM(ctx, ex, nil, pix, p, classes, batch)
}

// PredictProtocolWithVFM is PredictProtocol for a peer whose method reads a vision foundation
// model (ProxyCLIP; nil for the others): as ProxyCLIPSegmentation.forward_feature, vfm sees every
// window CLIP sees, padded alike, un-normalised from CLIP's input (imageprep.UnNormalize), and its
// patch features go to the encoder with the window (clip.ImageOptions.Proxy); the window's logits
// lie on the VFM's grid.
func PredictProtocolWithVFM(ctx context.Context, ex *surgery.Explainer, vfm surgery.VFM, pix *imageprep.Pixels, p Protocol, classes []Class, batch int) (*ProtocolResult, error) {
	spec, err := clip.LookupMethod(string(p.Peer))
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	if spec.VFM != (vfm != nil) {
		if vfm == nil {
			return nil, fmt.Errorf("evaluate: protocol %s needs a vision foundation model (-vfm: a DINO, DINOv2 or SAM name or checkpoint)", p.Peer)
		}
		return nil, fmt.Errorf("evaluate: protocol %s reads no vision foundation model (ProxyCLIP's does); %s given", p.Peer, vfm.Name())
	}
	if pix == nil || pix.W <= 0 || pix.H <= 0 || len(pix.Pix) != pix.W*pix.H*pix.C {
		return nil, errors.New("evaluate: PredictProtocol: empty or malformed pixels")
	}
	if err := checkClasses(classes); err != nil {
		return nil, err
	}
	if batch < 0 || p.Window < 0 || (p.Window > 0 && (p.Stride < 1 || p.Stride > p.Window)) {
		return nil, fmt.Errorf("evaluate: window batch %d, window %d, stride %d: want batch ≥ 0, window ≥ 0 and stride in 1..window", batch, p.Window, p.Stride)
	}
	if p.PadTo < PadToPatch {
		return nil, fmt.Errorf("evaluate: pad to %d: want a side ≥ 0 or PadToPatch", p.PadTo)
	}
	if batch == 0 {
		batch = DefaultWindowBatch
	}
	nw, nh, _ := imageprep.RescaleSize(pix.W, pix.H, p.LongSide, p.ShortSide)
	if nw < 1 || nh < 1 {
		return nil, fmt.Errorf("evaluate: a %d×%d image resizes to %d×%d under (%d, %d)", pix.W, pix.H, nw, nh, p.LongSide, p.ShortSide)
	}
	rgb := pix.RGB()
	resized := imageprep.ResizeLinearOpenCV(&imageprep.Pixels{W: rgb.W, H: rgb.H, C: 3, Pix: rgb.Pix}, nw, nh).RGB()
	in := netInput{h: nh, w: nw, x: imageprep.NormalizeMMSeg(resized)}
	names, nameClass := queries(classes)
	unique, col := distinctNames(names) // a name listed in two classes is encoded once
	text, err := ex.TextFeaturesContext(ctx, unique, p.TemplateSet())
	if err != nil {
		return nil, err
	}
	f := &forward{ctx: ctx, model: ex.Model(), text: text, surgery: p.FeatureSurgery, batch: batch, vfm: vfm,
		opt: clip.ImageOptions{Method: p.Peer, MaxSide: max(clip.DefaultMaxImageSide, p.LongSide, p.ShortSide)}}
	res := &ProtocolResult{W: pix.W, H: pix.H, ResizedW: nw, ResizedH: nh, Logits: make([][]float32, len(names))}
	var planes [][]float32
	if p.Window > 0 {
		if planes, err = slideLogits(f, in, p); err != nil {
			return nil, err
		}
		wins, _ := surgery.SlideWindows(nh, nw, p.Window, p.Stride)
		res.Windows = len(wins)
		for j := range planes {
			if planes[j], err = surgery.ResizeBilinear(planes[j], nh, nw, pix.H, pix.W); err != nil {
				return nil, err
			}
		}
	} else if planes, err = wholeLogits(f, in, p, pix.H, pix.W); err != nil {
		return nil, err
	}
	if p.PAMRSteps > 0 {
		if planes, err = refine(ctx, in, planes, pix.W, pix.H, p); err != nil {
			return nil, err
		}
	}
	for q := range names {
		res.Logits[q] = planes[col[q]]
	}
	res.Pred = PostProcess(res.Logits, nameClass, len(classes), p)
	return res, nil
}

// refine is NACLIP's PAMR step (naclip.py predict): the guide is the network input — the resized
// image through the data pre-processor — resized bilinearly (align_corners=False) to the original
// w×h, the mask the logits at that size (PAMR's own align_corners=True resize of the mask to the
// guide's size is then the identity).
func refine(ctx context.Context, in netInput, logits [][]float32, w, h int, p Protocol) ([][]float32, error) {
	n := in.w * in.h
	guide := make([][]float32, 3)
	for c := range guide {
		var err error
		if guide[c], err = surgery.ResizeBilinear(in.x[c*n:(c+1)*n], in.h, in.w, h, w); err != nil {
			return nil, err
		}
	}
	return PAMR(ctx, guide, logits, h, w, p.PAMRSteps, p.PAMRDilations)
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
	const chunk = 4096 // pixels per parallel task
	_ = forEachParallel(context.Background(), (n+chunk-1)/chunk, func(t int) {
		e := make([]float64, len(logits)) // each name's exp(scale·logit − max)
		for i := t * chunk; i < min(n, (t+1)*chunk); i++ {
			clearAVXUpper() // keeps math.Exp fast (simd_amd64.go)
			m := math.Inf(-1)
			for q := range logits {
				m = max(m, p.LogitScale*float64(logits[q][i]))
			}
			var sum float64
			for q := range logits {
				e[q] = math.Exp(p.LogitScale*float64(logits[q][i]) - m)
				sum += e[q]
			}
			for q, c := range nameClass {
				prob[c][i] = max(prob[c][i], e[q]/sum)
			}
		}
	})
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
