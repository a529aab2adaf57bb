package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/npy"
)

// tinyVFM is a tiny DINOv2 in the Hugging Face layout (testdata/dino: its config.json gives the heads).
const tinyVFM = "../../testdata/dino/models/dinov2_tiny_hf"

// TestCLIProxyCLIP: -method proxyclip -vfm draws maps at the image's size, whole image and with
// sliding windows, and the same map as the library (surgery's tests check the numbers).
func TestCLIProxyCLIP(t *testing.T) {
	src := demoPNG(t, t.TempDir())
	for _, extra := range [][]string{nil, {"-slide", "-stride", "56"}} {
		out := t.TempDir()
		args := append([]string{"-image", src, "-text", "bench", "-weights", tinyWeights(t), "-method", "proxyclip",
			"-vfm", tinyVFM, "-size", "112", "-npy", "-out", out}, extra...)
		if _, stderr, err := runCLI(t, args...); err != nil {
			t.Fatalf("%v: %v (%s)", extra, err, stderr)
		}
		m, err := npy.ReadFile(filepath.Join(out, "demo_bench.npy"))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Shape) != 2 || m.Shape[0] != demoH || m.Shape[1] != demoW {
			t.Fatalf("map shape %v", m.Shape)
		}
	}
}

// TestCLIVFMFlags: -vfm and -method proxyclip go together; a CLIP checkpoint given as the VFM, a
// DINO one given as CLIP and a window side the VFM's patch cannot divide are one-line errors.
func TestCLIVFMFlags(t *testing.T) {
	src := demoPNG(t, t.TempDir())
	w := tinyWeights(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-method", "proxyclip", "-weights", w}, "-method proxyclip needs -vfm"},
		{[]string{"-vfm", tinyVFM, "-weights", w}, "-vfm is read by -method proxyclip only"},
		{[]string{"-method", "sclip", "-vfm", tinyVFM, "-weights", w}, "-vfm is read by -method proxyclip only"},
		{[]string{"-method", "proxyclip", "-vfm", w, "-weights", w}, "CLIP checkpoint"},
		{[]string{"-method", "proxyclip", "-vfm", tinyVFM, "-weights", tinyVFM + "/model.safetensors"}, "is not a CLIP checkpoint (a DINO"},
		{[]string{"-method", "proxyclip", "-vfm", tinyVFM, "-weights", w, "-size", "128"}, "not a multiple of the VFM"},
		{[]string{"-method", "proxyclip", "-vfm", "dinov9", "-weights", w}, "neither a checkpoint nor a model name"},
	} {
		args := append([]string{"-image", src, "-text", "bench", "-out", t.TempDir()}, c.args...)
		_, _, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err %v, want one line with %q", c.args, err, c.want)
		}
	}
}
