package surgery

import (
	"errors"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // the pure-Go backend ("go")
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func goBackend(t *testing.T) compute.Backend {
	t.Helper()
	b, err := compute.NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Finalize)
	return b
}

func tensorOf(m Matrix, leading ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(m.Data, append(leading, m.Rows, m.Cols)...)
}

func flat(t *testing.T, x *tensors.Tensor) []float32 {
	t.Helper()
	v, err := tensors.CopyFlatData[float32](x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestFeatureSurgeryGraphGolden runs the graph version on the go backend against the same goldens
// as FeatureSurgery: without redundant features (all 59 classes), and with the "" redundancy.
func TestFeatureSurgeryGraphGolden(t *testing.T) {
	backend := goBackend(t)
	text := loadMatrix(t, "text/text_features_all59.f32.npy")
	for _, c := range featureCases {
		img := loadMatrix(t, c+"/image_features_norm.f32.npy")
		out, err := graph.CallOnce(backend, func(img, text *graph.Node) *graph.Node {
			return FeatureSurgeryGraph(img, text, nil)
		}, tensorOf(img, 1), tensorOf(text))
		if err != nil {
			t.Fatal(err)
		}
		if dims := out.Shape().Dimensions; len(dims) != 3 || dims[1] != img.Rows || dims[2] != 59 {
			t.Fatalf("%s: output shape %v", c, out.Shape())
		}
		assertClose(t, c+" (graph)", flat(t, out), loadF32(t, c+"/similarity_all59.f32.npy"), 1e-5)
	}
	img := loadMatrix(t, "vit16/surgery/demo_512/image_features_norm.f32.npy")
	red := loadMatrix(t, "text/redundant_empty.f32.npy")
	out, err := graph.CallOnce(backend, FeatureSurgeryGraph, tensorOf(img, 1), tensorOf(loadMatrix(t, "text/text_features_shoes.f32.npy")), tensorOf(red))
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "shoes (graph)", flat(t, out), loadF32(t, "vit16/surgery/demo_512_shoes/similarity.f32.npy"), 1e-5)
}

// TestFeatureSurgeryGraphBatch: a batch of two images gives each image's own result.
func TestFeatureSurgeryGraphBatch(t *testing.T) {
	backend := goBackend(t)
	text := loadMatrix(t, "text/text_features_all59.f32.npy")
	a := loadMatrix(t, "vit16/surgery/demo_224/image_features_norm.f32.npy")
	b := loadMatrix(t, "vit16/clip/demo_224/image_features_norm.f32.npy")
	batch := Matrix{Rows: a.Rows, Cols: a.Cols, Data: append(append([]float32{}, a.Data...), b.Data...)}
	out, err := graph.CallOnce(backend, func(img, text *graph.Node) *graph.Node {
		return FeatureSurgeryGraph(img, text, nil)
	}, tensorOf(batch, 2), tensorOf(text))
	if err != nil {
		t.Fatal(err)
	}
	got := flat(t, out)
	for i, m := range []Matrix{a, b} {
		want, _, err := FeatureSurgery(m, text, nil)
		if err != nil {
			t.Fatal(err)
		}
		assertClose(t, "batch item", got[i*len(want.Data):(i+1)*len(want.Data)], want.Data, 1e-6)
	}
}

func TestSimilarityGridGraphGolden(t *testing.T) {
	backend := goBackend(t)
	for _, c := range append(surgeryCases, "vit16/clip/demo_224") {
		sim := goldenSimilarity(t, c)
		out, err := graph.CallOnce(backend, SimilarityGridGraph, tensorOf(sim, 1))
		if err != nil {
			t.Fatal(err)
		}
		side, _ := squareSide(sim.Rows - 1)
		if dims := out.Shape().Dimensions; len(dims) != 4 || dims[1] != 59 || dims[2] != side || dims[3] != side {
			t.Fatalf("%s: grid shape %v", c, out.Shape())
		}
		got := flat(t, out)
		want := loadF32(t, c+"/simgrid_minmax_targets.f32.npy")
		n := side * side
		for j, k := range targetIdx {
			assertClose(t, c+" grid "+targetNames[j], got[k*n:(k+1)*n], want[j*n:(j+1)*n], 1e-5)
		}
	}
	// A constant class gives zeros, as SimilarityGrid.
	out, err := graph.CallOnce(backend, SimilarityGridGraph, tensors.FromFlatDataAndDimensions(make([]float32, 5), 1, 5, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range flat(t, out) {
		if v != 0 {
			t.Fatalf("constant class: %v", flat(t, out))
		}
	}
}

func TestGraphErrors(t *testing.T) {
	backend := goBackend(t)
	if _, err := graph.CallOnce(backend, func(img, text *graph.Node) *graph.Node {
		return FeatureSurgeryGraph(img, text, nil)
	}, tensors.FromFlatDataAndDimensions(make([]float32, 8), 1, 2, 4), tensors.FromFlatDataAndDimensions(make([]float32, 4), 1, 4)); err == nil {
		t.Error("one class without redundant features accepted")
	} else if !errors.Is(err, ErrSingleClass) && !strings.Contains(err.Error(), "redundant") {
		t.Errorf("unexpected error: %v", err)
	}
	if _, err := graph.CallOnce(backend, SimilarityGridGraph, tensors.FromFlatDataAndDimensions(make([]float32, 6), 1, 6, 1)); err == nil {
		t.Error("5 patches (not square) accepted")
	}
}
