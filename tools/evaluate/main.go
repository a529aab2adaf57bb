// Command evaluate measures training-free CLIP methods on a segmentation dataset: open-vocabulary
// semantic segmentation (mIoU, mAcc, aAcc as mmsegmentation), CLIP Surgery's explainability mIoU
// and mSC, and the pointing game — several methods side by side on the same images and the same
// cached text features (package surgery/evaluate defines every metric).
//
//	evaluate -data VOCdevkit/VOC2012 -methods surgery,raw              # VOC layout, "val" split
//	evaluate -data mydata -weights ViT-B-16.pt -json out.json -csv out.csv -limit 100
//	evaluate -data VOC2012 -classes cls_voc21.txt -prob-thd 0.1       # peers' background handling
//	evaluate -data VOC2012 -methods sclip -slide -size 224 -stride 112  # peers' sliding windows
//	evaluate -data VOC2012 -methods naclip -templates auto           # FLOSS's templates per class
//	evaluate -data VOCdevkit/VOC2012 -benchmark voc21 -protocol sclip   # SCLIP's published protocol
//
// The table goes to stdout, progress with ETA to stderr. Bad images are skipped, counted and
// listed at the end; every other bad input ends the command with a one-line error. Ctrl-C stops
// after the current image, prints the partial table and writes no file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/safefile"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
	"github.com/clipsurgery/clipsurgery/tools/internal/evalcli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "evaluate: interrupted; no file written")
		os.Exit(130)
	case err != nil:
		fmt.Fprintln(os.Stderr, "evaluate: "+strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " "))
		os.Exit(1)
	}
}

// parseArgs reads the command line (the flags are evalcli's, shared with tools/pipeline).
func parseArgs(args []string, stderr io.Writer) (*evalcli.Config, error) {
	fs := flag.NewFlagSet("evaluate", flag.ContinueOnError)
	f := evalcli.Register(fs)
	if err := cli.Parse(fs, args, stderr, "evaluate -data DIR [-methods surgery,raw] [options]"); err != nil {
		return nil, err
	}
	return f.Resolve(fs)
}

// run is the whole command, callable in-process by the tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseArgs(args, stderr)
	if err != nil {
		return err
	}
	ds, err := c.OpenDataset()
	if err != nil {
		return err
	}
	for _, out := range []string{c.JSONOut, c.CSVOut} { // fail before hours of work, not after
		if out != "" {
			if st, err := os.Stat(filepath.Dir(out)); err != nil || !st.IsDir() {
				return fmt.Errorf("output %s: folder %s does not exist", out, filepath.Dir(out))
			}
		}
	}
	m, err := c.Ckpt.Load(ctx, clip.LoadOptions{Progress: stderr})
	if err != nil {
		return err
	}
	ex, err := surgery.NewExplainer(m)
	if err != nil {
		return err
	}
	if c.Run.Model.VFM, err = c.LoadVFM(ctx, stderr); err != nil {
		return err
	}
	if !c.Quiet {
		c.Run.Progress = stderr
	}
	if c.AutoTemplates {
		if err := selectTemplates(ctx, ex, ds, c, c.Run.Progress); err != nil {
			return err
		}
	}
	rep, err := evaluate.Run(ctx, ex, ds, c.Run)
	if rep != nil && (err == nil || rep.Interrupted) {
		if terr := rep.WriteTable(stdout); terr != nil {
			return terr
		}
	}
	if err != nil {
		return err
	}
	if c.JSONOut != "" {
		if err := writeAtomic(c.JSONOut, rep.WriteJSON); err != nil {
			return err
		}
	}
	if c.CSVOut != "" {
		if err := writeAtomic(c.CSVOut, rep.WriteCSV); err != nil {
			return err
		}
	}
	return nil
}

// writeAtomic writes a file through a temporary file in the same folder, so that a failure never
// leaves half a file.
func writeAtomic(path string, write func(io.Writer) error) error {
	if err := safefile.WriteAtomic(path, write); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
