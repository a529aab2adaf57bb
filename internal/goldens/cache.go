package goldens

import (
	"fmt"
	"os"
	"testing"
)

// RunWithPrivateCache runs a package's tests with CLIPSURGERY_CACHE set to a new temporary folder
// (removed afterwards), so that they never read or fill the user's ~/.cache/clip: a prompt
// embedding stored there by an earlier run would otherwise let a test skip the very encoding it
// checks. Use it from TestMain: os.Exit(goldens.RunWithPrivateCache(m)).
func RunWithPrivateCache(m *testing.M) int {
	dir, err := os.MkdirTemp("", "clipsurgery-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test cache folder:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := os.Setenv("CLIPSURGERY_CACHE", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
