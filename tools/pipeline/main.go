// Command pipeline runs clipsurgery's dataset-scale jobs as Apache Beam pipelines: in-process on
// Beam's Prism runner by default (no setup), unchanged on a Flink or Spark cluster through their
// job servers, or on Dataflow (built with -tags cloud).
//
//	pipeline evaluate -data VOCdevkit/VOC2012 -methods surgery,raw -json out/r.json
//	pipeline explain -image 'photos/*.jpg' -text dog,cat -out maps/ -npy -json
//	pipeline evaluate -data /shared/VOC2012 -json /shared/r.json --runner flink --endpoint localhost:8099
//
// evaluate takes tools/evaluate's flags and writes its table, JSON and CSV (package
// surgery/evaluate: each image is evaluated into a report of its own and the reports are combined
// exactly, so the metrics do not depend on how the runner bundled or ordered the images).
// explain takes tools/clipsurgery's flags and writes its files, for images named by a folder, a
// glob or a list file, to any Beam filesystem path. Neither job takes -templates auto (FLOSS
// needs a pass over all the images before any worker starts).
//
// The binary is also its own worker: a runner starts it with --worker (Beam's harness flags), and
// beam.Init then serves bundles instead of returning. Bad flags and datasets end the command with a
// one-line error before any worker starts; Ctrl-C stops an in-process run and leaves only complete
// files. This module is nested so that Beam's dependencies stay out of the library's build.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
)

// jobs are the command's jobs by name.
var jobs = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
	"evaluate": runEvaluate,
	"explain":  runExplain,
}

const usage = `usage: pipeline evaluate -data DIR [tools/evaluate's flags] [runner flags]
       pipeline explain -image FILE|DIR|GLOB|@LIST -text TEXT[,TEXT...] [tools/clipsurgery's flags] [runner flags]
pipeline JOB -h lists a job's flags and the runner flags.`

func main() {
	if len(os.Args) < 2 || jobs[os.Args[1]] == nil {
		// A runner starting its worker (--worker ...): Beam's harness takes over in Init and never
		// returns. Anything else is a bad command line.
		flag.CommandLine.SetOutput(io.Discard)
		if err := flag.CommandLine.Parse(os.Args[1:]); err == nil {
			beam.Init()
		}
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := cancelOnSignal()
	err := jobs[os.Args[1]](ctx, os.Args[2:], os.Stdout, os.Stderr)
	if sig, ok := cli.InterruptedBy(ctx); ok {
		exitInterrupted(sig)
	}
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		temps.abort() // a failed run's bundles in this process leave no temporary file
		fmt.Fprintln(os.Stderr, "pipeline "+os.Args[1]+": "+cli.OneLine(err.Error()))
		os.Exit(1)
	}
}

// refuseAutoTemplates is the error of -templates auto in a job: FLOSS ranks every label's
// templates on all the images before the first is drawn or evaluated, a pass over the whole
// collection that would have to end before any worker starts; the pipeline does not run it.
func refuseAutoTemplates(job, tool string) error {
	return fmt.Errorf("-templates auto: not in pipeline %s: FLOSS needs a pass over all the images before any worker starts; "+
		"use tools/%s for it, or give the templates with -templates LIST|@FILE", job, tool)
}
