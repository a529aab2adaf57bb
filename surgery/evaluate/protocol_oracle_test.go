package evaluate

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// The paths no golden covers (whole-image inference, images smaller than the window, ClearCLIP's
// and ProxyCLIP's padding, CLIP Surgery's preset, ProxyCLIP's VFM per window) against protocolOracle: the peers' forward_slide /
// forward_feature / predict written out as their Python reads, in float64, one window per encoder
// call. The resize and normalisation (golden-checked bit for bit) and the encoder are shared.
func TestProtocolOracle(t *testing.T) {
	ex := tinyExplainer(t)
	classes := []Class{{Names: []string{"sky", "wall"}}, {Names: []string{"cat"}}, {Names: []string{"dog", "puppy"}}, {Names: []string{"tree"}}}
	base := func(peer clip.Method) Protocol {
		return Protocol{Peer: peer, LongSide: 2048, Templates: TemplatesImageNet80, LogitScale: 40, ProbThd: 0.1}
	}
	small := base(clip.MethodSCLIP) // 150×100 stays 150×100: one 150×100 window, cut to the 9×6 grid
	small.ShortSide, small.Window, small.Stride = 100, 224, 112
	padded := small // ClearCLIP: 151×101 padded to 160×112, the odd pixel right and below
	padded.Peer, padded.PadTo, padded.ShortSide = clip.MethodClearCLIP, PadToPatch, 101
	surg := small
	surg.Peer, surg.FeatureSurgery, surg.Templates = clip.MethodSurgery, true, TemplatesSurgery85
	whole := base(clip.MethodNACLIP) // 120×80 → 150×100, whole image, resized twice
	whole.ShortSide, whole.InterpolateTwice = 100, true
	once := whole // SCLIP's and ClearCLIP's whole-image path: resized once
	once.Peer, once.InterpolateTwice = clip.MethodSCLIP, false
	tall := small // 100×300 → 224×672: 4 windows down, the last one starting at 448, not 480
	tall.ShortSide, tall.Window, tall.Stride = 224, 224, 160
	aspect, err := LookupProtocol("clearclip", "voc20") // 500×100 → 2048×410: 9 windows of 410×448, padded to 416
	if err != nil {
		t.Fatal(err)
	}
	proxy := small // ProxyCLIP: 150×100 padded to 168×112 (compute_padsize with 56); CLIP's grid cut to 10×7, DINOv2's 12×8
	proxy.Peer, proxy.PadTo = clip.MethodProxyCLIP, 56
	proxySlide := proxy // 300×200 → 336×224: two 224 windows, no padding
	proxySlide.ShortSide = 224
	vfm, err := surgery.LoadVFM(context.Background(), "../../testdata/dino/models/dinov2_tiny_hf", surgery.VFMLoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(18, 2))
	for _, tc := range []struct {
		name string
		w, h int
		p    Protocol
		vfm  surgery.VFM
	}{
		{"sclip small image", 150, 100, small, nil}, {"clearclip padded small image", 151, 101, padded, nil},
		{"surgery small image", 150, 100, surg, nil}, {"naclip whole image twice", 120, 80, whole, nil},
		{"sclip whole image once", 120, 80, once, nil}, {"uneven stride", 100, 300, tall, nil},
		{"clearclip voc20 wide image", 500, 100, aspect, nil},
		{"proxyclip padded to 56", 150, 100, proxy, vfm}, {"proxyclip windows", 300, 200, proxySlide, vfm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pix := &imageprep.Pixels{W: tc.w, H: tc.h, C: 3, Pix: make([]uint8, tc.w*tc.h*3)}
			for i := range pix.Pix { // smooth structure plus noise, so the logits vary over the image
				x, y := (i/3)%tc.w, (i/3)/tc.w
				pix.Pix[i] = uint8(min(255, max(0, 128+100*math.Sin(float64(x)/9+float64(i%3))*math.Cos(float64(y)/7)+rng.NormFloat64()*20)))
			}
			cs := classes
			if tc.p.Benchmark != "" {
				if cs, err = PeerClasses(tc.p.ClassFile); err != nil {
					t.Fatal(err)
				}
			}
			got, err := PredictProtocolWithVFM(context.Background(), ex, tc.vfm, pix, tc.p, cs, 3)
			if err != nil {
				t.Fatal(err)
			}
			want, windows := protocolOracle(t, ex, tc.vfm, pix, tc.p, cs)
			if got.Windows != windows {
				t.Errorf("%d windows, oracle %d", got.Windows, windows)
			}
			worst := 0.0
			for q := range want {
				for i, v := range want[q] {
					worst = max(worst, math.Abs(float64(got.Logits[q][i])-v))
				}
			}
			if worst > 2e-5 {
				t.Fatalf("logits differ from the oracle by up to %.3g", worst)
			}
			o32 := make([][]float32, len(want))
			for q, w := range want {
				o32[q] = make([]float32, len(w))
				for i, v := range w {
					o32[q][i] = float32(v)
				}
			}
			_, nameClass := queries(cs)
			pred := PostProcess(o32, nameClass, len(cs), tc.p)
			diff := 0
			for i := range pred {
				if pred[i] != got.Pred[i] {
					diff++
				}
			}
			if float64(diff) > 0.001*float64(len(pred)) {
				t.Fatalf("%d of %d pixels differ from the oracle's class map", diff, len(pred))
			}
			t.Logf("%d windows, max |logit diff| %.2g, %d pixels differ", windows, worst, diff)
		})
	}
}

