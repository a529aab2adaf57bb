package evaluate

import (
	"context"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// ProxyCLIP's presets: its segmentor's defaults (windows 336, stride 112, logit scale 40, short
// side 336) with what each of its configs changes (prob_thd on VOC21, Context60, COCO-Object;
// Cityscapes and ADE20k at 448, Cityscapes in 224 windows), and its own class files where they
// differ from ClearCLIP's.
func TestProxyCLIPPresets(t *testing.T) {
	for _, c := range []struct {
		bench                 string
		short, window, stride int
		prob                  float64
		classFile             string
	}{
		{"voc21", 336, 336, 112, 0.2, "proxyclip/cls_voc21.txt"},
		{"voc20", 336, 336, 112, 0, "clearclip/cls_voc20.txt"},
		{"context60", 336, 336, 112, 0.15, "clearclip/cls_context60.txt"},
		{"coco_object", 336, 336, 112, 0.25, "proxyclip/cls_coco_object.txt"},
		{"cityscapes", 448, 224, 112, 0, "clearclip/cls_city_scapes.txt"},
		{"ade20k", 448, 336, 112, 0, "clearclip/cls_ade20k.txt"},
	} {
		p, err := LookupProtocol("proxyclip", c.bench)
		if err != nil {
			t.Fatal(err)
		}
		if p.ShortSide != c.short || p.LongSide != 2048 || p.Window != c.window || p.Stride != c.stride || p.ProbThd != c.prob ||
			p.LogitScale != 40 || p.ClassFile != c.classFile || p.PadTo != 56 || p.Templates != TemplatesImageNet80 {
			t.Errorf("%s: %+v", c.bench, p)
		}
		if cs, err := PeerClasses(p.ClassFile); err != nil || len(cs) == 0 {
			t.Errorf("%s: class file %s: %v", c.bench, p.ClassFile, err)
		}
	}
	cs, _ := PeerClasses("proxyclip/cls_voc21.txt")
	if len(cs) != 21 || len(cs[0].Names) != 26 || cs[0].Names[0] != "sky" || cs[20].Names[0] != "tvmonitor" {
		t.Errorf("ProxyCLIP's VOC21 classes: %d, background %v", len(cs), cs[0].Names)
	}
}

// A ProxyCLIP preset end to end on the tiny CLIP and a tiny DINOv2: logits at the original size,
// one class map.
func TestPredictProtocolProxyCLIP(t *testing.T) {
	ex := tinyExplainer(t)
	vfm, err := surgery.LoadVFM(context.Background(), "../../testdata/dino/models/dinov2_tiny_hf", surgery.VFMLoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := LookupProtocol("proxyclip", "voc21")
	if err != nil {
		t.Fatal(err)
	}
	classes, err := PeerClasses(p.ClassFile)
	if err != nil {
		t.Fatal(err)
	}
	const w, h = 300, 200 // resized to 504×336: two windows across
	pix := &imageprep.Pixels{W: w, H: h, C: 3, Pix: make([]uint8, w*h*3)}
	for i := range pix.Pix {
		pix.Pix[i] = uint8((i*7 + i/(3*w)*5) % 256)
	}
	classes = classes[1:4] // three single-name classes: the prompt ensemble is the slow part on the tiny model
	res, err := PredictProtocolWithVFM(context.Background(), ex, vfm, pix, p, classes, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.ResizedH != 336 || res.ResizedW != 504 || len(res.Pred) != w*h || len(res.Logits) != 3 {
		t.Fatalf("resized %dx%d, %d logits, %d labels", res.ResizedW, res.ResizedH, len(res.Logits), len(res.Pred))
	}
}
