package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
	"github.com/clipsurgery/clipsurgery/tools/internal/evalcli"
	"github.com/clipsurgery/clipsurgery/tools/internal/explaincli"
)

// A worker runs several bundles at once, each in a DoFn instance of its own, and a run in this
// process checks its inputs with the model before the workers start: both find the models here,
// so a process loads each checkpoint once. The Explainer is safe for concurrent use and keeps the
// label set's text features (with the persistent text cache under it), so a label set is encoded
// once per worker, not per bundle. A failed load is not kept: the next bundle tries again.

// modelCache holds what this process loaded, by a key naming what was loaded and how.
type modelCache struct {
	mu      sync.Mutex
	entries map[string]*modelEntry
}

type modelEntry struct {
	mu sync.Mutex // held while loading: a second caller waits for the first's model
	v  any
}

var workerModels = &modelCache{entries: map[string]*modelEntry{}}

// get returns the value loaded under key, loading it now if no earlier call succeeded.
func (c *modelCache) get(key any, load func() (any, error)) (any, error) {
	k, err := json.Marshal(key)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	e := c.entries[string(k)]
	if e == nil {
		e = &modelEntry{}
		c.entries[string(k)] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.v == nil {
		v, err := load()
		if err != nil {
			return nil, err
		}
		e.v = v
	}
	return e.v, nil
}

// evaluateExplainer is tools/evaluate's model: the checkpoint with the default text cache.
func evaluateExplainer(ctx context.Context, ck cli.Checkpoint, stderr io.Writer) (*surgery.Explainer, error) {
	v, err := workerModels.get(struct {
		Job  string
		Ckpt cli.Checkpoint
	}{"evaluate", ck}, func() (any, error) {
		m, err := ck.Load(ctx, clip.LoadOptions{Progress: stderr})
		if err != nil {
			return nil, err
		}
		return surgery.NewExplainer(m)
	})
	if err != nil {
		return nil, err
	}
	return v.(*surgery.Explainer), nil
}

// explainExplainer is tools/clipsurgery's model (explaincli.LoadExplainer).
func explainExplainer(ctx context.Context, c *explaincli.Config, stderr io.Writer) (*surgery.Explainer, error) {
	v, err := workerModels.get(struct {
		Job, TextWeights string
		Ckpt             cli.Checkpoint
		NoTextCache      bool
	}{"explain", c.TextWeights, c.Ckpt, c.NoTextCache}, func() (any, error) {
		return explaincli.LoadExplainer(ctx, c, stderr)
	})
	if err != nil {
		return nil, err
	}
	return v.(*surgery.Explainer), nil
}

// samPredictor is a new Predictor (it holds one image's state: one per DoFn instance) on the
// process's SAM model; nil without -sam.
func samPredictor(ctx context.Context, c *explaincli.Config, stderr io.Writer) (*sam.Predictor, error) {
	if c.SAM == "" {
		return nil, nil
	}
	v, err := workerModels.get(struct{ SAM, Cache string }{c.SAM, c.Ckpt.CacheDir}, func() (any, error) {
		p, err := explaincli.LoadSAM(ctx, c, stderr)
		if err != nil {
			return nil, err
		}
		return p.Model, nil
	})
	if err != nil {
		return nil, err
	}
	return sam.NewPredictor(v.(*sam.Model)), nil
}

// processVFM is the process's -vfm model, load's once (either job's: a VFM is safe for
// concurrent use); nil without -vfm.
func processVFM(vfm string, ck cli.Checkpoint, load func() (surgery.VFM, error)) (surgery.VFM, error) {
	if vfm == "" {
		return nil, nil
	}
	v, err := workerModels.get(struct {
		VFM, Cache string
		Offline    bool
	}{vfm, ck.CacheDir, ck.Offline}, func() (any, error) { return load() })
	if err != nil {
		return nil, err
	}
	return v.(surgery.VFM), nil
}

// evaluateVFM sets the evaluate job's Run.Model.VFM (evalcli.LoadVFM, once per process).
func evaluateVFM(ctx context.Context, c *evalcli.Config, stderr io.Writer) (err error) {
	c.Run.Model.VFM, err = processVFM(c.VFM, c.Ckpt, func() (surgery.VFM, error) { return c.LoadVFM(ctx, stderr) })
	return err
}

// explainVFM sets the explain job's VFMModel (explaincli.LoadVFM, once per process).
func explainVFM(ctx context.Context, c *explaincli.Config, stderr io.Writer) (err error) {
	c.VFMModel, err = processVFM(c.VFM, c.Ckpt, func() (surgery.VFM, error) { return explaincli.LoadVFM(ctx, c, stderr) })
	return err
}

// vfmPath is -vfm as a path the workers must resolve alike ("" for a released name, which has no
// separator).
func vfmPath(vfm string) string {
	if strings.ContainsAny(vfm, `/\`) {
		return vfm
	}
	return ""
}
