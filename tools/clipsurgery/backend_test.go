package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/xlabackend"
)

// A bad GOMLX_BACKEND ends the command with one line naming the value and status 1, before the
// checkpoint is opened (the one given does not exist) or the output folder is made.
func TestBadBackendEndsTheCommand(t *testing.T) {
	noPlugins := t.TempDir()
	xlaWant := "this binary was built without XLA; rebuild with -tags xla"
	if xlabackend.Linked {
		xlaWant = `no PJRT plugin "cpu" found in ` + xlabackend.PluginPathEnv
	}
	for _, c := range []struct{ value, want string }{
		{"foo", `unknown backend "foo"`},
		{"xla:cpu", xlaWant},
		{"go:bogus", `unknown configuration option "bogus"`},
	} {
		t.Run(c.value, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			args := []string{"-offline", "-weights", filepath.Join(dir, "absent.safetensors"), "-image", filepath.Join(dir, "absent.png"), "-text", "cat", "-out", out}
			// The backend is chosen once per process: each value needs its own.
			cmd := commandProcess(args, "GOMLX_BACKEND="+c.value, xlabackend.PluginPathEnv+"="+noPlugins)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1; stderr %q", err, stderr.String())
			}
			msg := stderr.String()
			prefix := `clipsurgery: backend "` + c.value + `" (from GOMLX_BACKEND): `
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, c.want) {
				t.Errorf("stderr %q, want one line starting %q and containing %q", msg, prefix, c.want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("output folder made before the backend was checked (stat: %v)", err)
			}
		})
	}
}
