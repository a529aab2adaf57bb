package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// SIGINT and SIGTERM stop the command at any stage (sent at several moments of a run over a
// folder, counted from the creation of its output folder: while loading, during the prompt
// ensemble, in the image loop) with status 130 / 143, a
// message, no temporary files left and only complete outputs. The time from the signal to the
// exit is logged (docs: within a second); the test only guards against a hang.
func TestCLISignals(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the command several times in a subprocess")
	}
	in := t.TempDir()
	demo, err := os.ReadFile(goldens.Path(t, "images", "demo.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		os.WriteFile(filepath.Join(in, "d"+string(rune('a'+i/26))+string(rune('a'+i%26))+".jpg"), demo, 0o644)
	}
	for _, c := range []struct {
		sig   syscall.Signal
		after time.Duration
	}{
		{syscall.SIGINT, 0},
		{syscall.SIGTERM, 300 * time.Millisecond},
		{syscall.SIGINT, 800 * time.Millisecond},
		{syscall.SIGTERM, 2 * time.Second},
	} {
		t.Run(c.sig.String()+"@"+c.after.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out") // created by the command once its handlers are in place
			args := []string{"-image", in, "-text", "dog", "-size", "512", "-npy", "-weights", tinyWeights(t), "-out", out}
			cmd := commandProcess(args)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			for start := time.Now(); ; time.Sleep(time.Millisecond) {
				if _, err := os.Stat(out); err == nil {
					break
				}
				if time.Since(start) > time.Minute {
					cmd.Process.Kill()
					t.Fatal("the command never created its output folder")
				}
			}
			time.Sleep(c.after)
			sent := time.Now()
			cmd.Process.Signal(c.sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatal("the command did not stop")
			}
			t.Logf("stopped %v after the signal", time.Since(sent).Round(time.Millisecond))
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 128+int(c.sig) {
				t.Fatalf("exit %v, want status %d; stderr %q", err, 128+int(c.sig), stderr.String())
			}
			if !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("stderr %q", stderr.String())
			}
			entries, _ := os.ReadDir(out)
			for _, e := range entries {
				p := filepath.Join(out, e.Name())
				switch {
				case strings.HasPrefix(e.Name(), "."):
					t.Errorf("temporary file left: %s", e.Name())
				case strings.HasSuffix(e.Name(), ".png"):
					readPNG(t, p) // fails the test on a partial file
				case strings.HasSuffix(e.Name(), ".npy"):
					readNpy(t, p)
				}
			}
			t.Logf("%d complete outputs", len(entries))
		})
	}
}
