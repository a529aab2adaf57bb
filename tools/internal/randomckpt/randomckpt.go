// Package randomckpt writes full-size checkpoints with seeded random weights, for benchmarks where
// the released weights cannot be downloaded: CLIP (OpenAI naming, shapes from clip.ExpectedShapes),
// SAM (segment-anything naming, shapes from sam.ExpectedShapes) and DINO / DINOv2 (the authors'
// naming, shapes from dino.ExpectedShapes), so a file has exactly the tensors its loader expects. One writer for both: safetensors (float32), or for a path ending in
// .pt a TorchScript archive laid out as torch.jit.save writes the released OpenAI CLIP files.
//
// Values follow the recipe of the golden models (LayerNorm weights ~ 1 + 0.1 N, Linear/Conv
// weights ~ N / sqrt(fan_in), biases and embeddings small): activations stay in a realistic range,
// which is all that timing needs.
package randomckpt

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	dino "github.com/clipsurgery/clipsurgery/gomlx_dino"
	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/weights"
)

// WriteCLIP writes random weights for cfg to path; model names the checkpoint in the safetensors
// metadata. A .pt archive also holds the input_resolution, context_length and vocab_size scalars
// of the released files, its Conv/Linear/attention weights in float16 as OpenAI ships them
// (halfInOpenAI).
func WriteCLIP(path, model string, cfg clip.Config, seed uint64) error {
	list := random(clip.ExpectedShapes(cfg), seed, clipInit)
	list = append(list, &weights.Tensor{Name: "logit_scale", Shape: []int{}, DType: "F32", F32: []float32{float32(math.Log(1 / 0.07))}})
	if isTorchScript(path) {
		for _, s := range []struct {
			name string
			v    int
		}{{"input_resolution", cfg.ImageResolution}, {"context_length", cfg.ContextLength}, {"vocab_size", cfg.VocabSize}} {
			list = append(list, &weights.Tensor{Name: s.name, Shape: []int{}, DType: "I64", I64: []int64{int64(s.v)}})
		}
		return writeTorchScript(path, "clip.model", list, halfInOpenAI)
	}
	meta := map[string]string{"model": model, "description": "seeded random weights for benchmarks", "config": cfg.String()}
	return weights.WriteSafetensors(path, list, meta)
}

// WriteSAM writes random weights for cfg to path (float32, as the released SAM files).
func WriteSAM(path string, cfg sam.Config, seed uint64) error {
	list := random(sam.ExpectedShapes(cfg), seed, samInit)
	if isTorchScript(path) {
		return writeTorchScript(path, "segment_anything.modeling.sam", list, func(string) bool { return false })
	}
	return weights.WriteSafetensors(path, list, map[string]string{"description": "seeded random SAM " + cfg.Name() + " weights for benchmarks"})
}

// WriteDINO writes random weights for cfg to path as safetensors (float32) in the authors' names,
// with DINOv2's mask_token as its state dicts hold it. Its heads are not in the file: cfg.Heads
// must be Width/64 (the releases'), which the loader assumes.
func WriteDINO(path string, cfg dino.Config, seed uint64) error {
	if cfg.Heads*64 != cfg.Width {
		return fmt.Errorf("randomckpt: %s has heads %d wide; a .pth-layout file carries no head count, the loader takes 64", cfg.Name(), cfg.HeadDim())
	}
	shapes := dino.ExpectedShapes(cfg)
	if cfg.Family == dino.V2 {
		shapes["mask_token"] = []int{1, cfg.Width}
	}
	return weights.WriteSafetensors(path, random(shapes, seed, dinoInit),
		map[string]string{"description": "seeded random " + cfg.String() + " weights for benchmarks"})
}

// dinoInit is the value recipe of a DINO tensor: norms' weights 1 + 0.1 N, LayerScale gammas
// 0.1 + 0.02 N (DINOv2's trained gammas are small), other weights of rank 2 or more N /
// sqrt(fan_in), the rest (biases, tokens, position table) 0.02 N.
func dinoInit(name string, shape []int) (mean, std float64) {
	switch {
	case strings.Contains(name, "norm") && strings.HasSuffix(name, ".weight"):
		return 1, 0.1
	case strings.HasSuffix(name, ".gamma"):
		return 0.1, 0.02
	case strings.HasSuffix(name, ".weight") && len(shape) >= 2:
		return 0, 1 / math.Sqrt(float64(numel(shape[1:])))
	}
	return 0, 0.02
}

func isTorchScript(path string) bool { return strings.EqualFold(filepath.Ext(path), ".pt") }

// random makes float32 tensors of the given shapes, in name order, each value mean + std·N(0, 1)
// with the mean and std that init gives the tensor.
func random(shapes map[string][]int, seed uint64, init func(name string, shape []int) (mean, std float64)) []*weights.Tensor {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	list := make([]*weights.Tensor, 0, len(shapes)+4)
	for _, name := range slices.Sorted(maps.Keys(shapes)) {
		shape := shapes[name]
		mean, std := init(name, shape)
		v := make([]float32, numel(shape))
		for i := range v {
			v[i] = float32(mean + std*rng.NormFloat64())
		}
		list = append(list, &weights.Tensor{Name: name, Shape: shape, DType: "F32", F32: v})
	}
	return list
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// clipInit is the value recipe of a CLIP tensor in OpenAI naming.
func clipInit(name string, shape []int) (mean, std float64) {
	mean, std = 0, 0.02
	switch {
	case strings.HasSuffix(name, "running_var"):
		mean, std = 1, 0.1
	case strings.Contains(name, "ln_") || strings.Contains(name, ".bn") || strings.Contains(name, "downsample.1"):
		if strings.HasSuffix(name, ".weight") {
			mean, std = 1, 0.1
		} else {
			std = 0.05
		}
	case name == "visual.proj" || name == "text_projection":
		std = 1 / math.Sqrt(float64(shape[0]))
	case strings.HasSuffix(name, "positional_embedding") || name == "visual.class_embedding":
		std = 0.1
	case len(shape) >= 2 && !strings.Contains(name, "embedding"):
		std = 1 / math.Sqrt(float64(numel(shape)/shape[0])) // fan_in
	}
	return mean, std
}

// samInit is the value recipe of a SAM tensor: norms' weights 1 + 0.1 N, other weights of rank 2
// or more (not embeddings or tokens) N / sqrt(fan_in), the rest (biases, relative and absolute
// positions, embeddings) 0.02 N.
func samInit(name string, shape []int) (mean, std float64) {
	isNorm := strings.Contains(name, "norm") || strings.HasPrefix(name, "image_encoder.neck.1") ||
		strings.HasPrefix(name, "image_encoder.neck.3") || strings.Contains(name, "upscaling.1") ||
		strings.Contains(name, "downscaling.1") || strings.Contains(name, "downscaling.4")
	switch {
	case isNorm && strings.HasSuffix(name, ".weight"):
		return 1, 0.1
	case strings.HasSuffix(name, ".weight") && len(shape) >= 2 && !strings.Contains(name, "embed") &&
		!strings.Contains(name, "token"):
		return 0, 1 / math.Sqrt(float64(numel(shape[1:])))
	}
	return 0, 0.02
}
