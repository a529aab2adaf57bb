package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/npy"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/surgery/textmask"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
	"github.com/clipsurgery/clipsurgery/tools/internal/explaincli"
)

// TestCLISAM: -sam writes <image>_<text>_sam.png at the image's size and, with -npy, the mask that
// gomlx_sam's text-to-mask pipeline gives for the same image, checkpoints and target.
func TestCLISAM(t *testing.T) {
	dir := t.TempDir()
	src := demoPNG(t, dir)
	w := tinyWeights(t)
	samPath := goldens.Path(t, "sam", "sam_tiny.pth")
	out := t.TempDir()
	stdout, _, err := runCLI(t, "-image", src, "-text", "bench", "-weights", w, "-sam", samPath, "-npy", "-json", "-out", out)
	if err != nil {
		t.Fatal(err)
	}
	pngPath := filepath.Join(out, "demo_bench_sam.png")
	npyPath := filepath.Join(out, "demo_bench_sam.npy")
	for _, p := range []string{pngPath, npyPath} {
		if !strings.Contains(stdout, p) {
			t.Errorf("stdout does not list %s: %q", p, stdout)
		}
	}
	if got := readPNG(t, pngPath); len(got) != demoH*demoW*3 {
		t.Fatalf("%s: %d bytes, want %d×%d RGB", pngPath, len(got), demoH, demoW)
	}
	got, err := npy.ReadFile(npyPath)
	if err != nil {
		t.Fatal(err)
	}
	if got.U8 == nil || len(got.Shape) != 2 || got.Shape[0] != demoH || got.Shape[1] != demoW {
		t.Fatalf("mask .npy is %s %v, want uint8 [%d %d]", got.DType, got.Shape, demoH, demoW)
	}

	// The same through the library.
	m, err := clip.Load(context.Background(), w, clip.LoadOptions{Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := surgery.NewExplainer(m)
	if err != nil {
		t.Fatal(err)
	}
	sm, err := sam.Load(context.Background(), samPath, sam.LoadOptions{Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	px, err := imageprep.PixelsFromArray(demoH, demoW, 3, goldens.Load(t, "images/npy/demo.uint8.npy").U8)
	if err != nil {
		t.Fatal(err)
	}
	_, masks, err := textmask.TextToMaskPixels(ex, sam.NewPredictor(sm), px, []string{"bench"}, surgery.Options{Threshold: surgery.DefaultThreshold})
	if err != nil {
		t.Fatal(err)
	}
	want := masks[0]
	var report explaincli.PointsReport
	data, err := os.ReadFile(filepath.Join(out, "demo_points.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &report); err != nil {
		t.Fatal(err)
	}
	if len(report.Targets) != 1 || len(report.Targets[0].Points) != len(want.Points) {
		t.Fatalf("CLI points %+v, library points %v", report.Targets, want.Points)
	}
	for i, p := range want.Points {
		if got := report.Targets[0].Points[i]; float64(got[0]) != p.X || float64(got[1]) != p.Y || report.Targets[0].Labels[i] != p.Label {
			t.Fatalf("point %d: CLI %v/%d, library %+v", i, got, report.Targets[0].Labels[i], p)
		}
	}
	diff, on := 0, 0
	for i, b := range want.Mask {
		if b {
			on++
		}
		if (got.U8[i] == 1) != b || got.U8[i] > 1 {
			diff++
		}
	}
	if diff != 0 {
		t.Errorf("mask differs from textmask.TextToMaskPixels at %d of %d pixels", diff, len(want.Mask))
	}
	t.Logf("%d points, mask %d of %d pixels, score %.3f", len(want.Points), on, len(want.Mask), want.Score)
}

// TestCLISAMBadPath: a missing -sam checkpoint is a one-line error naming it, and nothing is written.
func TestCLISAMBadPath(t *testing.T) {
	dir := t.TempDir()
	src := demoPNG(t, dir)
	out := t.TempDir()
	bad := filepath.Join(dir, "nope_sam.pth")
	_, _, err := runCLI(t, "-image", src, "-text", "bench", "-weights", tinyWeights(t), "-sam", bad, "-offline", "-out", out)
	if err == nil {
		t.Fatal("no error")
	}
	msg := cli.OneLine(err.Error())
	if !strings.Contains(msg, "-sam") || !strings.Contains(msg, "nope_sam.pth") {
		t.Errorf("message %q does not name -sam and the file", msg)
	}
	if strings.ContainsAny(msg, "\n\r") || len(msg) > 1000 {
		t.Errorf("message is not one short line: %q", msg)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("%d files written on error", len(entries))
	}
	t.Logf("%s", msg)
}
