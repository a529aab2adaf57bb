package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// mainArgsEnv makes the test binary run the command's main with these arguments (separated by
// \x1f), for the tests that need a real process: signals, the once-per-process backend choice.
const mainArgsEnv = "CLIPSURGERY_TEST_MAIN_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(mainArgsEnv); ok {
		os.Args = append([]string{"clipsurgery"}, strings.Split(args, "\x1f")...)
		main()
		os.Exit(0)
	}
	os.Exit(goldens.RunWithPrivateCache(m)) // never the user's checkpoint and text caches
}

// commandProcess is the command run with args in a subprocess, with env added to this
// process's environment.
func commandProcess(args []string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), mainArgsEnv+"="+strings.Join(args, "\x1f")), env...)
	return cmd
}
