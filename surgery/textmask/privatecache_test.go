package textmask

import (
	"os"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// TestMain keeps the tests away from the user's checkpoint and text caches.
func TestMain(m *testing.M) { os.Exit(goldens.RunWithPrivateCache(m)) }
