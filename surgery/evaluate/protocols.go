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
	// PadTo pads a window whose side is not a multiple of PadTo to one, centred (the odd pixel
	// right and bottom), with zeros of the normalised input, and cuts the window's logits back out
	// (the peers' compute_padsize): PadToPatch = the CLIP model's patch size (ClearCLIP's
	// compute_padsize(H, W, patch_size)), 56 for ProxyCLIP (compute_padsize(H, W, 56): 56 is a multiple of
	// DINO's 8 and DINOv2's 14, and CLIP's convolution then drops its own remainder).
	// 0 = no padding: the patch convolution drops the remainder and the grid's logits are
	// stretched over the whole window (SCLIP, NACLIP).
	PadTo int `json:"pad_to"`
	// InterpolateTwice: whole-image logits are resized to the network input, then to the original
	// size (NACLIP: forward_feature, then predict); otherwise straight to the original size
	// (SCLIP's and ClearCLIP's forward_feature with logit_size). Windows are always resized to the
	// window, averaged, then resized to the original size.
	InterpolateTwice bool `json:"interpolate_twice"`
	// LogitScale multiplies the logits before the softmax over the query names.
	LogitScale float64 `json:"logit_scale"`
	// ProbThd sets class 0 where the best class probability is below it (0 = none).
	ProbThd float64 `json:"prob_thd"`
	// AreaThd (SCLIP) zeroes the classes predicted on at most this fraction of the image's
	// foreground pixels (0 = none).
	AreaThd float64 `json:"area_thd"`
	// PAMRSteps and PAMRDilations are NACLIP's PAMR refinement (0 steps = none).
	PAMRSteps     int   `json:"pamr_steps"`
	PAMRDilations []int `json:"pamr_dilations"`
	// ClassFile is the peer's class-name file (PeerClasses); Templates names the template set.
	ClassFile string `json:"class_file"`
	Templates string `json:"templates"`
	// FeatureSurgery is on only for CLIP Surgery's preset.
	FeatureSurgery bool `json:"feature_surgery"`
	// Assumed lists what is not from a released config (CLIP Surgery's preset).
	Assumed string `json:"assumed,omitempty"`
}

// PadToPatch is Protocol.PadTo's value for "the model's patch size".
const PadToPatch = -1

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

// peerSource is where a peer's values are read: its repository at the commit the protocol goldens
// ran (ProxyCLIP: the commit testdata/dino's generator imports), the segmentor whose __init__
// defaults the configs override, and what else sets a value.
type peerSource struct{ repo, commit, segmentor, note string }

var peerSources = map[clip.Method]peerSource{
	clip.MethodSCLIP:  {"wangf3014/SCLIP", "b56bd301", "clip_segmentor.py", ""},
	clip.MethodNACLIP: {"sinahmr/NACLIP", "0cac3a65", "naclip.py", "; PAMR on as test_all.sh runs the paper's setting (eval.py --pamr on)"},
	clip.MethodClearCLIP: {"mc-lan/ClearCLIP", "ad68a404", "clearclip_segmentor.py",
		"; model_type 'ClearCLIP' (base_config.py ships 'vanilla', the paper's ClearCLIP rows set 'ClearCLIP')"},
	clip.MethodProxyCLIP: {"mc-lan/ProxyCLIP", "e7b767fb", "proxyclip_segmentor.py",
		"; the VFM is the run's (-vfm; its configs name dino_vitb8, dinov2_vitb14_reg, sam vit_b), beta 1.2, gamma 3.0"},
}

// proxyCLIPClassFiles are ProxyCLIP's class files that differ from ClearCLIP's (its configs/cls_*.txt,
// "; " separators written ", "); its others equal ClearCLIP's byte for byte.
var proxyCLIPClassFiles = map[string]string{"voc21": "proxyclip/cls_voc21.txt", "coco_object": "proxyclip/cls_coco_object.txt"}

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
		ClassFile: "sclip/" + file}
	if src, ok := peerSources[spec.Name]; ok {
		p.Config = fmt.Sprintf("%s@%s configs/cfg_%s.py over configs/base_config.py and %s's defaults%s", src.repo,
			src.commit, configName(b.Name), src.segmentor, src.note)
	}
	base := spec.Protocol
	if spec.Name == clip.MethodSurgery { // no released segmentation config: SCLIP's geometry
		sc, _ := clip.LookupMethod(string(clip.MethodSCLIP))
		base = sc.Protocol
		p.FeatureSurgery, p.Templates, p.LogitScale = true, TemplatesSurgery85, DefaultLogitScale
		p.Config = "none released: xmed-lab/CLIP_Surgery demo.py's feature surgery and templates, SCLIP's geometry"
		p.Assumed = "CLIP Surgery's paper gives no segmentation protocol: SCLIP's resize, windows and class files, " +
			"feature surgery on, CLIP Surgery's 85 templates, logit scale 40, no thresholds"
	}
	p.ShortSide, p.Window, p.Stride = base.ShortSide, base.Window, base.Stride
	switch spec.Name {
	case clip.MethodSCLIP:
		p.LogitScale = 40
	case clip.MethodNACLIP:
		p.LogitScale, p.PAMRSteps, p.PAMRDilations, p.InterpolateTwice = 40, 10, []int{8, 16}, true
	case clip.MethodClearCLIP:
		p.LogitScale, p.PadTo, p.ClassFile = 50, PadToPatch, b.ClassFile
	case clip.MethodProxyCLIP:
		p.LogitScale, p.PadTo, p.ClassFile = 40, 56, cmp.Or(proxyCLIPClassFiles[b.Name], b.ClassFile)
	}
	c := protocolCells[spec.Name][b.Name]
	if spec.Name == clip.MethodSurgery { // SCLIP's resize and windows on this benchmark, nothing else
		sc := protocolCells[clip.MethodSCLIP][b.Name]
		c = cell{short: sc.short, window: sc.window, stride: sc.stride}
	}
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

// Summary is the preset for the report header: every value, one per line, then where they come from.
func (p Protocol) Summary() string {
	onOff := map[bool]string{true: "yes", false: "no"}
	win := "none: the whole image"
	if p.Window > 0 {
		win = fmt.Sprintf("%d px, stride %d", p.Window, p.Stride)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "protocol %s on %s\n", p.Peer, p.Benchmark)
	for _, kv := range [][2]string{
		{"resize", fmt.Sprintf("keep ratio within (%d, %d) [mmcv's rule, OpenCV bilinear]", p.LongSide, p.ShortSide)},
		{"windows", win},
		{"pad windows", padSummary(p.PadTo)},
		{"resize twice", onOff[p.InterpolateTwice]},
		{"logit scale", fmt.Sprint(p.LogitScale)},
		{"prob_thd", fmt.Sprint(p.ProbThd)},
		{"area_thd", fmt.Sprint(p.AreaThd)},
		{"PAMR", fmt.Sprintf("%d steps, dilations %v", p.PAMRSteps, p.PAMRDilations)},
		{"classes", p.ClassFile},
		{"templates", p.Templates},
		{"feature surgery", onOff[p.FeatureSurgery]},
		{"from", p.Config},
	} {
		fmt.Fprintf(&b, "  %-16s%s\n", kv[0], kv[1])
	}
	if p.Assumed != "" {
		fmt.Fprintf(&b, "  %-16s%s\n", "assumed", p.Assumed)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// padSummary says what Protocol.PadTo pads to.
func padSummary(n int) string {
	switch {
	case n == PadToPatch:
		return "to a multiple of the patch size"
	case n > 0:
		return fmt.Sprintf("to a multiple of %d", n)
	}
	return "no"
}
