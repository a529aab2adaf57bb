package evaluate

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
)

// Protocol is one peer's evaluation protocol on one benchmark, as its released configs set it
// (configs/base_config.py + configs/cfg_<benchmark>.py and the segmentor's defaults at the commits
// ../shared/golden/protocols/protocols.json names). The method's own defaults (short side, window,
// stride) come from the method table (clip.MethodSpec.Protocol); the cells below override what a
// benchmark's config changes.
type Protocol struct {
	Peer      clip.Method `json:"peer"`
	Benchmark string      `json:"benchmark"`
	Config    string      `json:"config"` // the peer's config file the values come from
	// Resize is mmcv's Resize(scale=(LongSide, ShortSide), keep_ratio=True): RescaleSize, then
	// OpenCV's bilinear resize of the 8-bit image.
	LongSide  int `json:"long_side"`
	ShortSide int `json:"short_side"`
	// Window and Stride are the sliding windows (forward_slide); Window 0 = the whole resized image.
	Window int `json:"window"`
	Stride int `json:"stride"`
	// PadMultiple pads a window smaller than the crop to a multiple of this side (ClearCLIP: 16).
	PadMultiple int `json:"pad_multiple,omitempty"`
	// LogitScale multiplies the logits before the softmax over the query names.
	LogitScale float64 `json:"logit_scale"`
	// ProbThd sets class 0 where the best class probability is below it (0 = none).
	ProbThd float64 `json:"prob_thd"`
	// AreaThd (SCLIP) zeroes the classes predicted on at most this fraction of the image's
	// foreground pixels (0 = none).
	AreaThd float64 `json:"area_thd,omitempty"`
	// PAMRSteps and PAMRDilations are NACLIP's PAMR refinement (0 steps = none).
	PAMRSteps     int   `json:"pamr_steps,omitempty"`
	PAMRDilations []int `json:"pamr_dilations,omitempty"`
	// ClassFile is the peer's class-name file (PeerClasses); Templates names the template set.
	ClassFile string `json:"class_file"`
	Templates string `json:"templates"`
	// FeatureSurgery is on only for CLIP Surgery's preset.
	FeatureSurgery bool `json:"feature_surgery,omitempty"`
	// Assumed lists what is not from a released config (CLIP Surgery's preset).
	Assumed string `json:"assumed,omitempty"`
}

// TemplatesImageNet80 is the template set of the peers' prompts/imagenet_template.py.
const TemplatesImageNet80 = "imagenet80"

// TemplatesSurgery85 is CLIP Surgery's 85 templates.
const TemplatesSurgery85 = "surgery85"

// cell is what one benchmark's config changes from the peer's defaults.
type cell struct {
	short, window, stride int
	scale, prob, area     float64
}

// protocolCells are the per-benchmark values of the peers' configs (protocols.json restates them).
var protocolCells = map[clip.Method]map[string]cell{
	clip.MethodSCLIP: { // base: scale 40, prob 0, short 336, slide 224/112
		"voc21": {scale: 65, prob: 0.1, area: 0.1}, "context60": {scale: 50, prob: 0.1},
		"coco_object": {scale: 50, prob: 0.1}, "coco_stuff164k": {short: 448}, "cityscapes": {short: 560},
	},
	clip.MethodNACLIP: { // base: scale 40, prob 0, short 336, slide 224/112, PAMR 10 (test_all.sh)
		"voc21": {prob: 0.1, window: -1}, "voc20": {window: -1}, "context60": {prob: 0.1},
		"coco_object": {prob: 0.1}, "cityscapes": {short: 560},
	},
	clip.MethodClearCLIP: { // base: scale 50, prob 0, short 448, slide 448/224
		"voc21": {prob: 0.5}, "context60": {prob: 0.15}, "coco_object": {prob: 0.4},
		"cityscapes": {window: 224, stride: 224},
	},
	clip.MethodProxyCLIP: { // base: scale 40, prob 0, short 336, slide 336/112 (ProxyCLIPSegmentation's defaults)
		"voc21": {prob: 0.2}, "context60": {prob: 0.15}, "coco_object": {prob: 0.25},
		"cityscapes": {short: 448, window: 224, stride: 112}, "ade20k": {short: 448},
	},
}

// proxyCLIPClassFiles are ProxyCLIP's class files that differ from ClearCLIP's (its configs/cls_*.txt,
// "; " separators written ", "); its others equal ClearCLIP's byte for byte.
var proxyCLIPClassFiles = map[string]string{"voc21": "proxyclip/cls_voc21.txt", "coco_object": "proxyclip/cls_coco_object.txt"}

var peerRepos = map[clip.Method]string{clip.MethodSCLIP: "wangf3014/SCLIP", clip.MethodNACLIP: "sinahmr/NACLIP",
	clip.MethodClearCLIP: "mc-lan/ClearCLIP", clip.MethodSurgery: "xmed-lab/CLIP_Surgery", clip.MethodProxyCLIP: "mc-lan/ProxyCLIP"}

