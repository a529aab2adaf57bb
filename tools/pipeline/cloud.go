//go:build cloud

package main

// Built with -tags cloud, the binary also runs on Dataflow and reads and writes s3:// paths
// (gs:// is always there: Beam's worker harness imports it). They are behind a tag because the
// AWS and Dataflow clients add about a quarter to a cold build of the pipeline (docs/pipeline, "Build
// weight").
import (
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/s3"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
)

func init() { runners = append(runners, "dataflow") }
