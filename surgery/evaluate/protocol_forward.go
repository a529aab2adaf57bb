package evaluate

import (
	"context"
	"fmt"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// DefaultWindowBatch is how many sliding windows of one image PredictProtocol encodes in one
// encoder call when its batch argument is 0: the windows of a VOC image under SCLIP's protocol
// (6) go in one call, while a 448-pixel window's attention (ClearCLIP) keeps a batch's memory to a
// few hundred MB for ViT-B/16.
const DefaultWindowBatch = 8

// netInput is one image as it enters the peer's segmentor: the resized image through the data
// pre-processor, CHW float32 (imageprep.NormalizeMMSeg).
type netInput struct {
	h, w int
	x    []float32
}

// crop copies the window out of the input, zero-padded by (left, right, top, bottom) pixels as
// torch's F.pad pads the normalised tensor.
func (in netInput) crop(win surgery.Window, l, r, t, b int) []float32 {
	ch, cw := win.Y1-win.Y0+t+b, win.X1-win.X0+l+r
	out := make([]float32, 3*ch*cw)
	for c := range 3 {
		for y := win.Y0; y < win.Y1; y++ {
			src := in.x[c*in.h*in.w+y*in.w+win.X0 : c*in.h*in.w+y*in.w+win.X1]
			copy(out[c*ch*cw+(y-win.Y0+t)*cw+l:], src)
		}
	}
	return out
}

// forward is the peers' forward_feature up to the logits on the patch grid: encode, L2-normalise
// the tokens, compare them with the query names (img @ textᵀ, or feature surgery for CLIP
// Surgery's preset), drop the class token.
type forward struct {
	ctx     context.Context
	model   *clip.Model
	text    surgery.Matrix // unit rows, one per distinct query name
	opt     clip.ImageOptions
	surgery bool        // feature surgery instead of img @ textᵀ
	batch   int         // crops per encoder call
	vfm     surgery.VFM // ProxyCLIP's vision foundation model, nil for the others
}

// grids returns, for crops of h×w pixels (CHW each), one gh×gw logit grid per name and crop:
// out[crop][name]. As the peers' patch convolution, a side that is not a multiple of the patch
// size loses its last h mod patch rows (w mod patch columns); gh = h / patch, gw = w / patch.
// With a VFM the grid is the VFM's on the whole crop (proxyFeatures). Up to f.batch crops go
// through one encoder call.
func (f *forward) grids(crops [][]float32, h, w int) (out [][][]float32, gh, gw int, err error) {
	ps := f.model.Config.Stride()
	gh, gw = h/ps, w/ps
	if gh == 0 || gw == 0 {
		return nil, 0, 0, fmt.Errorf("evaluate: a %d×%d network input is smaller than one %d-pixel patch", w, h, ps)
	}
	eh, ew := gh*ps, gw*ps
	for lo := 0; lo < len(crops); lo += f.batch {
		if err := f.ctx.Err(); err != nil {
			return nil, 0, 0, err
		}
		hi := min(lo+f.batch, len(crops))
		pix := make([]float32, 0, (hi-lo)*3*eh*ew)
		for _, c := range crops[lo:hi] {
			for ch := range 3 {
				for y := range eh {
					pix = append(pix, c[ch*h*w+y*w:ch*h*w+y*w+ew]...)
				}
			}
		}
		opt := f.opt
		if f.vfm != nil {
			if opt.Proxy, gh, gw, err = f.proxyFeatures(crops[lo:hi], h, w); err != nil {
				return nil, 0, 0, err
			}
		}
		feats, err := f.model.EncodeImage(pix, hi-lo, eh, ew, opt)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("evaluate: encoding the image: %w", err)
		}
		all := surgery.FeatureMatrix(feats)
		tokens := 1 + gh*gw
		if all.Rows != (hi-lo)*tokens {
			return nil, 0, 0, fmt.Errorf("evaluate: the encoder returned %d tokens for %d crops of %d", all.Rows, hi-lo, tokens)
		}
		for i := range hi - lo {
			img := surgery.Normalize(surgery.Matrix{Rows: tokens, Cols: all.Cols, Data: all.Data[i*tokens*all.Cols : (i+1)*tokens*all.Cols]})
			var sim surgery.Matrix
			if f.surgery {
				if sim, _, err = surgery.FeatureSurgery(img, f.text, nil); err != nil {
					return nil, 0, 0, err
				}
			} else {
				sim = surgery.RawSimilarity(img, f.text)
			}
			names := make([][]float32, sim.Cols)
			for q := range names {
				names[q] = sim.Column(q)[1:]
			}
			out = append(out, names)
		}
	}
	return out, gh, gw, nil
}

