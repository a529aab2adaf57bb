// Command bench times the CLIP Surgery pipeline on a checkpoint (full-size random ViT-B/16
// weights from tools/randomckpt, or a real one), in the same steps and JSON fields as the
// PyTorch peer (../shared/bench/torch_peer.py), so the two can be compared side by side:
//
//	bench -weights vit_b16_random.safetensors -json out/go.json
//	python3 ../shared/bench/torch_peer.py --weights vit_b16_random.safetensors --json out/torch.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	"github.com/clipsurgery/clipsurgery/surgery"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	path := flag.String("weights", "", "checkpoint (.safetensors, .pt)")
	sizes := flag.String("sizes", "224,512", "image sides to time")
	reps := flag.Int("reps", 5, "timed repetitions (median reported) after one warm-up")
	classes := flag.Int("classes", 59, "classes of the prompt ensemble (0 skips it)")
	jsonOut := flag.String("json", "", "also write the results here")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the timed steps here")
	memLimit := flag.Int("memlimit", 0, "Go soft memory limit in MiB (0: none), unless GOMEMLIMIT is set")
	loadOnly := flag.Bool("loadonly", false, "only time the checkpoint load (load_s, peak_rss_mib)")
	loadProfile := flag.String("loadprofile", "", "write a CPU profile of the checkpoint load here")
	shapes := flag.Bool("shapes", false, "also time each product of the image encoder alone, per size (GFLOP/s per shape)")
	flag.Parse()
	// The weights live in the Go heap (~0.6 GB for ViT-B/16), so by default the collector lets
	// garbage grow to as much again before it runs; a soft limit makes it collect earlier instead.
	if *memLimit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(int64(*memLimit) << 20)
	}
	if *path == "" {
		return fmt.Errorf("-weights is required")
	}
	res := map[string]any{"impl": "gomlx", "go": runtime.Version(), "gomaxprocs": runtime.GOMAXPROCS(0),
		"backend": os.Getenv(modelkit.BackendEnv), "gogc": os.Getenv("GOGC"), "reps": *reps, "memlimit_mib": debug.SetMemoryLimit(-1) >> 20}
	stopLoadProfile, err := startProfile(*loadProfile)
	if err != nil {
		return err
	}
	t0 := time.Now()
	model, err := clip.LoadFile(*path, clip.LoadOptions{}) // what clip.Load and the CLI do
	if err != nil {
		return err
	}
	res["load_s"] = time.Since(t0).Seconds()
	stopLoadProfile()
	res["config"] = model.Config.String()
	fmt.Fprintf(os.Stderr, "load: %.3fs\n", res["load_s"])
	if *loadOnly {
		return report(res, *jsonOut)
	}

	stopProfile, err := startProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	rng := rand.New(rand.NewPCG(0, 0))
	encodeS, encodeAll := map[string]float64{}, map[string][]float64{}
	encodeCPU, encodeGFLOP, encodeRate := map[string]float64{}, map[string]float64{}, map[string]float64{}
	shapeRows := map[string][]shapeRow{}
	var feats *clip.Features
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("-sizes: %w", err)
		}
		img := make([]float32, 3*n*n)
		for i := range img {
			img[i] = float32(rng.NormFloat64())
		}
		med, all, cpu, err := timed(*reps, func() error {
			var err error
			feats, err = model.EncodeImage(img, 1, n, n, clip.SurgeryOptions())
			return err
		})
		if err != nil {
			return err
		}
		encodeS[s], encodeAll[s] = med, all
		encodeCPU[s] = cpu
		fl := surgeryFLOPs(model.Config, n)
		encodeGFLOP[s], encodeRate[s] = fl/1e9, fl/med/1e9
		fmt.Fprintf(os.Stderr, "encode_image %d: %.3fs (%.1f GFLOP, %.0f GFLOP/s; process CPU %.3fs per encode)\n", n, med, fl/1e9, fl/med/1e9, encodeCPU[s])
		if *shapes && fl > 0 {
			rows, err := timeShapes(model.Config, n, *reps)
			if err != nil {
				return err
			}
			printShapes(n, rows)
			shapeRows[s] = rows
		}
	}
	res["encode_image_s"], res["encode_image_all_s"] = encodeS, encodeAll
	res["encode_image_cpu_s"], res["encode_image_gflop"], res["encode_image_gflop_per_s"] = encodeCPU, encodeGFLOP, encodeRate
	if *shapes {
		res["shapes"] = shapeRows
	}

	if *classes > 0 && feats != nil {
		names, demo := make([]string, *classes), surgery.DemoClasses()
		for i := range names {
			names[i] = demo[i%len(demo)]
		}
		if _, err := model.EncodeTextWithPromptEnsemble(names[:1], nil); err != nil { // warm-up
			return err
		}
		t0 := time.Now()
		text, err := model.EncodeTextWithPromptEnsemble(names, nil)
		if err != nil {
			return err
		}
		res["text_ensemble_s"] = time.Since(t0).Seconds()
		res["text_classes"], res["text_prompts"] = *classes, *classes*len(clip.DefaultTemplates())
		fmt.Fprintf(os.Stderr, "prompt ensemble %d classes: %.3fs\n", *classes, res["text_ensemble_s"])

		img := surgery.Normalize(surgery.FeatureMatrix(feats))
		tm := surgery.FeatureMatrix(text)
		all := make([]int, tm.Rows)
		for i := range all {
			all[i] = i
		}
		med, times, _, err := timed(*reps, func() error {
			sim, _, err := surgery.FeatureSurgery(img, tm, nil)
			if err != nil {
				return err
			}
			_, err = surgery.SimilarityMap(sim, all, 480, 640)
			return err
		})
		if err != nil {
			return err
		}
		res["surgery_map_s"], res["surgery_map_all_s"], res["surgery_map_hw"] = med, times, []int{480, 640}
		fmt.Fprintf(os.Stderr, "feature surgery + maps (%d classes, 480x640): %.3fs\n", tm.Rows, med)
	}
	return report(res, *jsonOut)
}

// report adds the peak resident set to res, prints it as JSON and writes it to jsonOut if set.
func report(res map[string]any, jsonOut string) error {
	res["peak_rss_mib"] = peakRSSMiB()
	out, _ := json.MarshalIndent(res, "", " ")
	fmt.Println(string(out))
	if jsonOut != "" {
		return os.WriteFile(jsonOut, out, 0o644)
	}
	return nil
}

// startProfile starts a CPU profile written to path ("" = none) and returns its stop function.
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// timed runs f once (warm-up) then reps times, and returns the median and all times of those
// reps and their process CPU time per rep.
func timed(reps int, f func() error) (float64, []float64, float64, error) {
	if err := f(); err != nil { // warm-up: compiles the executable for this shape
		return 0, nil, 0, err
	}
	c0 := cpuTime()
	times := make([]float64, reps)
	for i := range times {
		t0 := time.Now()
		if err := f(); err != nil {
			return 0, nil, 0, err
		}
		times[i] = time.Since(t0).Seconds()
	}
	cpu := (cpuTime() - c0).Seconds() / float64(reps)
	sorted := slices.Clone(times)
	slices.Sort(sorted)
	return sorted[len(sorted)/2], times, cpu, nil
}

// cpuTime is the process's user + system CPU time so far (all threads).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// peakRSSMiB is the process's high-water resident set (ru_maxrss, KiB on Linux).
func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return float64(ru.Maxrss) / 1024
}
