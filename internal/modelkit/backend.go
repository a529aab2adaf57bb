package modelkit

import (
	"fmt"
	"os"
	"sync"

	"github.com/clipsurgery/clipsurgery/internal/xlabackend"
	"github.com/gomlx/compute"
)

// BackendEnv is the environment variable the edges (Load without a backend, the tools, the
// notebooks) read the backend configuration from: "go", "go:parallelism=2", or "xla:cpu" /
// "xla:cuda" / "xla:/path/to/plugin.so" in a binary built with the xla tag (internal/xlabackend). Unset means DefaultGoConfig, never an
// auto-installing backend.
const BackendEnv = "GOMLX_BACKEND"

// DefaultGoConfig is the pure-Go backend's configuration used for an empty config. The ops of a
// graph run one at a time, each using all cores (running independent ops concurrently, the
// backend's default, was much slower on few cores: docs/BENCHMARKS.md), in the order the graph
// built them (creation_order), so InHeadGroups' groups run one after another and only one
// group's scores are alive at a time.
const DefaultGoConfig = "go:ops_sequential,creation_order"

var (
	backendsMu sync.Mutex
	backends   = map[string]compute.Backend{}
)

// NewBackend returns the backend for config ("" = DefaultGoConfig). A backend's buffers and
// thread pool are meant to be per process, so one config gives one backend, created on first
// use and shared by every model that asks for it.
func NewBackend(config string) (compute.Backend, error) {
	b, err := newBackend(config)
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", config, err)
	}
	return b, nil
}

func newBackend(config string) (compute.Backend, error) {
	if config == "" {
		config = DefaultGoConfig
	}
	backendsMu.Lock()
	defer backendsMu.Unlock()
	if b, ok := backends[config]; ok {
		return b, nil
	}
	b, err := xlabackend.New(config)
	if err != nil {
		return nil, err
	}
	backends[config] = b
	return b, nil
}

// BackendFromEnv is NewBackend(os.Getenv(BackendEnv)): the default of the edges.
func BackendFromEnv() (compute.Backend, error) {
	config := os.Getenv(BackendEnv)
	b, err := newBackend(config)
	if err != nil {
		return nil, fmt.Errorf("backend %q (from %s): %w", config, BackendEnv, err)
	}
	return b, nil
}

// SharedBuffers reports whether backend is the pure-Go backend, whose buffers are host memory it
// shares with Go (XLA on CPU may share buffers too, but they are its own): Weights then
// allocates the weights exactly sized (internal/backendbuf), and
// attention in groups of heads saves memory (ScoreBudgetFor). It is the one capability check
// behind everything specific to the pure-Go backend.
func SharedBuffers(backend compute.Backend) bool { return xlabackend.IsGoBackend(backend) }
