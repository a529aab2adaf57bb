// Command sambench times SAM's SetImage (resize, normalise, pad, image encoder at 1024×1024) on
// the go backend with full-size weights. Real checkpoints cannot be downloaded here, so by default
// it writes seeded random weights with the exact shapes of a released model (from
// sam.ReleasedConfig and sam.ExpectedShapes) and loads them through the normal loader:
//
//	sambench -model vit_b -runs 3
//	sambench -weights sam_vit_b_01ec64.pth -runs 3   # a real checkpoint
//
// It prints the load time, the first SetImage (graph build + compilation + run), every further
// run, and the process's peak RSS (VmHWM) after each phase.
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/weights"
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
		if err := writeRandom(cfg, path); err != nil {
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

// writeRandom writes a checkpoint with cfg's exact tensor names and shapes: LayerNorm weights
// 1 + 0.1·N, biases 0.02·N, relative/absolute positions and embeddings 0.02·N, other weights
// N/√fan_in, so activations stay in a realistic range (timing does not depend on the values).
func writeRandom(cfg sam.Config, path string) error {
	shapes := sam.ExpectedShapes(cfg)
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	slices.Sort(names)
	rng := rand.New(rand.NewPCG(1, 0x5a3))
	list := make([]*weights.Tensor, 0, len(names))
	for _, n := range names {
		list = append(list, &weights.Tensor{Name: n, Shape: shapes[n], DType: "F32", F32: randomValues(rng, n, shapes[n])})
	}
	return weights.WriteSafetensors(path, list, map[string]string{"description": "seeded random SAM " + cfg.Name() + " weights for benchmarks"})
}

func randomValues(rng *rand.Rand, name string, shape []int) []float32 {
	n := 1
	for _, d := range shape {
		n *= d
	}
	mean, std := 0.0, 0.02
	isNorm := strings.Contains(name, "norm") || strings.HasPrefix(name, "image_encoder.neck.1") ||
		strings.HasPrefix(name, "image_encoder.neck.3") || strings.Contains(name, "upscaling.1") ||
		strings.Contains(name, "downscaling.1") || strings.Contains(name, "downscaling.4")
	switch {
	case isNorm && strings.HasSuffix(name, ".weight"):
		mean, std = 1, 0.1
	case strings.HasSuffix(name, ".weight") && len(shape) >= 2 && !strings.Contains(name, "embed") &&
		!strings.Contains(name, "token"):
		fanIn := 1
		for _, d := range shape[1:] {
			fanIn *= d
		}
		std = 1 / math.Sqrt(float64(fanIn))
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(mean + std*rng.NormFloat64())
	}
	return v
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
