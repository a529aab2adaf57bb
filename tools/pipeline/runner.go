package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/exec/optimized" // Beam's generated fast paths
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/flink"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/spark"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
)

// defaultRunner runs the pipeline in this process: Prism starts its job server on loopback and
// runs the bundles in this binary's own worker (LOOPBACK environment).
const defaultRunner = "prism"

// runnerHelp is printed after a job's flags by -h (Beam's own flags are many; these matter).
const runnerHelp = `
runner flags (Beam's; also --name value):
  --runner prism|flink|spark|universal|dataflow   where the pipeline runs (default prism: in this process)
  --beam-log                 show Beam's own log on stderr
  --workers N                in-process runs: images worked on at once (default 1)
  --endpoint HOST:PORT       job server of flink, spark or universal (e.g. localhost:8099)
  --environment_type T       how the runner starts workers: DOCKER (default off Prism), PROCESS, LOOPBACK, EXTERNAL
  --environment_config C     the worker container image (DOCKER) or {"command": "/path/to/pipeline"} (PROCESS)
  --parallelism N            workers per stage on flink/spark
  --job_name NAME            the job's name in the runner's UI
  --worker_binary PATH       the worker binary the runner stages (default: this binary, when it is linux/amd64)
  dataflow (pipeline built with -tags cloud): --project --region --staging_location --temp_location`

// runOptions are the runner choice of a job's command line.
type runOptions struct {
	runner   string
	endpoint bool // --endpoint given: the job server is elsewhere, even for prism
	verbose  bool // show Beam's log
	workers  int  // images worked on at once in this process (in-process runs)
}

// parseJob parses a job's command line: its own flags (registered on fs) and Beam's (added here,
// so that --runner flink --endpoint … can come anywhere). -h prints the job's flags and
// runnerHelp. It returns the runner options and the job's own flags as a command line again, for
// the workers to parse.
func parseJob(fs *flag.FlagSet, args []string, stderr io.Writer, usage string) (*runOptions, []string, error) {
	own := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { own[f.Name] = true })
	ro := &runOptions{}
	fs.StringVar(&ro.runner, "runner", defaultRunner, "Beam runner")
	fs.BoolVar(&ro.verbose, "beam-log", false, "show Beam's log (job server, runner and worker messages)")
	fs.IntVar(&ro.workers, "workers", 1, "in-process runs: images worked on at once (Prism runs up to 8 bundles at once; the backend already spreads one image over the cores)")
	flag.CommandLine.VisitAll(func(f *flag.Flag) { // Beam's flags live on the default flag set
		if fs.Lookup(f.Name) == nil {
			fs.Var(f.Value, f.Name, f.Usage)
		}
	})
	help := &strings.Builder{}
	if err := cli.Parse(fs, args, help, usage); errors.Is(err, flag.ErrHelp) {
		// Only the job's flags: Beam's full list is dozens of options.
		jobFlags := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
		fs.VisitAll(func(f *flag.Flag) {
			if own[f.Name] {
				jobFlags.Var(f.Value, f.Name, f.Usage)
			}
		})
		jobFlags.SetOutput(stderr)
		fmt.Fprintln(stderr, "usage: "+usage)
		jobFlags.PrintDefaults()
		fmt.Fprintln(stderr, runnerHelp)
		return nil, nil, err
	} else if err != nil {
		return nil, nil, err
	}
	var jobArgs []string
	fs.Visit(func(f *flag.Flag) {
		if own[f.Name] {
			jobArgs = append(jobArgs, "-"+f.Name+"="+f.Value.String())
		}
		ro.endpoint = ro.endpoint || f.Name == "endpoint"
	})
	if ro.workers < 1 {
		return nil, nil, fmt.Errorf("--workers %d: want at least 1", ro.workers)
	}
	if !slices.Contains(runners, ro.runner) {
		return nil, nil, fmt.Errorf("--runner %q: not in this binary (have %s; dataflow needs a build with -tags cloud)",
			ro.runner, strings.Join(runners, ", "))
	}
	if ro.runner != defaultRunner && ro.runner != "dataflow" && !ro.endpoint {
		return nil, nil, fmt.Errorf("--runner %s needs --endpoint HOST:PORT, its job server", ro.runner)
	}
	if !ro.inProcess() && flag.Lookup("worker_binary").Value.String() == "" {
		// The workers run this binary (the SDK would otherwise try to compile the program from
		// its sources): it must be a linux/amd64 build then.
		if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
			return nil, nil, fmt.Errorf("--runner %s: give --worker_binary, a linux/amd64 build of this command (GOOS=linux GOARCH=amd64 CGO_ENABLED=0)", ro.runner)
		}
		exe, err := os.Executable()
		if err != nil {
			return nil, nil, err
		}
		flag.Set("worker_binary", exe)
	}
	return ro, jobArgs, nil
}

// parseFlags parses a job's flags: on the launcher the command line (parseJob, returning the
// runner options and the job's own flags for the workers); on a worker the job's own flags that
// the DoFn carries.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer, usage string, launcher bool) (*runOptions, []string, error) {
	if launcher {
		return parseJob(fs, args, stderr, usage)
	}
	return nil, nil, cli.Parse(fs, args, stderr, usage)
}

// inProcess says the bundles run in this process: Prism without a job server elsewhere.
func (ro *runOptions) inProcess() bool { return ro.runner == defaultRunner && !ro.endpoint }

// runners are the runners this binary has (the imports above; cloud.go adds dataflow). beam.Run
// exits the process on any other name, so --runner is checked against this list first.
var runners = []string{"prism", "flink", "spark", "universal"}

// execute runs the pipeline and returns its committed counters by name (namespace counterNS).
func execute(ctx context.Context, ro *runOptions, p *beam.Pipeline) (map[string]int64, error) {
	res, err := beam.Run(ctx, ro.runner, p)
	if ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	if err != nil {
		return nil, jobError(err, ro.verbose)
	}
	counters := map[string]int64{}
	if res == nil {
		return counters, nil
	}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Key.Namespace == counterNS {
			counters[c.Key.Name] += c.Result()
		}
	}
	return counters, nil
}

// jobError shortens a failed job's error to its cause, the last line of Beam's message (the
// stages and plan before it are the runner's); all of it with --beam-log.
func jobError(err error, verbose bool) error {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	if verbose || len(lines) < 2 {
		return err
	}
	return fmt.Errorf("the job failed: %s (the runner's whole message with --beam-log)", strings.TrimSpace(lines[len(lines)-1]))
}

// settleLimit bounds the wait for this process's bundles after a run ends (runProgress.settle):
// one image's work, which checks its context between steps.
const settleLimit = time.Minute

// counterNS is the namespace of the jobs' Beam counters (shown in the runner's UI).
const counterNS = "clipsurgery"

// describeCounters is the counters as "name=value" in name order.
func describeCounters(c map[string]int64) string {
	var names []string
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s=%d", n, c[n]))
	}
	return strings.Join(parts, " ")
}
