package explaincli

import (
	"context"
	"fmt"
	"io"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// checkVFMFlag refuses -vfm without a method that reads it, and such a method without -vfm, before
// anything loads. The model's default method reads none.
func checkVFMFlag(method clip.Method, vfm string) error {
	needs := clip.ReadsVFM(string(method))
	switch {
	case needs && vfm == "":
		return fmt.Errorf("-method %s needs -vfm: a DINO / DINOv2 name (e.g. dinov2-b14), a SAM name (sam_vit_b) or a checkpoint", method)
	case !needs && vfm != "":
		return fmt.Errorf("-vfm is read by -method proxyclip only (-method is %q)", method)
	}
	return nil
}

// LoadVFM loads the -vfm model on c.Backend (once per run: set it as c.VFMModel); nil without -vfm.
func LoadVFM(ctx context.Context, c *Config, stderr io.Writer) (surgery.VFM, error) {
	if c.VFM == "" {
		return nil, nil
	}
	v, err := surgery.LoadVFM(ctx, c.VFM, surgery.VFMLoadOptions{
		Options: registry.Options{CacheDir: c.Ckpt.CacheDir, Offline: c.Ckpt.Offline, Progress: stderr}, Backend: c.Backend})
	if err != nil {
		return nil, fmt.Errorf("-vfm: %w", err)
	}
	return v, nil
}
