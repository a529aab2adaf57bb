package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
	"github.com/clipsurgery/clipsurgery/tools/internal/explaincli"
)

// explainFlags are the flags both tools/clipsurgery and the explain job get in these tests.
func explainFlags(t *testing.T, images string) []string {
	return []string{"-image", images, "-text", "red circle,green square+blue triangle",
		"-labels", strings.Join(evaluate.SyntheticClasses(), ","), "-templates", "a photo of a {}.",
		"-weights", tinyWeights(t), "-sam", goldens.Path(t, "sam", "sam_tiny.pth"), "-npy", "-json"}
}

// syntheticImages writes evaluate's synthetic images (PNG) and returns their folder.
func syntheticImages(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	if err := evaluate.WriteSynthetic(dir, evaluate.LayoutGeneric, n); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "images")
}

// The explain job writes exactly tools/clipsurgery's files, byte for byte: overlays, .npy maps,
// SAM masks and points JSON.
func TestExplainMatchesCLI(t *testing.T) {
	images := syntheticImages(t, 2)
	want := t.TempDir()
	cmd := exec.Command(buildTool(t, "clipsurgery"), append(explainFlags(t, images), "-out", want)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tools/clipsurgery: %v\n%s", err, out)
	}
	wantFiles := listFiles(t, want)
	if len(wantFiles) != 2*(2*4+1) {
		t.Fatalf("tools/clipsurgery wrote %d files: %v", len(wantFiles), wantFiles)
	}
	got := t.TempDir()
	var stderr bytes.Buffer
	if err := runExplain(context.Background(), append(explainFlags(t, images), "-out", got), &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "images_explained=2") {
		t.Errorf("counters: %s", stderr.String())
	}
	if g := listFiles(t, got); !slices.Equal(g, wantFiles) {
		t.Fatalf("files %v, want %v", g, wantFiles)
	}
	for _, f := range wantFiles {
		if !bytes.Equal(read(t, filepath.Join(got, f)), read(t, filepath.Join(want, f))) {
			t.Errorf("%s differs from tools/clipsurgery's", f)
		}
	}
}

// A glob and a list file select what they name (a glob: its image files), in a stable order.
func TestListInputs(t *testing.T) {
	images := syntheticImages(t, 3)
	os.WriteFile(filepath.Join(images, "notes.txt"), []byte("not an image"), 0o644)
	want, err := listInputs(context.Background(), images)
	if err != nil || len(want) != 3 {
		t.Fatalf("folder: %v, %v", want, err)
	}
	list := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(list, []byte("# the three images\n"+strings.Join(want, "\n")+"\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, spec := range []string{filepath.Join(images, "*"), filepath.Join(images, "synth_00?.png"), "@" + list} {
		if got, err := listInputs(context.Background(), spec); err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %v, %v; want %v", spec, got, err, want)
		}
	}
}

// listFiles lists the names of a folder's files, sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// -presence reaches the workers: with a gate between the targets' presences, the explain job
// writes tools/clipsurgery's files byte for byte (points JSON with presence and absent, no SAM
// mask for an absent target), and the gate did drop some targets and keep others.
func TestExplainPresenceMatchesCLI(t *testing.T) {
	images := syntheticImages(t, 2)
	cli := buildTool(t, "clipsurgery")
	clipsurgery := func(out string, args ...string) {
		t.Helper()
		cmd := exec.Command(cli, append(append(explainFlags(t, images), "-out", out), args...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tools/clipsurgery %q: %v\n%s", args, err, b)
		}
	}
	probe := t.TempDir()
	clipsurgery(probe) // presence comes for free with the default method (surgery), no gate
	var ps []float32
	for _, f := range listFiles(t, probe) {
		if strings.HasSuffix(f, "_points.json") {
			for _, tg := range readPoints(t, filepath.Join(probe, f)).Targets {
				if tg.Presence == nil || tg.Absent {
					t.Fatalf("%s %s: presence %v, absent %v without a gate", f, tg.Text, tg.Presence, tg.Absent)
				}
				ps = append(ps, *tg.Presence)
			}
		}
	}
	if lo, hi := slices.Min(ps), slices.Max(ps); len(ps) != 4 || lo == hi {
		t.Fatalf("presences %v: want 4 that differ", ps)
	}
	gate := strconv.FormatFloat(float64((slices.Min(ps)+slices.Max(ps))/2), 'g', -1, 32)

	want, got := t.TempDir(), t.TempDir()
	clipsurgery(want, "-presence", gate)
	var stderr bytes.Buffer
	if err := runExplain(context.Background(), append(explainFlags(t, images), "-out", got, "-presence", gate), &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	wantFiles := listFiles(t, want)
	if g := listFiles(t, got); !slices.Equal(g, wantFiles) {
		t.Fatalf("files %v, want %v", g, wantFiles)
	}
	absent := 0
	for _, f := range wantFiles {
		if !bytes.Equal(read(t, filepath.Join(got, f)), read(t, filepath.Join(want, f))) {
			t.Errorf("%s differs from tools/clipsurgery's", f)
		}
		if strings.HasSuffix(f, "_points.json") {
			for _, tg := range readPoints(t, filepath.Join(got, f)).Targets {
				if tg.Absent {
					absent++
				}
			}
		}
	}
	if absent == 0 || absent == len(ps) {
		t.Errorf("gate %s dropped %d of %d targets; want some, not all", gate, absent, len(ps))
	}
}

// readPoints reads a -json points file.
func readPoints(t *testing.T, path string) explaincli.PointsReport {
	t.Helper()
	var r explaincli.PointsReport
	if err := json.Unmarshal(read(t, path), &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}
