package clip

import (
	"fmt"
	"os"
	"sync"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // the pure-Go backend, our default: nothing to install
)

// BackendEnv selects the backend ("go", "go:parallelism=2", or "xla:cpu" / "xla:cuda" in a
// binary built with the xla tag). Unset means the pure-Go backend, never an auto-installing one.
const BackendEnv = "GOMLX_BACKEND"

var (
	sharedBackendOnce sync.Once
	sharedBackend     compute.Backend
	sharedBackendErr  error
)

// DefaultBackend returns the process-wide backend chosen by GOMLX_BACKEND (default "go"),
// created on first use. Models share it: its buffers and thread pool are per process.
func DefaultBackend() (compute.Backend, error) {
	sharedBackendOnce.Do(func() {
		config := os.Getenv(BackendEnv)
		if config == "" {
			config = "go"
		}
		sharedBackend, sharedBackendErr = compute.NewWithConfig(config)
		if sharedBackendErr != nil {
			sharedBackendErr = fmt.Errorf("clip: backend %q (from %s): %w", config, BackendEnv, sharedBackendErr)
		}
	})
	return sharedBackend, sharedBackendErr
}
