package evaluate

import (
	"context"
	"fmt"
	"slices"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// protocolClasses checks that a Run with a preset has nothing else to set, and returns the
// classes it predicts: the peer's class file, which must have the benchmark's class count.
func (cfg Config) protocolClasses(ds *Dataset) ([]Class, error) {
	p := cfg.Protocol
	if ds.Benchmark != p.Benchmark {
		return nil, fmt.Errorf("%w: protocol %s is for %s, the dataset is opened as %q (name it with -benchmark)",
			ErrBenchmark, p.Peer, p.Benchmark, ds.Benchmark)
	}
	if len(cfg.Methods) > 0 && !slices.Equal(cfg.Methods, []clip.Method{p.Peer}) {
		return nil, fmt.Errorf("evaluate: protocol %s evaluates method %s only, not %v", p.Peer, p.Peer, cfg.Methods)
	}
	if cfg.Model.Size != 0 || cfg.Model.Slide || cfg.Model.Stride != 0 || cfg.Model.Templates != nil ||
		cfg.Scoring != (Scoring{}) {
		return nil, fmt.Errorf("evaluate: protocol %s sets the input size, windows, templates and scoring itself", p.Peer)
	}
	if cfg.WindowBatch < 0 {
		return nil, fmt.Errorf("evaluate: window batch %d: want ≥ 0", cfg.WindowBatch)
	}
	classes, err := PeerClasses(p.ClassFile)
	if err != nil {
		return nil, err
	}
	if len(classes) != len(ds.Classes) {
		return nil, fmt.Errorf("%w: protocol %s's class file %s has %d classes, %s has %d", ErrClassFile, p.Peer,
			p.ClassFile, len(classes), ds.Benchmark, len(ds.Classes))
	}
	return classes, checkClasses(classes)
}

// predictProtocolItem is PredictProtocolWithVFM as one of Run's predictions: the class map, and
// per class the best of its names' logits at every pixel (the explainability maps, min-maxed by
// ClassMaps).
func predictProtocolItem(ctx context.Context, ex *surgery.Explainer, vfm surgery.VFM, pix *imageprep.Pixels, p Protocol,
	classes []Class, batch int) (*Prediction, error) {
	res, err := PredictProtocolWithVFM(ctx, ex, vfm, pix, p, classes, batch)
	if err != nil {
		return nil, err
	}
	_, nameClass := queries(classes)
	planes := make([][]float32, len(res.Logits))
	for q, l := range res.Logits { // names can share a plane: reduce copies
		planes[q] = slices.Clone(l)
	}
	return &Prediction{Method: p.Peer, W: res.W, H: res.H, Size: p.Window, Windows: res.Windows, Stride: p.Stride,
		Pred: res.Pred, Planes: classPlanes(planes, nameClass, len(classes))}, nil
}

// distinctNames lists names without repeats (SCLIP's COCO-Object lists "bed" in two classes) and
// where each name went.
func distinctNames(names []string) (unique []string, col []int) {
	col = make([]int, len(names))
	seen := map[string]int{}
	for q, n := range names {
		j, ok := seen[n]
		if !ok {
			j = len(unique)
			seen[n] = j
			unique = append(unique, n)
		}
		col[q] = j
	}
	return unique, col
}
