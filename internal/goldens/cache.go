package goldens

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// RunWithPrivateCache runs a package's tests with CLIPSURGERY_CACHE set to a new temporary folder
// (removed afterwards), so that they never read or fill the user's ~/.cache/clip: a prompt
// embedding stored there by an earlier run would otherwise let a test skip the very encoding it
// checks. The Hugging Face side is private too: HF_HUB_CACHE is a folder inside it, HF_ENDPOINT a
// loopback address that refuses connections (a test never reaches the real hub; those that want a
// hub start internal/fakehub and point HF_ENDPOINT at it), and HF_HUB_OFFLINE is cleared. Use it from
// TestMain: os.Exit(goldens.RunWithPrivateCache(m)).
func RunWithPrivateCache(m *testing.M) int {
	dir, err := os.MkdirTemp("", "clipsurgery-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test cache folder:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	for k, v := range map[string]string{
		"CLIPSURGERY_CACHE": dir,
		"HF_HUB_CACHE":      filepath.Join(dir, "huggingface", "hub"),
		"HF_ENDPOINT":       "http://127.0.0.1:1",
		"HF_HUB_OFFLINE":    "",
	} {
		if err := os.Setenv(k, v); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}