// ProtocolNames are the -protocol names.
func ProtocolNames() []string {
	return []string{"sclip", "clearclip", "naclip", "surgery", "proxyclip"}
}

// LookupProtocol is the preset of peer (a method name) on benchmark.
func LookupProtocol(peer, benchmark string) (Protocol, error) {
	spec, err := clip.LookupMethod(peer)
	if err != nil || !slices.Contains(ProtocolNames(), string(spec.Name)) {
		return Protocol{}, fmt.Errorf("%w: no protocol %q (want one of %s)", ErrBenchmark, peer, strings.Join(ProtocolNames(), ", "))
	}
	b, err := LookupBenchmark(benchmark)
	if err != nil {
		return Protocol{}, err
	}
	file := strings.TrimPrefix(b.ClassFile, "clearclip/")
	p := Protocol{Peer: spec.Name, Benchmark: b.Name, LongSide: 2048, Templates: TemplatesImageNet80,
		Config: fmt.Sprintf("%s configs/cfg_%s.py", peerRepos[spec.Name], configName(b.Name)), ClassFile: "sclip/" + file}
	base := spec.Protocol
	if spec.Name == clip.MethodSurgery { // no released segmentation config: SCLIP's geometry
		sc, _ := clip.LookupMethod(string(clip.MethodSCLIP))
		base = sc.Protocol
		p.FeatureSurgery, p.Templates, p.LogitScale = true, TemplatesSurgery85, DefaultLogitScale
		p.Config = "none released: " + peerRepos[spec.Name] + " demo.py's feature surgery and templates"
		p.Assumed = "CLIP Surgery's paper gives no segmentation protocol: SCLIP's resize, windows and class files, " +
			"feature surgery on, CLIP Surgery's 85 templates, logit scale 40, no thresholds"
	}
	p.ShortSide, p.Window, p.Stride = base.ShortSide, base.Window, base.Stride
	switch spec.Name {
	case clip.MethodSCLIP:
		p.LogitScale = 40
	case clip.MethodNACLIP:
		p.LogitScale, p.PAMRSteps, p.PAMRDilations = 40, 10, []int{8, 16}
	case clip.MethodClearCLIP:
		p.LogitScale, p.PadMultiple, p.ClassFile = 50, 16, b.ClassFile
	case clip.MethodProxyCLIP: // compute_padsize(H, W, 56) for windows larger than the image
		p.LogitScale, p.PadMultiple, p.ClassFile = 40, 56, cmp.Or(proxyCLIPClassFiles[b.Name], b.ClassFile)
	}
	c := protocolCells[spec.Name][b.Name]
	if c.short > 0 {
		p.ShortSide = c.short
	}
	if c.window > 0 {
		p.Window, p.Stride = c.window, c.stride
	} else if c.window < 0 {
		p.Window = 0
	}
	if c.scale > 0 {
		p.LogitScale = c.scale
	}
	p.ProbThd, p.AreaThd = c.prob, c.area
	return p, nil
}

// configName is the peers' file name of a benchmark (cfg_city_scapes.py).
func configName(b string) string {
	if b == "cityscapes" {
		return "city_scapes"
	}
	return b
}

// TemplateSet returns the templates a protocol names.
func (p Protocol) TemplateSet() []string {
	t := clip.DefaultTemplates()
	if p.Templates == TemplatesImageNet80 {
		return t[:80] // CLIP Surgery's 85 are the 80 ImageNet templates, in order, then 5 of its own
	}
	return t
}

// Summary is the preset as one line per value, for the report header.
func (p Protocol) Summary() string {
	win := "whole image"
	if p.Window > 0 {
		win = fmt.Sprintf("windows %d stride %d", p.Window, p.Stride)
	}
	s := fmt.Sprintf("protocol %s on %s (from %s): resize keep-ratio to (%d, %d) [mmcv + cv2 bilinear], %s, "+
		"logit scale %g, prob_thd %g", p.Peer, p.Benchmark, p.Config, p.LongSide, p.ShortSide, win, p.LogitScale, p.ProbThd)
	if p.AreaThd > 0 {
		s += fmt.Sprintf(", area_thd %g", p.AreaThd)
	}
	if p.PadMultiple > 0 {
		s += fmt.Sprintf(", windows padded to a multiple of %d", p.PadMultiple)
	}
	if p.PAMRSteps > 0 {
		s += fmt.Sprintf(", PAMR %d steps dilations %v", p.PAMRSteps, p.PAMRDilations)
	}
	s += fmt.Sprintf(", classes %s, templates %s", p.ClassFile, p.Templates)
	if p.Assumed != "" {
		s += "; assumed: " + p.Assumed
	}
	return s
}
