package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
)

// mainArgsEnv makes the test binary run the command's main with these arguments (separated by
// \x1f), for the tests that need a real process (signals).
const mainArgsEnv = "CLIPSURGERY_TEST_MAIN_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(mainArgsEnv); ok {
		os.Args = append([]string{"pipeline"}, strings.Split(args, "\x1f")...)
		main()
		os.Exit(0)
	}
	os.Exit(goldens.RunWithPrivateCache(m)) // never the user's checkpoint and text caches
}

// commandProcess is the command run with args in a subprocess.
func commandProcess(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mainArgsEnv+"="+strings.Join(args, "\x1f"))
	return cmd
}

// A bad command line or dataset is a one-line error before any pipeline runs.
func TestBadInput(t *testing.T) {
	voc := syntheticData(t, 2)
	out := t.TempDir()
	for _, tc := range []struct {
		job  func(context.Context, []string, *bytes.Buffer) error
		args []string
		want string
	}{
		{evalJob, []string{}, "-data is required"},
		{evalJob, []string{"-data", voc, "-methods", "surgery,nope"}, `unknown method "nope"`},
		{evalJob, []string{"-data", filepath.Join(out, "none")}, "bad dataset"},
		{evalJob, []string{"-data", voc, "-json", filepath.Join(out, "no", "r.json")}, "does not exist"},
		{evalJob, []string{"-data", voc, "-json", "nofs://x/r.json"}, `scheme "nofs" not registered`},
		{evalJob, []string{"-data", voc, "--runner", "nonesuch"}, `--runner "nonesuch": not in this binary`},
		{evalJob, []string{"-data", voc, "--runner", "flink"}, "needs --endpoint"},
		{evalJob, []string{"-data", voc, "--runner", "flink", "--endpoint", "localhost:1"}, "give -json, -csv or -table"},
		{evalJob, []string{"-data", voc, "-json", "r.json", "--runner", "flink", "--endpoint", "localhost:1"}, "-json r.json: with --runner flink give an absolute path"},
		{evalJob, []string{"-data", voc, "--nonesuch"}, "flag provided but not defined: -nonesuch"},
		{evalJob, []string{"-data", voc, "-weights", filepath.Join(out, "w.safetensors")}, "-weights"},
		{evalJob, []string{"-data", voc, "-protocol", "sclip", "-methods", "raw"}, "-methods: -protocol sclip sets it"},
		{evalJob, []string{"-data", voc, "-methods", "proxyclip"}, "give its VFM with -vfm"},
		{evalJob, []string{"-data", voc, "-vfm", "x/dino", "-json", "/tmp/r.json", "--runner", "flink", "--endpoint", "localhost:1"},
			"-vfm is read by proxyclip only"},
		{evalJob, []string{"-data", voc, "-methods", "proxyclip", "-vfm", "x/dino", "-json", "/tmp/r.json", "--runner", "flink",
			"--endpoint", "localhost:1"}, "-vfm x/dino: with --runner flink give an absolute path"},
		{explainJob, []string{"-text", "dog"}, "-image is required"},
		{explainJob, []string{"-image", voc, "-text", "dog", "-modifiers", "nope"}, `unknown modifier "nope"`},
		{explainJob, []string{"-image", voc, "-text", "dog", "-method", "proxyclip"}, "-method proxyclip needs -vfm"},
		{explainJob, []string{"-image", filepath.Join(out, "*.png"), "-text", "dog"}, "no image files match"},
		{explainJob, []string{"-image", "@" + filepath.Join(out, "list.txt"), "-text", "dog"}, "list.txt"},
		{explainJob, []string{"-image", voc, "-text", "not a label"}, "not a label"},
		{explainJob, []string{"-image", filepath.Join(voc, "JPEGImages"), "-text", "dog", "-threshold", "2"}, "-threshold 2"},
		// -templates auto: FLOSS ranks templates on all the images first; refused before anything loads.
		{explainJob, []string{"-image", voc, "-text", "dog", "-templates", "auto"}, "-templates auto: not in pipeline explain: FLOSS needs a pass over all the images"},
		{evalJob, []string{"-data", voc, "-methods", "naclip", "-templates", "auto"}, "-templates auto: not in pipeline evaluate: FLOSS needs a pass over all the images"},
	} {
		var stderr bytes.Buffer
		err := tc.job(context.Background(), tc.args, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.want)
		}
		if strings.Contains(stderr.String(), "Submitted job") || strings.Contains(stderr.String(), "[1/") {
			t.Errorf("%q: a pipeline ran:\n%s", tc.args, stderr.String())
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("bad runs wrote %d files in %s", len(entries), out)
	}
}

func evalJob(ctx context.Context, args []string, stderr *bytes.Buffer) error {
	return runEvaluate(ctx, args, &bytes.Buffer{}, stderr)
}

func explainJob(ctx context.Context, args []string, stderr *bytes.Buffer) error {
	return runExplain(ctx, args, &bytes.Buffer{}, stderr)
}

// Ctrl-C during an in-process run ends the command promptly with status 130 and a one-line
// message, writes no report and leaves no temporary file.
func TestInterrupt(t *testing.T) {
	weights := tinyWeights(t)
	data := t.TempDir()
	if err := evaluate.WriteSynthetic(data, evaluate.LayoutGeneric, 400); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, args := range [][]string{
		{"evaluate", "-data", data, "-weights", weights, "-templates", "a photo of a {}.", "-json", filepath.Join(out, "r.json")},
		{"explain", "-image", filepath.Join(data, "images"), "-text", "red circle", "-labels", "red circle,green square",
			"-weights", weights, "-templates", "a photo of a {}.", "-npy", "-out", out},
	} {
		cmd := commandProcess(args...)
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for !strings.Contains(stderr.String(), "/400]") && time.Now().Before(deadline) { // images under way
			time.Sleep(20 * time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		sent := time.Now()
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		var err error
		select {
		case err = <-waited:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%s: still running a minute after SIGINT\n%s", args[0], stderr.String())
		}
		t.Logf("%s: stopped %v after the signal", args[0], time.Since(sent).Round(time.Millisecond))
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 130 {
			t.Fatalf("%s: exit %v after SIGINT, want status 130\n%s", args[0], err, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "pipeline: interrupted") {
			t.Errorf("%s: last line %q", args[0], last)
		}
		entries, _ := os.ReadDir(out)
		for _, e := range entries {
			if strings.Contains(e.Name(), tempMarker) || e.Name() == "r.json" {
				t.Errorf("%s: left %s", args[0], e.Name())
			}
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine of exec and the test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
