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
	} {
		args := append([]string{"-data", data, "-weights", weights, "-quiet"}, c.args...)
		if err := run(context.Background(), args, &stdout, &stderr); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v", c.args, err)
		}
	}
}
