// Command sambench times SAM's SetImage (resize, normalise, pad, image encoder at 1024×1024) on
// the go backend with full-size weights. Real checkpoints cannot be downloaded here, so by default
// it writes seeded random weights with the exact shapes of a released model (tools/randomckpt's
// writer, tools/internal/randomckpt) and loads them through the normal loader:
//
//	sambench -model vit_b -runs 3
//	sambench -weights sam_vit_b_01ec64.pth -runs 3   # a real checkpoint
//	sambench -weights sam_vit_b_random.safetensors   # made once by randomckpt -model sam_vit_b
//
// It prints the load time, the first SetImage (graph build + compilation + run), every further
// run, and the process's peak RSS (VmHWM) after each phase.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/tools/internal/randomckpt"
)

func main() {
	model := flag.String("model", "vit_b", "released configuration for the random weights: vit_b, vit_l or vit_h")
	path := flag.String("weights", "", "checkpoint to load instead of random weights (.pth or .safetensors)")
	keep := flag.String("keep", "", "write the random checkpoint here and keep it (default: a temporary file)")
	runs := flag.Int("runs", 2, "timed SetImage calls after the first")
	width := flag.Int("width", 500, "synthetic image width")
	height := flag.Int("height", 375, "synthetic image height")
	memProfile := flag.String("memprofile", "", "after the runs, write a heap profile here (one collection first, so "+
		"buffers the backend keeps in its pools show as in use, with the op that allocated them)")
	flag.Parse()
	if err := run(*model, *path, *keep, *runs, *width, *height, *memProfile); err != nil {
		fmt.Fprintln(os.Stderr, "sambench:", err)
		os.Exit(1)
	}
}

func run(model, path, keep string, runs, w, h int, memProfile string) error {
	if path == "" {
		cfg, err := sam.ReleasedConfig(model)
		if err != nil {
			return err
		}
		path = keep
		if path == "" {
			dir, err := os.MkdirTemp("", "sambench")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			path = filepath.Join(dir, "sam_"+model+"_random.safetensors")
		}
		start := time.Now()
		if err := randomckpt.WriteSAM(path, cfg, 0); err != nil {
			return err
		}
		fmt.Printf("wrote random %s weights to %s in %v\n", model, path, time.Since(start).Round(time.Millisecond))
	}

	start := time.Now()
	m, err := sam.LoadFile(path, sam.LoadOptions{})
	if err != nil {
		return err
	}
	fmt.Printf("load %s (%s): %v, peak RSS %s\n", path, m.Config.Name(), time.Since(start).Round(time.Millisecond), peakRSS())

	img := syntheticImage(w, h)
	p := sam.NewPredictor(m)
	for i := 0; i <= runs; i++ {
		start = time.Now()
		if err := p.SetImage(img); err != nil {
			return err
		}
		what := "SetImage"
		if i == 0 {
			what = "first SetImage (incl. compilation)"
		}
		fmt.Printf("%s %dx%d: %v, peak RSS %s\n", what, w, h, time.Since(start).Round(time.Millisecond), peakRSS())
	}
	emb, _ := p.Embedding()
	fmt.Printf("embedding shape %v, input size %v\n", emb.Features.Shape, emb.InputSize)
	if memProfile != "" {
		runtime.GC()
		f, err := os.Create(memProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		return pprof.Lookup("heap").WriteTo(f, 0)
	}
	return nil
}

// syntheticImage is a smooth colour pattern (content does not change the timing).
func syntheticImage(w, h int) *imageprep.RGB {
	pix := make([]uint8, w*h*3)
	for y := range h {
		for x := range w {
			i := 3 * (y*w + x)
			pix[i] = uint8(x * 255 / max(w-1, 1))
			pix[i+1] = uint8(y * 255 / max(h-1, 1))
			pix[i+2] = uint8((x + y) % 256)
		}
	}
	return &imageprep.RGB{W: w, H: h, Pix: pix}
}

// peakRSS is VmHWM from /proc/self/status (Linux), or "n/a".
func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "n/a"
}
