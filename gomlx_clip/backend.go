package clip

import (
	"fmt"
	"os"
	"sync"

	"github.com/clipsurgery/clipsurgery/internal/xlabackend"
	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // the pure-Go backend, our default: nothing to install
)

// BackendEnv selects the backend ("go", "go:parallelism=2", or "xla:cpu" / "xla:cuda" /
// "xla:/path/to/plugin.so" in a binary built with the xla tag, see internal/xlabackend). Unset
// means the pure-Go backend; XLA plugins are never downloaded.
const BackendEnv = "GOMLX_BACKEND"

var (
	sharedBackendOnce sync.Once
	sharedBackend     compute.Backend
	sharedBackendErr  error
)

// DefaultGoConfig is the pure-Go backend's configuration when GOMLX_BACKEND is unset. The ops
// of a graph run one at a time (each op still uses all cores): running independent ops
// concurrently, the backend's default, made the ViT-B/16 encoder ~1.9x slower on 2 cores
// (tools/bench, paired runs: 512 px 2.71 s vs 1.43 s). They run in the order the graph built
// them (creation_order), so AttendHeads' groups of heads run one after another and only one
// group's scores are alive at a time; the backend's default order (longest path to the output
// first) runs the groups side by side, step by step.
const DefaultGoConfig = "go:ops_sequential,creation_order"

// DefaultBackend returns the process-wide backend chosen by GOMLX_BACKEND (default
// DefaultGoConfig), created on first use. Models share it: its buffers and thread pool are per
// process.
func DefaultBackend() (compute.Backend, error) {
	sharedBackendOnce.Do(func() {
		config := os.Getenv(BackendEnv)
		if config == "" {
			config = DefaultGoConfig
		}
		sharedBackend, sharedBackendErr = xlabackend.New(config)
		if sharedBackendErr != nil {
			sharedBackendErr = fmt.Errorf("clip: backend %q (from %s): %w", config, BackendEnv, sharedBackendErr)
		}
	})
	return sharedBackend, sharedBackendErr
}
