package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
)

// TestEvaluateProxyCLIP: proxyclip evaluated beside another method, its VFM (-vfm) loaded once and
// given to it alone; -vfm and proxyclip go together.
func TestEvaluateProxyCLIP(t *testing.T) {
	weights := goldens.Path(t, "models", "vit16.openai.safetensors")
	data := synthetic(t, evaluate.LayoutVOC)
	const vfm = "../../testdata/dino/models/dinov2_tiny_hf"
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-data", data, "-weights", weights, "-methods", "proxyclip,sclip", "-vfm", vfm,
		"-size", "112", "-templates", "a photo of a {}.", "-limit", "2", "-quiet"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if out := stdout.String(); !strings.Contains(out, "2 of 2 images evaluated") || !strings.Contains(out, "proxyclip") ||
		!strings.Contains(out, "sclip") {
		t.Errorf("stdout:\n%s", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-methods", "proxyclip"}, "give its VFM with -vfm"},
		{[]string{"-methods", "sclip", "-vfm", vfm}, "-vfm is read by proxyclip only"},
		{[]string{"-benchmark", "voc21", "-protocol", "proxyclip"}, "give its VFM with -vfm"},
		{[]string{"-benchmark", "voc21", "-protocol", "sclip", "-vfm", vfm}, "-vfm is read by proxyclip only"},
	} {
		args := append([]string{"-data", data, "-weights", weights, "-quiet"}, c.args...)
		if err := run(context.Background(), args, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v", c.args, err)
		}
	}
}

// -protocol proxyclip -vfm: ProxyCLIP's preset, its windows fed to the VFM; the header names its
// padding, class file and source.
func TestEvaluateProxyCLIPProtocol(t *testing.T) {
	weights := goldens.Path(t, "models", "vit16.openai.safetensors")
	data := synthetic(t, evaluate.LayoutVOC)
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-data", data, "-weights", weights, "-benchmark", "voc21", "-protocol", "proxyclip",
		"-vfm", "../../testdata/dino/models/dinov2_tiny_hf", "-limit", "1", "-quiet"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	for _, s := range []string{"protocol proxyclip on voc21", "windows         336 px, stride 112", "pad windows     to a multiple of 56",
		"classes         proxyclip/cls_voc21.txt", "mc-lan/ProxyCLIP@e7b767fb configs/cfg_voc21.py", "proxyclip_segmentor.py", "1 of 1 images"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, stdout.String())
		}
	}
}
