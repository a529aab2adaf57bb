// Package xlabackend creates the compute backend that a GOMLX_BACKEND configuration names,
// and makes selecting GoMLX's XLA backend (go-xla, PJRT plugins) honest: the backend is linked
// only in a binary built with the xla tag (Linked), its plugin is looked for and checked before
// go-xla loads it, and every failure is one line naming what is missing and how to get it.
// Nothing is ever downloaded: go-xla's autoinstall package is not linked.
package xlabackend

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend" // the pure-Go backend, always present
)

// Sentinels for errors.Is.
var (
	ErrUnknownBackend = errors.New("unknown backend")
	ErrNotLinked      = errors.New("this binary was built without XLA")
	ErrNoPlugin       = errors.New("no PJRT plugin")
	ErrBadPlugin      = errors.New("bad PJRT plugin")
	ErrNoGPU          = errors.New("no NVIDIA GPU")
)

// xlaNames are the names go-xla registers its backend under.
var xlaNames = []string{"xla", "stablehlo", "hlo", "shlo"}

// IsXLA reports whether config ("xla:cpu", "xla:cuda,notf32", …) selects the XLA backend.
func IsXLA(config string) bool {
	name, _, _ := strings.Cut(config, ":")
	return slices.Contains(xlaNames, name)
}

// installer is go-xla's plugin installer command (a separate module; it downloads, we never do).
const installer = "go run github.com/gomlx/go-xla/cmd/pjrt_installer@latest"

// installCommand is the installer command for the plugin called name (or at path name).
func installCommand(name string) string {
	plugin := "cpu|cuda13"
	if IsCUDAName(name) {
		plugin = "cuda13"
	} else if base := filepath.Base(name); base == "cpu" || strings.HasPrefix(base, "cpu_v") || strings.Contains(base, "_cpu") {
		plugin = "cpu"
	}
	return fmt.Sprintf("`%s -plugin=%s -path=~/.local/lib/go-xla`", installer, plugin)
}

// Prepare checks config and returns the configuration to give compute.NewWithConfig. For XLA
// the plugin is resolved here to an absolute path of a checked file, so go-xla neither searches
// (its search panics on a plugin-named file that is not a library) nor downloads; and float32
// matrix products stay float32 ("notf32") unless the config says "tf32": go-xla's default on
// CUDA, TF32, keeps 10 mantissa bits, far outside the golden tolerances. Unknown backend names,
// XLA in a binary without it, and missing, unusable or GPU-less plugins are errors. An empty
// config means the pure-Go backend: XLA is never chosen silently.
func Prepare(config string) (string, error) {
	if config == "" {
		return gobackend.BackendName, nil
	}
	name, rest, _ := strings.Cut(config, ":")
	if !slices.Contains(xlaNames, name) {
		if !slices.Contains(compute.List(), name) {
			return "", fmt.Errorf("%w %q: use %q (the default, pure Go) or \"xla:cpu\" / \"xla:cuda\" (a binary built with -tags xla)",
				ErrUnknownBackend, name, gobackend.BackendName)
		}
		return config, nil
	}
	if !Linked {
		return "", fmt.Errorf("%w; rebuild with -tags xla (go build -tags xla ./...) or use the default go backend", ErrNotLinked)
	}
	plugin, options, hasOptions := strings.Cut(rest, ",")
	path, err := resolvePlugin(plugin)
	if err != nil {
		return "", err
	}
	resolved := name + ":" + path
	if hasOptions {
		resolved += "," + options
	}
	if !strings.Contains(options, "tf32") {
		resolved += ",notf32"
	}
	return resolved, nil
}

// resolvePlugin returns the checked absolute path of the plugin that name ("", "cpu", "cuda",
// or a file path) stands for.
func resolvePlugin(name string) (string, error) {
	if strings.ContainsRune(name, filepath.Separator) {
		path, err := filepath.Abs(name)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrBadPlugin, err)
		}
		if err := CheckPlugin(path); err != nil {
			return "", fmt.Errorf("%w; give the path of an installed plugin (install one with %s)", err, installCommand(path))
		}
		return path, nil
	}
	if IsCUDAName(name) && !HasNVIDIAGPU() {
		return "", fmt.Errorf("%w on this machine (no /dev/nvidia* device) for plugin %q; use xla:cpu or the default go backend", ErrNoGPU, name)
	}
	dirs := SearchDirs()
	path, found := "", false
	if name == "" { // go-xla's preference: the GPU when there is one, else the CPU
		if HasNVIDIAGPU() {
			path, found = FindPlugin("cuda", dirs)
		}
		if !found {
			name = "cpu"
		}
	}
	if !found {
		path, found = FindPlugin(name, dirs)
	}
	if !found {
		return "", fmt.Errorf("%w %q found in %s; install it with %s or set %s to the directory that holds it",
			ErrNoPlugin, name, describeDirs(dirs), installCommand(name), PluginPathEnv)
	}
	if err := CheckPlugin(path); err != nil {
		return "", fmt.Errorf("%w; remove or reinstall it (%s)", err, installCommand(name))
	}
	return path, nil
}

// describeDirs names the searched directories for an error message, briefly.
func describeDirs(dirs []string) string {
	if _, set := os.LookupEnv(PluginPathEnv); set {
		return fmt.Sprintf("%s (%s)", PluginPathEnv, strings.Join(dirs, ":"))
	}
	return fmt.Sprintf("~/.local/lib/go-xla, /usr/local/lib/go-xla and the library path (%s unset)", PluginPathEnv)
}

// New creates the backend config names (see Prepare). Errors are one line; a panic in the
// backend's constructor (compute panics on names it does not know; go-xla's cgo layer may too)
// becomes an error.
func New(config string) (b compute.Backend, err error) {
	resolved, err := Prepare(config)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, oneLine(fmt.Errorf("go-xla failed on %q (%v): is it a working PJRT plugin?", resolved, r))
		}
	}()
	b, err = compute.NewWithConfig(resolved)
	if err != nil {
		return nil, oneLine(err)
	}
	return b, nil
}

// oneLine keeps err (for errors.Is/As) but prints it on one line.
func oneLine(err error) error {
	if !strings.ContainsAny(err.Error(), "\r\n") {
		return err
	}
	return lineError{err}
}

type lineError struct{ error }

func (e lineError) Error() string {
	return strings.Join(strings.Fields(strings.ReplaceAll(e.error.Error(), "\n", " ")), " ")
}
func (e lineError) Unwrap() error { return e.error }

// IsGoBackend reports whether b is GoMLX's pure-Go backend, for the choices that suit only it:
// exactly sized weight buffers (internal/backendbuf patches its buffer type), its configuration
// (DefaultGoConfig's sequential creation-order schedule) and attention in groups of heads
// (memory bounded only under that schedule). The go backend's String() is its registered name.
func IsGoBackend(b compute.Backend) bool {
	return b != nil && b.String() == gobackend.BackendName
}