// proxyFeatures are the VFM's patch features of crops of h×w pixels, one batch [n, gh, gw, C]
// for clip.ImageOptions.Proxy: each crop as ProxyCLIP's forward_feature gives it to its VFM —
// CLIP's input un-normalised (imageprep.UnNormalize with CLIP's mean and std, so F.pad's zeros
// become the mean), whole (CLIP's convolution cuts its own remainder, the VFM sees every pixel) —
// through surgery.VFM.PatchFeatures, which normalises it for the VFM.
func (f *forward) proxyFeatures(crops [][]float32, h, w int) (*clip.Features, int, int, error) {
	var all *clip.Features
	for _, c := range crops {
		feat, err := f.vfm.PatchFeatures(imageprep.UnNormalize(c, imageprep.Mean, imageprep.Std), h, w)
		if err != nil {
			return nil, 0, 0, err
		}
		if all == nil {
			all = &clip.Features{Shape: append([]int{0}, feat.Shape[1:]...)}
		}
		all.Shape[0]++
		all.Data = append(all.Data, feat.Data...)
	}
	if gh, gw := all.Shape[1], all.Shape[2]; gh*gw > clip.MaxProxyTokens {
		return nil, 0, 0, fmt.Errorf("evaluate: the VFM %s's %d×%d grid on a %d×%d window exceeds %d tokens (clip.MaxProxyTokens)",
			f.vfm.Name(), gh, gw, w, h, clip.MaxProxyTokens)
	}
	return all, all.Shape[1], all.Shape[2], nil
}

// slideLogits is the peers' forward_slide up to the average: mmseg's windows over the input
// (surgery.SlideWindows: a window is the whole axis where the input is smaller), all of one
// size, encoded f.batch at a time; each window's grids resized bilinearly to the window (to the
// padded window and cut back out with ClearCLIP's padding) and averaged where windows overlap
// (surgery.SlideAverage). One in.h×in.w plane per name.
func slideLogits(f *forward, in netInput, p Protocol) ([][]float32, error) {
	wins, err := surgery.SlideWindows(in.h, in.w, p.Window, p.Stride)
	if err != nil {
		return nil, err
	}
	wh, ww := wins[0].Y1-wins[0].Y0, wins[0].X1-wins[0].X0
	var l, r, t, b int
	switch {
	case p.PadTo == PadToPatch:
		l, r, t, b = padSize(wh, ww, f.model.Config.Stride())
	case p.PadTo > 0:
		l, r, t, b = padSize(wh, ww, p.PadTo)
	}
	crops := make([][]float32, len(wins))
	for i, win := range wins {
		crops[i] = in.crop(win, l, r, t, b)
	}
	grids, gh, gw, err := f.grids(crops, wh+t+b, ww+l+r)
	if err != nil {
		return nil, err
	}
	avg := surgery.NewSlideAverage(in.h, in.w, f.text.Rows)
	for i, win := range wins {
		g := grids[i]
		if l+r+t+b > 0 { // resize to the padded window, keep the window: then Add's resize is the identity
			for q := range g {
				if g[q], err = cutResize(g[q], gh, gw, wh+t+b, ww+l+r, t, l, wh, ww); err != nil {
					return nil, err
				}
			}
			if err := avg.Add(win, g, wh, ww); err != nil {
				return nil, err
			}
			continue
		}
		if err := avg.Add(win, g, gh, gw); err != nil {
			return nil, err
		}
	}
	return avg.Average()
}

// padSize is ClearCLIP's and ProxyCLIP's compute_padsize: the (left, right, top, bottom) zeros
// that make an h×w window a multiple of ps, the odd pixel going right and bottom.
func padSize(h, w, ps int) (l, r, t, b int) {
	if w%ps != 0 {
		lr := ps - w%ps
		l, r = lr/2, lr-lr/2
	}
	if h%ps != 0 {
		tb := ps - h%ps
		t, b = tb/2, tb-tb/2
	}
	return l, r, t, b
}

// cutResize resizes a gh×gw grid to oh×ow and returns its h×w part at (top, left).
func cutResize(g []float32, gh, gw, oh, ow, top, left, h, w int) ([]float32, error) {
	up, err := surgery.ResizeBilinear(g, gh, gw, oh, ow)
	if err != nil {
		return nil, err
	}
	out := make([]float32, 0, h*w)
	for y := top; y < top+h; y++ {
		out = append(out, up[y*ow+left:y*ow+left+w]...)
	}
	return out, nil
}

// wholeLogits is the peers' whole-image forward_feature: the input encoded at once, its grids
// resized to the original oh×ow — through the input's size first with InterpolateTwice (NACLIP's
// forward_feature, then its predict), straight otherwise.
func wholeLogits(f *forward, in netInput, p Protocol, oh, ow int) ([][]float32, error) {
	grids, gh, gw, err := f.grids([][]float32{in.x}, in.h, in.w)
	if err != nil {
		return nil, err
	}
	out := grids[0]
	for q, g := range out {
		h, w := gh, gw
		if p.InterpolateTwice {
			if g, err = surgery.ResizeBilinear(g, h, w, in.h, in.w); err != nil {
				return nil, err
			}
			h, w = in.h, in.w
		}
		if out[q], err = surgery.ResizeBilinear(g, h, w, oh, ow); err != nil {
			return nil, err
		}
	}
	return out, nil
}
