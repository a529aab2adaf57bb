package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
)

// tinyWeights is the tiny golden ViT-B/16-shaped checkpoint.
func tinyWeights(t *testing.T) string {
	return goldens.Path(t, "models", "vit16.openai.safetensors")
}

// buildTool builds a command of the main module (tools/NAME) for a comparison with its output.
func buildTool(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "github.com/clipsurgery/clipsurgery/tools/"+name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building tools/%s: %v\n%s", name, err, out)
	}
	return bin
}

// syntheticData writes evaluate's synthetic VOC dataset of n images, image 2 made undecodable (a
// counted skip).
func syntheticData(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	if err := evaluate.WriteSynthetic(dir, evaluate.LayoutVOC, n); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "JPEGImages", "synth_002.jpg"), []byte("not a jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The evaluate job on Prism writes tools/evaluate's report: areas and counts identical, metrics
// equal to 1e-12 (the combine is exact: they are in fact the same bits), the same CSV, the same
// table but for the timings.
func TestEvaluateMatchesTool(t *testing.T) {
	weights := tinyWeights(t)
	data := syntheticData(t, 6)
	out := t.TempDir()
	flags := []string{"-data", data, "-weights", weights, "-methods", "surgery,raw", "-templates", "a photo of a {}."}
	tool := buildTool(t, "evaluate")
	cmd := exec.Command(tool, append(flags, "-quiet", "-json", filepath.Join(out, "tool.json"), "-csv", filepath.Join(out, "tool.csv"))...)
	wantTable, err := cmd.Output()
	if err != nil {
		t.Fatalf("tools/evaluate: %v", err)
	}
	var stdout, stderr bytes.Buffer
	err = runEvaluate(context.Background(), append(flags, "-json", filepath.Join(out, "p.json"), "-csv", filepath.Join(out, "p.csv"),
		"-table", filepath.Join(out, "p.txt")), &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "images_evaluated=5 images_skipped=1") || !strings.Contains(stderr.String(), "[6/6]") {
		t.Errorf("stderr has no counters or progress:\n%s", stderr.String())
	}
	compareReports(t, read(t, filepath.Join(out, "tool.json")), read(t, filepath.Join(out, "p.json")))
	if a, b := read(t, filepath.Join(out, "tool.csv")), read(t, filepath.Join(out, "p.csv")); !bytes.Equal(a, b) {
		t.Errorf("CSV differs:\n%s\nwant\n%s", b, a)
	}
	if got := read(t, filepath.Join(out, "p.txt")); !bytes.Equal(got, stdout.Bytes()) {
		t.Errorf("-table file and stdout differ")
	}
	if a, b := withoutTimings(string(wantTable)), withoutTimings(stdout.String()); a != b {
		t.Errorf("table differs:\n%s\nwant\n%s", b, a)
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// compareReports compares two report JSONs: every value equal, numbers to 1e-12 (integers
// exactly), the timings left out.
func compareReports(t *testing.T, want, got []byte) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, w, g any)
	walk = func(path string, w, g any) {
		switch wv := w.(type) {
		case map[string]any:
			gv, ok := g.(map[string]any)
			if !ok || len(gv) != len(wv) {
				t.Errorf("%s: %v, want %v", path, g, w)
				return
			}
			for k := range wv {
				if k == "seconds" || k == "text_seconds" || k == "images_per_second" {
					continue
				}
				walk(path+"."+k, wv[k], gv[k])
			}
		case []any:
			gv, ok := g.([]any)
			if !ok || len(gv) != len(wv) {
				t.Errorf("%s: %v, want %v", path, g, w)
				return
			}
			for i := range wv {
				walk(path+"["+string(rune('0'+i%10))+"]", wv[i], gv[i])
			}
		case float64:
			gv, ok := g.(float64)
			tol := 1e-12
			if wv == math.Trunc(wv) && strings.Contains(path, "area") {
				tol = 0
			}
			if !ok || math.Abs(gv-wv) > tol {
				t.Errorf("%s: %v, want %v", path, g, w)
			}
		default:
			if w != g {
				t.Errorf("%s: %v, want %v", path, g, w)
			}
		}
	}
	walk("report", w, g)
}

// withoutTimings drops what differs between two runs of the same evaluation: the header's
// seconds and the img/s column.
func withoutTimings(table string) string {
	lines := strings.Split(table, "\n")
	for i, l := range lines {
		if j := strings.Index(l, "; class names encoded in"); j >= 0 {
			lines[i] = l[:j]
		}
		if f := strings.Fields(l); len(f) == 11 || (len(f) > 0 && f[len(f)-1] == "img/s") {
			lines[i] = strings.Join(f[:len(f)-1], " ")
		}
	}
	return strings.Join(lines, "\n")
}
