package main

import (
	"fmt"
	"io"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
)

// textCacheCommand runs -text-cache-info / -text-cache-clear: it prints where the cache is and
// what it holds, clearing it first if asked.
func textCacheCommand(c *config, stdout io.Writer) error {
	tc, err := clip.OpenTextCache(clip.TextCacheOptions{Root: c.Ckpt.CacheDir})
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
