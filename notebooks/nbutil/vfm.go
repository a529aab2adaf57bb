package nbutil

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// EnvVFM is ProxyCLIP's vision foundation model for the notebooks: a DINO / DINOv2 or SAM name or
// checkpoint (surgery.LoadVFM); unset = DefaultVFM. CI points it at the tiny DINOv2 of
// testdata/dino.
const EnvVFM = "CLIPSURGERY_VFM"

// DefaultVFM is the VFM the notebooks load when EnvVFM is unset (ProxyCLIP's own DINOv2 choice is
// ViT-B/14 with registers; the plain ViT-B/14 here).
const DefaultVFM = "dinov2-b14"

// LoadVFM loads $CLIPSURGERY_VFM, else DefaultVFM (from the Hugging Face hub or the caches, as
// the clipsurgery command's -vfm), with offline mode from $CLIPSURGERY_OFFLINE; it returns the
// source it used.
func LoadVFM(ctx context.Context, progress io.Writer) (surgery.VFM, string, error) {
	src := strings.TrimSpace(os.Getenv(EnvVFM))
	if src == "" {
		src = DefaultVFM
	}
	v, err := surgery.LoadVFM(ctx, src, surgery.VFMLoadOptions{Options: registry.Options{Progress: progress}})
	if err != nil {
		return nil, "", fmt.Errorf("%s=%q: %w", EnvVFM, src, err)
	}
	return v, src, nil
}

// WithVFM gives opt the VFM when its method reads one (ProxyCLIP) and leaves it as it is
// otherwise, so that a loop over every method can pass the same VFM to each.
func WithVFM(opt surgery.Options, vfm surgery.VFM) surgery.Options {
	if clip.ReadsVFM(string(opt.Method)) {
		opt.VFM = vfm
	}
	return opt
}
