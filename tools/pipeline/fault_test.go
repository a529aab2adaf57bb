package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
)

// Faults. Prism (v2.78.0) does not retry a failed bundle: the job fails (its execute loop fails
// the bundle and ends the job; Flink, Spark and Dataflow retry). So these tests check what makes
// a retry safe on any runner, and what a failed run leaves:
//   - a failure injected into one image's first attempt, after the DoFn emitted its output, fails
//     the run with a one-line error and no report; complete files only;
//   - the next attempt (here a second run) gives the clean run's report and files, byte for byte;
//   - the DoFn run twice on the same element gives the same output (idempotent), so a runner's
//     retry of a bundle writes the same files under the same names and combines the same report
//     (once: a runner combines only the outputs of the committed attempt).

func init() {
	register.DoFn4x1[context.Context, imageRef, func(partial), func(string), error](&flakyEvaluateFn{})
	register.DoFn2x1[context.Context, imageJob, error](&flakyExplainFn{})
}

// attempts counts the attempts at each element in this process (the workers are this process).
var attempts = struct {
	sync.Mutex
	n map[string]int
}{n: map[string]int{}}

func attempt(key string) int {
	attempts.Lock()
	defer attempts.Unlock()
	attempts.n[key]++
	return attempts.n[key]
}

var errInjected = errors.New("injected failure of the first attempt")

// flakyEvaluateFn fails its first attempt at image FailID, after emitting the image's report.
type flakyEvaluateFn struct {
	Inner  *evaluateFn
	FailID string
}

func (f *flakyEvaluateFn) Setup(ctx context.Context) error { return f.Inner.Setup(ctx) }

func (f *flakyEvaluateFn) ProcessElement(ctx context.Context, ref imageRef, emit func(partial), skip func(string)) error {
	if err := f.Inner.ProcessElement(ctx, ref, emit, skip); err != nil {
		return err
	}
	if ref.ID == f.FailID && attempt("evaluate/"+f.FailID) == 1 {
		return errInjected
	}
	return nil
}

// flakyExplainFn fails its first attempt at image FailPath, after writing the image's files.
type flakyExplainFn struct {
	Inner    *explainFn
	FailPath string
}

func (f *flakyExplainFn) Setup(ctx context.Context) error { return f.Inner.Setup(ctx) }

func (f *flakyExplainFn) ProcessElement(ctx context.Context, job imageJob) error {
	if err := f.Inner.ProcessElement(ctx, job); err != nil {
		return err
	}
	if job.Path == f.FailPath && attempt("explain/"+f.FailPath) == 1 {
		return errInjected
	}
	return nil
}

func TestEvaluateFailedAttempt(t *testing.T) {
	data := syntheticData(t, 5)
	out := t.TempDir()
	args := func(name string) []string {
		return []string{"-data", data, "-weights", tinyWeights(t), "-methods", "surgery,raw", "-templates", "a photo of a {}.",
			"-quiet", "-json", filepath.Join(out, name+".json"), "-csv", filepath.Join(out, name+".csv")}
	}
	var stderr bytes.Buffer
	if err := runEvaluate(context.Background(), args("clean"), &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	flaky := func(fn *evaluateFn) any { return &flakyEvaluateFn{Inner: fn, FailID: "synth_003"} }
	err := runEvaluateWith(context.Background(), args("retried"), &bytes.Buffer{}, &stderr, flaky)
	if err == nil || !strings.Contains(err.Error(), errInjected.Error()) {
		t.Fatalf("first attempt: %v, want the injected failure", err)
	}
	t.Logf("the failed run: %s", cli.OneLine(err.Error()))
	if _, err := os.Stat(filepath.Join(out, "retried.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed run wrote a report (%v)", err)
	}
	if err := runEvaluateWith(context.Background(), args("retried"), &bytes.Buffer{}, &stderr, flaky); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	compareReports(t, read(t, filepath.Join(out, "clean.json")), read(t, filepath.Join(out, "retried.json")))
	if !bytes.Equal(read(t, filepath.Join(out, "clean.csv")), read(t, filepath.Join(out, "retried.csv"))) {
		t.Error("the retried run's CSV differs from the clean run's")
	}
	noTemps(t, out)

	// The DoFn twice on one element: the same report (but for its timing).
	fn := &evaluateFn{Args: []string{"-data=" + data, "-weights=" + tinyWeights(t), "-templates=a photo of a {}."}}
	if err := fn.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	var twice [][]byte
	for range 2 {
		err := fn.ProcessElement(context.Background(), imageRef{Index: 1, ID: "synth_001"}, func(p partial) {
			p.rep.Seconds, p.rep.TextSeconds, p.rep.Methods[0].Seconds = 0, 0, 0 // timings
			b, err := encodePartial(p)
			if err != nil {
				t.Fatal(err)
			}
			twice = append(twice, b)
		}, func(string) { t.Error("synth_001 skipped") })
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(twice) != 2 || !bytes.Equal(twice[0], twice[1]) {
		t.Errorf("two attempts at one image differ:\n%s\n%s", twice[0], twice[1])
	}
	if err := fn.ProcessElement(context.Background(), imageRef{Index: 1, ID: "other"}, func(partial) {}, func(string) {}); err == nil {
		t.Error("an element naming another image than the worker's dataset lists was accepted")
	}
}

func TestExplainFailedAttempt(t *testing.T) {
	images := syntheticImages(t, 3)
	flags := []string{"-image", images, "-text", "red circle", "-labels", "red circle,green square",
		"-weights", tinyWeights(t), "-templates", "a photo of a {}.", "-npy", "-json"}
	clean, retried := t.TempDir(), t.TempDir()
	var stderr bytes.Buffer
	if err := runExplain(context.Background(), append(flags, "-out", clean), &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	failPath := filepath.Join(images, "synth_001.png")
	flaky := func(fn *explainFn) any { return &flakyExplainFn{Inner: fn, FailPath: failPath} }
	err := runExplainWith(context.Background(), append(flags, "-out", retried), &bytes.Buffer{}, &stderr, flaky)
	if err == nil || !strings.Contains(err.Error(), errInjected.Error()) {
		t.Fatalf("first attempt: %v, want the injected failure", err)
	}
	// What the failed run left is complete files of the clean run's.
	for _, f := range listFiles(t, retried) {
		if !bytes.Equal(read(t, filepath.Join(retried, f)), read(t, filepath.Join(clean, f))) {
			t.Errorf("after the failure: %s differs from the clean run's", f)
		}
	}
	noTemps(t, retried)
	if err := runExplainWith(context.Background(), append(flags, "-out", retried), &bytes.Buffer{}, &stderr, flaky); err != nil {
		t.Fatalf("second attempt: %v", err)
	}
	want := listFiles(t, clean)
	if got := listFiles(t, retried); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v, want %v", got, want)
	}
	for _, f := range want {
		if !bytes.Equal(read(t, filepath.Join(retried, f)), read(t, filepath.Join(clean, f))) {
			t.Errorf("%s differs from the clean run's", f)
		}
	}
}

// noTemps fails when a temporary file is left in dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	for _, f := range listFiles(t, dir) {
		if strings.Contains(f, tempMarker) {
			t.Errorf("temporary file left: %s", f)
		}
	}
}