// protocolOracle is the peer's predict up to postprocess_result: per query name, the logits at
// the original size, and the number of windows.
func protocolOracle(t *testing.T, ex *surgery.Explainer, vfm surgery.VFM, pix *imageprep.Pixels, p Protocol, cs []Class) ([][]float64, int) {
	t.Helper()
	nw, nh, _ := imageprep.RescaleSize(pix.W, pix.H, p.LongSide, p.ShortSide)
	x := imageprep.NormalizeMMSeg(imageprep.ResizeLinearOpenCV(pix, nw, nh).RGB())
	names, _ := queries(cs)
	text, err := ex.TextFeatures(names, p.TemplateSet())
	if err != nil {
		t.Fatal(err)
	}
	ps := ex.Model().Config.Stride()
	// forwardFeature encodes the c×ch×cw crop and returns each name's logits resized to oh×ow.
	forwardFeature := func(crop []float32, ch, cw, oh, ow int) [][]float64 {
		gh, gw := ch/ps, cw/ps
		var in []float32
		for c := range 3 {
			for y := range gh * ps {
				in = append(in, crop[c*ch*cw+y*cw:c*ch*cw+y*cw+gw*ps]...)
			}
		}
		opt := clip.ImageOptions{Method: p.Peer, MaxSide: 2048}
		if vfm != nil { // ProxyCLIP: the VFM gets unnorm(img), the whole crop; the logits lie on its I×J grid
			unit := make([]float32, len(crop))
			for i, v := range crop {
				c := i / (ch * cw)
				unit[i] = float32(float64(v)*float64(imageprep.Std[c]) + float64(imageprep.Mean[c]))
			}
			if opt.Proxy, err = vfm.PatchFeatures(unit, ch, cw); err != nil {
				t.Fatal(err)
			}
			gh, gw = opt.Proxy.Shape[1], opt.Proxy.Shape[2]
		}
		f, err := ex.Model().EncodeImage(in, 1, (ch/ps)*ps, (cw/ps)*ps, opt)
		if err != nil {
			t.Fatal(err)
		}
		d := f.Shape[len(f.Shape)-1]
		tokens := make([][]float64, 1+gh*gw)
		for n := range tokens {
			var ss float64
			for _, v := range f.Data[n*d : (n+1)*d] {
				ss += float64(v) * float64(v)
			}
			tokens[n] = make([]float64, d)
			for i, v := range f.Data[n*d : (n+1)*d] {
				tokens[n][i] = float64(v) / math.Sqrt(ss)
			}
		}
		dot := func(n, k int) float64 {
			var s float64
			for i, v := range text.Row(k) {
				s += tokens[n][i] * float64(v)
			}
			return s
		}
		k := len(names)
		weight := make([]float64, k) // feature surgery's class weights (paper §3.3): softmax(2·cls·T) / mean
		var sum float64
		for j := range weight {
			weight[j] = math.Exp(2 * dot(0, j))
			sum += weight[j]
		}
		for j := range weight {
			weight[j] = weight[j] / sum * float64(k)
		}
		out := make([][]float64, k)
		for j := range out {
			grid := make([]float64, gh*gw)
			for n := range grid {
				if !p.FeatureSurgery {
					grid[n] = dot(1+n, j)
					continue
				}
				var mean float64
				for jj := range k {
					mean += weight[jj] * dot(1+n, jj) / float64(k)
				}
				grid[n] = weight[j]*dot(1+n, j) - mean
			}
			out[j] = bilinear64(grid, gh, gw, oh, ow)
		}
		return out
	}
	if p.Window == 0 {
		if !p.InterpolateTwice {
			return forwardFeature(x, nh, nw, pix.H, pix.W), 0
		}
		l := forwardFeature(x, nh, nw, nh, nw)
		for q := range l {
			l[q] = bilinear64(l[q], nh, nw, pix.H, pix.W)
		}
		return l, 0
	}
	preds := make([][]float64, len(names))
	for q := range preds {
		preds[q] = make([]float64, nh*nw)
	}
	count := make([]float64, nh*nw)
	hGrids := max(nh-p.Window+p.Stride-1, 0)/p.Stride + 1
	wGrids := max(nw-p.Window+p.Stride-1, 0)/p.Stride + 1
	for hi := range hGrids {
		for wi := range wGrids {
			y1, x1 := hi*p.Stride, wi*p.Stride
			y2, x2 := min(y1+p.Window, nh), min(x1+p.Window, nw)
			y1, x1 = max(y2-p.Window, 0), max(x2-p.Window, 0)
			h, w := y2-y1, x2-x1
			var l, r, top, b int
			pad := ps // compute_padsize's side: the patch (ClearCLIP) or 56 (ProxyCLIP)
			if p.PadTo > 0 {
				pad = p.PadTo
			}
			if p.PadTo != 0 && w%pad != 0 {
				l = (pad - w%pad) / 2
				r = pad - w%pad - l
			}
			if p.PadTo != 0 && h%pad != 0 {
				top = (pad - h%pad) / 2
				b = pad - h%pad - top
			}
			ch, cw := h+top+b, w+l+r
			crop := make([]float32, 3*ch*cw)
			for c := range 3 {
				for y := range h {
					for xx := range w {
						crop[c*ch*cw+(y+top)*cw+xx+l] = x[c*nh*nw+(y1+y)*nw+x1+xx]
					}
				}
			}
			logits := forwardFeature(crop, ch, cw, ch, cw)
			for q := range preds {
				for y := range h {
					for xx := range w {
						preds[q][(y1+y)*nw+x1+xx] += logits[q][(y+top)*cw+xx+l]
					}
				}
			}
			for y := y1; y < y2; y++ {
				for xx := x1; xx < x2; xx++ {
					count[y*nw+xx]++
				}
			}
		}
	}
	for q := range preds {
		for i := range preds[q] {
			preds[q][i] /= count[i]
		}
		preds[q] = bilinear64(preds[q], nh, nw, pix.H, pix.W)
	}
	return preds, hGrids * wGrids
}

