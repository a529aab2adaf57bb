package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
	"github.com/clipsurgery/clipsurgery/tools/internal/explaincli"
)

func readReport(t *testing.T, path string) explaincli.PointsReport {
	t.Helper()
	var r explaincli.PointsReport
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// -templates auto: FLOSS's selection on the command's image, as the library makes it, gives the
// maps; the chosen templates are listed on stderr and in the JSON report.
func TestCLITemplatesAuto(t *testing.T) {
	dir := t.TempDir()
	src := demoPNG(t, dir)
	w := tinyWeights(t)
	labels := "person,bench,grass,sky,tree,road"
	out := t.TempDir()
	_, stderr, err := runCLI(t, "-image", src, "-text", "bench,person", "-labels", labels, "-weights", w,
		"-templates", "auto", "-template-experts", "3", "-npy", "-json", "-out", out, "-no-text-cache")
	if err != nil {
		t.Fatal(err)
	}
	m, err := clip.Load(context.Background(), w, clip.LoadOptions{Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := surgery.NewExplainerWith(m, surgery.ExplainerOptions{NoTextCache: true})
	if err != nil {
		t.Fatal(err)
	}
	px, err := imageprep.PixelsFromArray(demoH, demoW, 3, goldens.Load(t, "images/npy/demo.uint8.npy").U8)
	if err != nil {
		t.Fatal(err)
	}
	opt := surgery.Options{Labels: strings.Split(labels, ",")}
	sel, err := surgery.SelectTemplates(context.Background(), ex, []*imageprep.Pixels{px}, surgery.SelectOptions{Options: opt, Experts: 3})
	if err != nil {
		t.Fatal(err)
	}
	opt.ClassTemplates = sel.ClassTemplates()
	res, err := ex.ExplainPixels(px, []string{"bench", "person"}, opt)
	if err != nil {
		t.Fatal(err)
	}
	report := readReport(t, filepath.Join(out, "demo_points.json"))
	for i, tg := range res.Targets {
		if got := readNpy(t, filepath.Join(out, "demo_"+tg.Text+".npy")); !same(got, tg.Map) {
			t.Errorf("%s: the CLI's map is not the library's with the selected templates", tg.Text)
		}
		want := opt.ClassTemplates[tg.Text]
		if len(want) != 3 || len(report.Targets[i].Templates) != 1 || !slices.Equal(report.Targets[i].Templates[0], want) {
			t.Errorf("%s: report templates %q, selected %q", tg.Text, report.Targets[i].Templates, want)
		}
		if !strings.Contains(stderr, `templates for "`+tg.Text+`" (FLOSS on 1 images): `+strings.Join(want, " | ")) {
			t.Errorf("stderr does not list %s's templates: %q", tg.Text, stderr)
		}
	}
	plain := t.TempDir()
	if _, _, err := runCLI(t, "-image", src, "-text", "bench", "-labels", labels, "-weights", w, "-npy", "-out", plain, "-no-text-cache"); err != nil {
		t.Fatal(err)
	}
	if same(readNpy(t, filepath.Join(plain, "demo_bench.npy")), readNpy(t, filepath.Join(out, "demo_bench.npy"))) {
		t.Error("-templates auto gives the default templates' map")
	}
}

// -presence: targets below it have no points and no SAM mask (no file), those above keep both;
// the JSON report gives every presence.
func TestCLIPresence(t *testing.T) {
	dir := t.TempDir()
	src := demoPNG(t, dir)
	w := tinyWeights(t)
	labels := "person,bench,grass,sky,dog,car"
	probe := t.TempDir()
	if _, _, err := runCLI(t, "-image", src, "-text", "person,bench,dog", "-labels", labels, "-weights", w, "-json", "-out", probe); err != nil {
		t.Fatal(err)
	}
	var ps []float32
	for _, tg := range readReport(t, filepath.Join(probe, "demo_points.json")).Targets {
		if tg.Presence == nil || tg.Absent || len(tg.Points) == 0 {
			t.Fatalf("ungated %s: presence %v, absent %v, %d points", tg.Text, tg.Presence, tg.Absent, len(tg.Points))
		}
		ps = append(ps, *tg.Presence)
	}
	sorted := slices.Clone(ps)
	slices.Sort(sorted)
	gate := (sorted[0] + sorted[1]) / 2 // one target below
	out := t.TempDir()
	if _, _, err := runCLI(t, "-image", src, "-text", "person,bench,dog", "-labels", labels, "-weights", w, "-json",
		"-presence", strconvF(gate), "-sam", goldens.Path(t, "sam", "sam_tiny.pth"), "-out", out); err != nil {
		t.Fatal(err)
	}
	for i, tg := range readReport(t, filepath.Join(out, "demo_points.json")).Targets {
		_, samErr := os.Stat(filepath.Join(out, "demo_"+tg.Text+"_sam.png"))
		if below := ps[i] < gate; tg.Absent != below || (len(tg.Points) == 0) != below || (samErr != nil) != below {
			t.Errorf("%s (presence %v, gate %v): absent %v, %d points, SAM file error %v", tg.Text, ps[i], gate, tg.Absent, len(tg.Points), samErr)
		}
	}
}

func strconvF(v float32) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Bad -presence and -templates auto inputs: one-line errors, nothing written.
func TestCLIFlossBadInput(t *testing.T) {
	dir := t.TempDir()
	src := demoPNG(t, dir)
	w := tinyWeights(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-presence", "1.5"}, "-presence"},
		{[]string{"-presence", "-0.1"}, "-presence"},
		{[]string{"-presence", "NaN"}, "-presence"},
		{[]string{"-template-experts", "2"}, "needs -templates auto"},
		{[]string{"-templates", "auto", "-template-experts", "0"}, "-template-experts"},
		{[]string{"-templates", "auto", "-single"}, "-single"},
		{[]string{"-templates", "auto", "-labels", "dog"}, "at least two"},
	} {
		out := t.TempDir()
		_, _, err := runCLI(t, append([]string{"-image", src, "-text", "dog", "-weights", w, "-out", out}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(cli.OneLine(err.Error()), "\n") {
			t.Errorf("%v: error %v, want one line containing %q", c.args, err, c.want)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("%v: %d files written on error", c.args, len(entries))
		}
	}
}
