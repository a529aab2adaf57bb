package main

import (
	"fmt"
	"io"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
)

// textCache is the prompt-embedding cache the command uses: nil when -no-text-cache or
// CLIPSURGERY_TEXT_CACHE=0 turn it off.
func (c *config) textCache(stderr io.Writer) *clip.TextCache {
	if c.noTextCache {
		return nil
	}
	return clip.DefaultTextCache(c.ckpt.CacheDir, stderr)
}

// textCacheCommand runs -text-cache-info / -text-cache-clear: it prints where the cache is and
// what it holds, clearing it first if asked.
func textCacheCommand(c *config, stdout io.Writer) error {
	tc, err := clip.OpenTextCache(clip.TextCacheOptions{Root: c.ckpt.CacheDir})
	if err != nil {
		return err
	}
	if c.textCacheClear {
		if err := tc.Clear(); err != nil {
			return fmt.Errorf("clearing the text cache: %w", err)
		}
	}
	st, err := tc.Stats()
	if err != nil {
		return fmt.Errorf("text cache %s: %w", tc.Dir(), err)
	}
	state := "on"
	if clip.TextCacheDisabled() {
		state = "off (" + clip.EnvTextCache + ")"
	}
	fmt.Fprintf(stdout, "text cache %s: %d prompt embeddings, %.1f MB (cap %d MB, least recently used evicted), %s\n",
		st.Dir, st.Entries, float64(st.Bytes)/(1<<20), clip.DefaultTextCacheMaxBytes>>20, state)
	return nil
}
