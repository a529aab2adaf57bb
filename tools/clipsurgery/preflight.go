package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/clipsurgery/clipsurgery/internal/safefile"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// preflight runs every check that needs no model before the model loads (loading and encoding
// the label set take seconds to minutes): the targets against the label set, the output folder
// writable, every image a regular file that opens, and no two outputs under one name. It returns
// each image's output name stem and the set of output file names (name → what writes it).
func preflight(c *config, images []string) (bases []string, outputs map[string]string, err error) {
	if err := surgery.CheckTargets(c.targets, c.options()); err != nil {
		return nil, nil, err
	}
	for _, p := range images {
		f, _, err := safefile.Open(p)
		if err != nil {
			return nil, nil, fmt.Errorf("-image: %w", err)
		}
		f.Close()
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return nil, nil, fmt.Errorf("output folder: %w", err)
	}
	probe, err := os.CreateTemp(c.out, ".clipsurgery-probe*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is the probe's random name: name the folder instead
		}
		return nil, nil, fmt.Errorf("output folder %s is not writable: %w", c.out, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	bases = outputBases(images)
	outputs, err = outputNames(c, images, bases)
	return bases, outputs, err
}

// outputNames lists the file names the run will write and refuses any name written twice: two
// targets that fileSafe maps to one name ("a b", "a_b", "a/b"), two images of a folder whose
// stems collide ("x_jpg.png" beside "x.jpg" and "x.png"), or an image/target pair that spells
// another's name ("a" + "b_c" and "a_b" + "c").
func outputNames(c *config, images, bases []string) (map[string]string, error) {
	outputs := map[string]string{}
	add := func(name, what string) error {
		if prev, ok := outputs[name]; ok {
			return fmt.Errorf("%s and %s would both write %s; rename one", prev, what, filepath.Join(c.out, name))
		}
		outputs[name] = what
		return nil
	}
	for i, img := range images {
		for _, t := range c.targets {
			what := fmt.Sprintf("image %s with target %q", img, t)
			if len(images) == 1 {
				what = fmt.Sprintf("target %q", t)
			}
			stem := bases[i] + "_" + fileSafe(t)
			names := []string{stem + ".png"}
			if c.writeNpy {
				names = append(names, stem+".npy")
			}
			if c.sam != "" {
				names = append(names, stem+"_sam.png")
				if c.writeNpy {
					names = append(names, stem+"_sam.npy")
				}
			}
			for _, n := range names {
				if err := add(n, what); err != nil {
					return nil, err
				}
			}
		}
		if c.writeJSON {
			if err := add(bases[i]+"_points.json", "image "+img); err != nil {
				return nil, err
			}
		}
	}
	return outputs, nil
}
