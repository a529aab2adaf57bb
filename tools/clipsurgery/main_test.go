package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/gif"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/npy"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
	"github.com/clipsurgery/clipsurgery/tools/internal/explaincli"
	"golang.org/x/image/bmp"
)

const demoH, demoW = 375, 500

// runCLI runs the command in-process and returns its error and outputs.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func tinyWeights(t *testing.T) string { return goldens.Path(t, "models", "vit16.openai.safetensors") }

// demoPNG writes the reference's decoding of demo.jpg (images/npy/demo.uint8.npy) as a PNG: Go's
// JPEG decoder differs from libjpeg (golden README, Q8), PNG is lossless.
func demoPNG(t *testing.T, dir string) string {
	t.Helper()
	rgb := goldens.Load(t, "images/npy/demo.uint8.npy").U8
	p := filepath.Join(dir, "demo.png")
	if err := surgery.WritePNG(p, rgb, demoH, demoW); err != nil {
		t.Fatal(err)
	}
	return p
}

func readPNG(t *testing.T, path string) []uint8 {
	return goldens.ReadPNGRGB(t, path)
}

// checkOverlay applies the README's overlay contract: at most 0.05 % of the pixels differ, and each
// differing pixel is the reference's blend of a map level one away from ours (m is our map, read
// back from the -npy output).
func checkOverlay(t *testing.T, name string, img, got, want []uint8, m []float32) {
	t.Helper()
	if len(got) != len(want) || len(m)*3 != len(got) {
		t.Fatalf("%s: %d bytes, golden %d, map %d", name, len(got), len(want), len(m))
	}
	blend := func(p, v int) [3]uint8 {
		c := surgery.JET(uint8(v))
		var o [3]uint8
		for ch := range 3 {
			o[ch] = uint8(float64(float64(img[3*p+ch])*0.4) + float64(float64(c[ch])*0.6))
		}
		return o
	}
	differ, unexplained := 0, 0
	for p := range len(m) {
		if string(got[3*p:3*p+3]) == string(want[3*p:3*p+3]) {
			continue
		}
		differ++
		v := int(min(max(m[p]*255, 0), 255))
		ok := false
		for _, alt := range []int{v - 1, v + 1} {
			if alt >= 0 && alt <= 255 {
				b := blend(p, alt)
				ok = ok || string(b[:]) == string(want[3*p:3*p+3])
			}
		}
		if !ok {
			unexplained++
		}
	}
	if limit := len(m) / 2000; differ > limit || unexplained > 0 {
		t.Errorf("%s: %d pixels differ (%d not one map level off), allowed %d", name, differ, unexplained, limit)
	} else {
		t.Logf("%s: %d pixels one map level off", name, differ)
	}
}

func readNpy(t *testing.T, path string) []float32 {
	t.Helper()
	a, err := npy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Shape) != 2 || a.Shape[0] != demoH || a.Shape[1] != demoW {
		t.Fatalf("%s: shape %v", path, a.Shape)
	}
	return a.F32
}

