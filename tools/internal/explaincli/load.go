package explaincli

import (
	"context"
	"fmt"
	"io"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// LoadExplainer loads -weights (offline) or -model (cache, else download with a progress bar on
// stderr) on c.Backend, with the prompt-embedding cache TextCache says.
func LoadExplainer(ctx context.Context, c *Config, stderr io.Writer) (*surgery.Explainer, error) {
	m, err := c.Ckpt.Load(ctx, clip.LoadOptions{Progress: stderr, TextTower: c.TextWeights, Backend: c.Backend})
	if err != nil {
		return nil, err
	}
	tc := c.TextCache(stderr)
	return surgery.NewExplainerWith(m, surgery.ExplainerOptions{TextCache: tc, NoTextCache: tc == nil})
}

// TextCache is the prompt-embedding cache the command uses: nil when -no-text-cache or
// CLIPSURGERY_TEXT_CACHE=0 turn it off.
func (c *Config) TextCache(stderr io.Writer) *clip.TextCache {
	if c.NoTextCache {
		return nil
	}
	return clip.DefaultTextCache(c.Ckpt.CacheDir, stderr)
}

// LoadSAM opens the -sam checkpoint (file or released name); nil without -sam.
func LoadSAM(ctx context.Context, c *Config, stderr io.Writer) (*sam.Predictor, error) {
	if c.SAM == "" {
		return nil, nil
	}
	m, err := sam.Load(ctx, c.SAM, sam.LoadOptions{CacheDir: c.Ckpt.CacheDir, Offline: c.Ckpt.Offline, Progress: stderr, Backend: c.Backend})
	if err != nil {
		return nil, fmt.Errorf("-sam: %w", err)
	}
	return sam.NewPredictor(m), nil
}
