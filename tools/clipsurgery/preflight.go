package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/clipsurgery/clipsurgery/internal/safefile"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/tools/internal/explaincli"
)

// preflight runs every check that needs no model before the model loads (loading and encoding
// the label set take seconds to minutes): the targets against the label set, the output folder
// writable, every image a regular file that opens, and no two outputs under one name. It returns
// each image's output name stem and the set of output file names (name → what writes it).
func preflight(c *config, images []string) (bases []string, outputs map[string]string, err error) {
	if err := surgery.CheckTargets(c.Targets, c.Options()); err != nil {
		return nil, nil, err
	}
	for _, p := range images {
		f, _, err := safefile.Open(p)
		if err != nil {
			return nil, nil, fmt.Errorf("-image: %w", err)
		}
		f.Close()
	}
	if err := os.MkdirAll(c.Out, 0o755); err != nil {
		return nil, nil, fmt.Errorf("output folder: %w", err)
	}
	probe, err := os.CreateTemp(c.Out, ".clipsurgery-probe*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is the probe's random name: name the folder instead
		}
		return nil, nil, fmt.Errorf("output folder %s is not writable: %w", c.Out, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	bases = explaincli.OutputBases(images)
	outputs, err = explaincli.OutputNames(&c.Config, images, bases, c.Out)
	return bases, outputs, err
}