// TestCLISurgeryGolden is the main job on the tiny checkpoint: demo.py's four targets at 224, from
// a PNG and from the .npy array, against the golden overlays, maps and points.
func TestCLISurgeryGolden(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	img := goldens.Load(t, "images/npy/demo.uint8.npy").U8
	for _, src := range []string{demoPNG(t, in), goldens.Path(t, "images/npy/demo.uint8.npy")} {
		stdout, _, err := runCLI(t, "-image", src, "-text", "bench,building", "-text", "ground", "-text", "person",
			"-weights", tinyWeights(t), "-out", out, "-npy", "-json")
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
		if n := strings.Count(stdout, "\n"); n != 9 {
			t.Errorf("%d files reported, want 9 (4 png, 4 npy, 1 json):\n%s", n, stdout)
		}
		simmap := goldens.Load(t, "vit16/surgery/demo_224/simmap_targets.f32.npy").F32
		var report explaincli.PointsReport
		data, err := os.ReadFile(filepath.Join(out, base+"_points.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &report); err != nil {
			t.Fatal(err)
		}
		if report.Width != demoW || report.Height != demoH || report.Size != 224 || report.Method != "surgery" || len(report.Targets) != 4 {
			t.Fatalf("report %+v", report)
		}
		for j, name := range []string{"bench", "building", "ground", "person"} {
			m := readNpy(t, filepath.Join(out, base+"_"+name+".npy"))
			worst := 0.0
			for i, v := range m {
				worst = max(worst, float64(abs32(v-simmap[i*4+j])))
			}
			if worst > 1e-5 {
				t.Errorf("%s map: max diff %.3g > 1e-5", name, worst)
			}
			checkOverlay(t, base+" "+name, img, readPNG(t, filepath.Join(out, base+"_"+name+".png")),
				readPNG(t, goldens.Path(t, "vit16/surgery/demo_224/overlay_"+name+".png")), m)
			wantP := goldens.Load(t, "vit16/surgery/demo_224/points_"+name+".int32.npy").I32
			wantL := goldens.Load(t, "vit16/surgery/demo_224/labels_"+name+".uint8.npy").U8
			tr := report.Targets[j]
			if tr.Text != name || len(tr.Points)*2 != len(wantP) || len(tr.Labels) != len(wantL) {
				t.Fatalf("%s: %d points, want %d", name, len(tr.Points), len(wantP)/2)
			}
			for i, p := range tr.Points {
				if p[0] != int(wantP[2*i]) || p[1] != int(wantP[2*i+1]) || tr.Labels[i] != int(wantL[i]) {
					t.Fatalf("%s point %d: %v/%d, want (%d,%d)/%d", name, i, p, tr.Labels[i], wantP[2*i], wantP[2*i+1], wantL[i])
				}
			}
		}
	}
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}

// TestCLISingleAndRaw: -single at 512 (demo.py's shoes) and -raw (demo.py's original CLIP section).
func TestCLISingleAndRaw(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	src := demoPNG(t, in)
	img := goldens.Load(t, "images/npy/demo.uint8.npy").U8
	if _, _, err := runCLI(t, "-image", src, "-text", "shoes", "-single", "-size", "512", "-weights", tinyWeights(t), "-out", out, "-npy"); err != nil {
		t.Fatal(err)
	}
	checkOverlay(t, "shoes", img, readPNG(t, filepath.Join(out, "demo_shoes.png")),
		goldens.Load(t, "vit16/surgery/demo_512_shoes/overlay_shoes.uint8.npy").U8, readNpy(t, filepath.Join(out, "demo_shoes.npy")))

	if _, _, err := runCLI(t, "-image", src, "-text", "person", "-raw", "-weights", tinyWeights(t), "-out", out, "-npy"); err != nil {
		t.Fatal(err)
	}
	checkOverlay(t, "raw person", img, readPNG(t, filepath.Join(out, "demo_person.png")),
		readPNG(t, goldens.Path(t, "vit16/clip/demo_224/overlay_person.png")), readNpy(t, filepath.Join(out, "demo_person.npy")))
}

// TestCLIFolder: every image of a folder (non-images skipped), one bar on stderr; a custom label
// set from a file.
func TestCLIFolder(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	demoPNG(t, in)
	small := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for i := range small.Pix {
		small.Pix[i] = uint8(i * 7)
	}
	f, err := os.Create(filepath.Join(in, "small.png"))
	if err != nil {
		t.Fatal(err)
	}
	png.Encode(f, small)
	f.Close()
	os.WriteFile(filepath.Join(in, "notes.txt"), []byte("not an image"), 0o644)
	gray := image.NewGray(image.Rect(0, 0, 40, 30)) // mode "L": replicated to RGB
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i)
	}
	for _, name := range []string{"small.gif", "small.bmp"} { // same stem as small.png
		f, err := os.Create(filepath.Join(in, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "small.gif" {
			err = gif.Encode(f, gray, nil)
		} else {
			err = bmp.Encode(f, gray)
		}
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	labels := filepath.Join(t.TempDir(), "labels.txt")
	os.WriteFile(labels, []byte("# my labels\nperson\n\nbench\ngrass\n"), 0o644)
	stdout, stderr, err := runCLI(t, "-image", in, "-text", "person", "-labels", "@"+labels, "-weights", tinyWeights(t), "-out", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"demo_person.png", "small_png_person.png", "small_gif_person.png", "small_bmp_person.png"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	if strings.Count(stdout, "\n") != 4 || !strings.Contains(stderr, "4/4") {
		t.Errorf("stdout %q stderr %q", stdout, stderr)
	}

	// A corrupt image in a folder is reported and skipped; the command still fails at the end.
	os.WriteFile(filepath.Join(in, "broken.jpg"), []byte("\xff\xd8\xff garbage"), 0o644)
	out2 := t.TempDir()
	stdout, stderr, err = runCLI(t, "-image", in, "-text", "person", "-weights", tinyWeights(t), "-out", out2)
	if err == nil || !strings.Contains(err.Error(), "1 of 5 images failed") || !strings.Contains(stderr, "broken.jpg") {
		t.Fatalf("error %v, stderr %q", err, stderr)
	}
	if strings.Count(stdout, "\n") != 4 {
		t.Errorf("the good images were not all written: %q", stdout)
	}
}

// TestCLIBadInput: every bad input is an error of one line, and nothing is written.
func TestCLIBadInput(t *testing.T) {
	dir := t.TempDir()
	src := demoPNG(t, dir)
	corrupt := filepath.Join(dir, "corrupt.png")
	os.WriteFile(corrupt, []byte("\x89PNG\r\n\x1a\nthis is not a png"), 0o644)
	empty := t.TempDir()
	w := tinyWeights(t)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no image", []string{"-text", "dog", "-weights", w}, "-image is required"},
		{"missing image", []string{"-image", filepath.Join(dir, "nope.jpg"), "-text", "dog", "-weights", w}, "no such file"},
		{"corrupt image", []string{"-image", corrupt, "-text", "dog", "-weights", w}, "corrupt.png"},
		{"empty folder", []string{"-image", empty, "-text", "dog", "-weights", w}, "no image files"},
		{"no text", []string{"-image", src, "-weights", w}, "-text is required"},
		{"empty text", []string{"-image", src, "-text", " , ", "-weights", w}, "-text is required"},
		{"unknown model", []string{"-image", src, "-text", "dog", "-model", "ViT-B/17", "-offline"}, "valid names"},
		{"offline, not cached", []string{"-image", src, "-text", "dog", "-offline", "-cache", empty}, "ViT-B-16.pt"},
		{"missing weights", []string{"-image", src, "-text", "dog", "-weights", filepath.Join(dir, "w.pt")}, "-weights"},
		{"model and weights", []string{"-image", src, "-text", "dog", "-weights", w, "-model", "CS-RN50"}, "not both"},
		{"empty labels", []string{"-image", src, "-text", "dog", "-labels", "", "-weights", w}, "empty label set"},
		{"blank labels", []string{"-image", src, "-text", "dog", "-labels", " , ,", "-weights", w}, "empty label set"},
		{"missing labels file", []string{"-image", src, "-text", "dog", "-labels", "@" + filepath.Join(dir, "l.txt"), "-weights", w}, "-labels"},
		{"target not in labels", []string{"-image", src, "-text", "unicorn", "-weights", w}, `"unicorn" is not in the label set`},
		{"target not in custom labels", []string{"-image", src, "-text", "dog", "-labels", "cat,bird", "-weights", w}, "not in the label set"},
		{"threshold > 1", []string{"-image", src, "-text", "dog", "-threshold", "1.5", "-weights", w}, "-threshold"},
		{"threshold 0", []string{"-image", src, "-text", "dog", "-threshold", "0", "-weights", w}, "-threshold"},
		{"threshold NaN", []string{"-image", src, "-text", "dog", "-threshold", "NaN", "-weights", w}, "-threshold"},
		{"threshold text", []string{"-image", src, "-text", "dog", "-threshold", "high", "-weights", w}, "invalid value"},
		{"bad size", []string{"-image", src, "-text", "dog", "-size", "100", "-weights", w}, "multiple of the model's patch size"},
		{"zero size", []string{"-image", src, "-text", "dog", "-size", "0", "-weights", w}, "-size"},
		{"labels with single", []string{"-image", src, "-text", "dog", "-single", "-labels", "a,b", "-weights", w}, "-single"},
		{"unknown flag", []string{"-image", src, "-text", "dog", "-bogus", "x"}, "not defined"},
		{"stray argument", []string{"-image", src, "-text", "dog", "-weights", w, "extra"}, "unexpected argument"},
		{"unknown method", []string{"-image", src, "-text", "dog", "-method", "gemini", "-weights", w}, `unknown method "gemini"`},
		{"raw and another method", []string{"-image", src, "-text", "dog", "-raw", "-method", "sclip", "-weights", w}, "-raw"},
		{"unknown modifier", []string{"-image", src, "-text", "dog", "-modifiers", "nope", "-weights", w}, `unknown modifier "nope"`},
		{"excluded modifier", []string{"-image", src, "-text", "dog", "-method", "maskclip+resclip", "-weights", w}, "resclip on maskclip"},
		{"bad feature surgery", []string{"-image", src, "-text", "dog", "-feature-surgery", "yes", "-weights", w}, "-feature-surgery"},
		{"feature surgery on and off", []string{"-image", src, "-text", "dog", "-feature-surgery", "on", "-no-feature-surgery", "-weights", w}, "contradicts"},
		{"size above the maximum", []string{"-image", src, "-text", "dog", "-size", "4096", "-weights", w}, "-slide"},
		{"stride without slide", []string{"-image", src, "-text", "dog", "-stride", "64", "-weights", w}, "-stride needs -slide"},
		{"stride above the window", []string{"-image", src, "-text", "dog", "-slide", "-stride", "448", "-weights", w}, "stride 448"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			_, _, err := runCLI(t, append(c.args, "-out", out)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if msg := cli.OneLine(err.Error()); strings.Contains(msg, "\n") {
				t.Errorf("message is not one line: %q", msg)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("%d files written on error", len(entries))
			}
		})
	}
}

// TestCLIMethods: -method raw is -raw (the golden raw overlay); every other method runs, with and
// without feature surgery and with sliding windows, and writes its map.
func TestCLIMethods(t *testing.T) {
	in := t.TempDir()
	src := demoPNG(t, in)
	img := goldens.Load(t, "images/npy/demo.uint8.npy").U8
	out := t.TempDir()
	if _, _, err := runCLI(t, "-image", src, "-text", "person", "-method", "raw", "-weights", tinyWeights(t), "-out", out, "-npy"); err != nil {
		t.Fatal(err)
	}
	checkOverlay(t, "-method raw person", img, readPNG(t, filepath.Join(out, "demo_person.png")),
		readPNG(t, goldens.Path(t, "vit16/clip/demo_224/overlay_person.png")), readNpy(t, filepath.Join(out, "demo_person.npy")))
	for _, args := range [][]string{
		{"-method", "maskclip"}, {"-method", "sclip", "-size", "448"}, {"-method", "clearclip", "-feature-surgery", "on"},
		{"-method", "naclip", "-slide", "-stride", "112"}, {"-no-feature-surgery", "-slide"},
		{"-method", "naclip+resclip"}, {"-method", "gem", "-modifiers", ""}, {"-method", "scclip"}, {"-modifiers", "resclip"},
	} {
		out := t.TempDir()
		if _, _, err := runCLI(t, append([]string{"-image", src, "-text", "person", "-weights", tinyWeights(t), "-out", out, "-npy"}, args...)...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		m := readNpy(t, filepath.Join(out, "demo_person.npy"))
		if len(m) == 0 {
			t.Fatalf("%v: empty map", args)
		}
	}
}
