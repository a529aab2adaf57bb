package nbutil

import (
	"context"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// TestLoadVFM: $CLIPSURGERY_VFM is loaded (the tiny DINOv2 CI uses); a bad value names the
// variable; WithVFM gives the VFM to ProxyCLIP only.
func TestLoadVFM(t *testing.T) {
	t.Setenv(EnvVFM, "../../testdata/dino/models/dinov2_tiny_hf")
	v, src, err := LoadVFM(context.Background(), nil)
	if err != nil || !strings.HasSuffix(src, "dinov2_tiny_hf") || !strings.HasPrefix(v.Name(), "dinov2(") {
		t.Fatalf("%v %q %v", v, src, err)
	}
	if o := WithVFM(surgery.Options{Method: clip.MethodProxyCLIP}, v); o.VFM == nil {
		t.Error("proxyclip got no VFM")
	}
	if o := WithVFM(surgery.Options{Method: clip.MethodSCLIP}, v); o.VFM != nil {
		t.Error("sclip got the VFM")
	}
	t.Setenv(EnvVFM, "dinov9-x")
	if _, _, err := LoadVFM(context.Background(), nil); err == nil || !strings.Contains(err.Error(), EnvVFM) {
		t.Errorf("bad value: %v", err)
	}
}