// bilinear64 is F.interpolate(mode='bilinear', align_corners=False) in float64.
func bilinear64(src []float64, ih, iw, oh, ow int) []float64 {
	taps := func(in, out, d int) (int, int, float64) {
		s := max((float64(d)+0.5)*float64(in)/float64(out)-0.5, 0)
		i0 := int(s)
		return i0, min(i0+1, in-1), s - float64(i0)
	}
	out := make([]float64, oh*ow)
	for y := range oh {
		y0, y1, ly := taps(ih, oh, y)
		for x := range ow {
			x0, x1, lx := taps(iw, ow, x)
			top := src[y0*iw+x0]*(1-lx) + src[y0*iw+x1]*lx
			bot := src[y1*iw+x0]*(1-lx) + src[y1*iw+x1]*lx
			out[y*ow+x] = top*(1-ly) + bot*ly
		}
	}
	return out
}

// One clear error, never a panic, for inputs the protocol cannot run.
func TestPredictProtocolBadInput(t *testing.T) {
	ex := tinyExplainer(t)
	p, err := LookupProtocol("sclip", "voc21")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := PeerClasses(p.ClassFile)
	if err != nil {
		t.Fatal(err)
	}
	img := func(w, h int) *imageprep.Pixels {
		return &imageprep.Pixels{W: w, H: h, C: 3, Pix: make([]uint8, w*h*3)}
	}
	tiny := p
	tiny.ShortSide, tiny.Window = 8, 0 // a 12×8 input: smaller than one 16-pixel patch
	thin := p                          // 1×5000 resizes to 0×2048
	badStride := p
	badStride.Stride = p.Window + 1
	for _, tc := range []struct {
		name  string
		pix   *imageprep.Pixels
		p     Protocol
		batch int
	}{
		{"nil pixels", nil, p, 0}, {"short pixels", &imageprep.Pixels{W: 4, H: 4, C: 3}, p, 0},
		{"negative batch", img(20, 20), p, -1}, {"stride above window", img(20, 20), badStride, 0},
		{"below one patch", img(12, 8), tiny, 0}, {"resized to nothing", img(1, 5000), thin, 0},
	} {
		if _, err := PredictProtocol(context.Background(), ex, tc.pix, tc.p, cs, tc.batch); err == nil {
			t.Errorf("%s: no error", tc.name)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
	if _, err := PredictProtocol(context.Background(), ex, img(20, 20), p, nil, 0); err == nil {
		t.Error("no classes: no error")
	}
}
