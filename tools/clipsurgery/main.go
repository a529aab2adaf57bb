// Command clipsurgery draws CLIP Surgery similarity maps: for each image and text it writes the
// reference demo's heat-map overlay (<image>_<text>.png), and on request the float maps (.npy) and
// the SAM point prompts (JSON).
//
//	clipsurgery -image dog.jpg -text dog                       # CS-ViT-B/16, downloaded once
//	clipsurgery -image photos/ -text person,bench -size 512 -out maps/
//	clipsurgery -image dog.jpg -text "red shoes" -single       # any text, no label set
//	clipsurgery -image dog.jpg -text dog -weights ViT-B-16.pt  # offline, any .pt/.pth/.safetensors
//	clipsurgery -image dog.jpg -text dog -templates "a photo of a {}.,a {} at night."
//	clipsurgery -image photos/ -text dog,cat -templates auto      # FLOSS picks each label's templates
//	clipsurgery -image dog.jpg -text dog,cat -presence 0.2 -sam sam_vit_b  # no points for absent targets
//	clipsurgery -text-cache-info                               # or -text-cache-clear
//
// Each prompt's text embedding is kept in the cache folder (<cache>/text-embeddings, 64 MB at
// most, least recently used evicted), so a label set or template list met before encodes no text;
// -no-text-cache or CLIPSURGERY_TEXT_CACHE=0 turn that off.
//
// Targets must be labels of the label set (-labels; default the 59 classes of the reference demo)
// unless -single is given; "a+b" is a combined target (the demo's person+bench points). Every bad
// input ends the command with a one-line error and a non-zero exit status.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
	"github.com/clipsurgery/clipsurgery/tools/internal/explaincli"
)

// gcPercent is the command's garbage-collection target when GOGC is unset. The model's weights
// (0.57 GB for ViT-B/16) are nearly all of the live heap and hold no pointers, so collecting is
// cheap, while the default target (collect when the garbage equals the live heap) let a 512 px run
// grow by a whole weights' worth of garbage before collecting (docs/BENCHMARKS.md: peak RSS).
const gcPercent = 25

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := cancelOnSignal()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if sig, ok := cli.InterruptedBy(ctx); ok {
		exitInterrupted(sig)
	}
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "clipsurgery: "+cli.OneLine(err.Error()))
		os.Exit(1)
	}
}

// run is the whole command, callable in-process by the tests: parse, load the model once, then
// explain every image and write its outputs.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseArgs(args, stderr)
	if err != nil {
		return err
	}
	if cfg.textCacheInfo || cfg.textCacheClear {
		return textCacheCommand(cfg, stdout)
	}
	// The backend is chosen here, at the edge, from GOMLX_BACKEND: a bad value fails before any
	// download, and both models (CLIP, SAM) run on it.
	if cfg.Backend, err = modelkit.BackendFromEnv(); err != nil {
		return err
	}
	images, skipped, err := explaincli.ListImages(cfg.Image)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		fmt.Fprintf(stderr, "clipsurgery: skipping %v\n", s)
	}
	bases, outputs, err := preflight(cfg, images)
	if err != nil {
		return err
	}
	removeStaleTemps(cfg.Out, outputs)
	// A single image is decoded before the model loads: a bad one fails in milliseconds.
	var first *imageprep.Pixels
	if len(images) == 1 {
		if first, err = explaincli.ReadImage(images[0]); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ex, err := explaincli.LoadExplainer(ctx, &cfg.Config, stderr)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	pred, err := explaincli.LoadSAM(ctx, &cfg.Config, stderr)
	if err != nil {
		return err
	}
	if cfg.VFMModel, err = explaincli.LoadVFM(ctx, &cfg.Config, stderr); err != nil {
		return err
	}
	if cfg.AutoTemplates { // with the VFM loaded: the selection judges the very pipeline that draws
		if err := selectTemplates(ctx, ex, cfg, images, first, stderr); err != nil {
			return err
		}
	}
	bar := newProgress(stderr, len(images))
	var failed []string
	for i, path := range images {
		if err := ctx.Err(); err != nil {
			return err
		}
		bar.update(i, path)
		err := processImage(ctx, ex, pred, cfg, path, first, bases[i], stdout)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && len(images) == 1 {
			return err
		}
		if err != nil {
			failed = append(failed, path)
			bar.clear()
			fmt.Fprintf(stderr, "clipsurgery: %s\n", cli.OneLine(err.Error()))
		}
	}
	bar.done()
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d images failed (first: %s)", len(failed), len(images), failed[0])
	}
	return nil
}
