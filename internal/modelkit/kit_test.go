package modelkit

import (
	"slices"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/weights"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func TestCheckShapes(t *testing.T) {
	want := map[string][]int{"a": {2, 3}, "b": {4}, "c": {1}}
	if err := CheckShapes("x", want, map[string][]int{"a": {2, 3}, "b": {4}, "c": {1}, "extra": {3}},
		func(name string, _ []int) bool { return name == "extra" }); err != nil {
		t.Fatalf("matching shapes: %v", err)
	}
	err := CheckShapes("model: checkpoint does not fit", want, map[string][]int{"a": {3, 2}, "b": {4}, "z": {1}}, nil)
	if err == nil {
		t.Fatal("mismatch accepted")
	}
	for _, s := range []string{"model: checkpoint does not fit", "1 missing: c", "1 unexpected: z", "1 with the wrong shape: a [3 2] (want [2 3])"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q does not say %q", err, s)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("report is not one line: %q", err)
	}
	if got := Abbreviate([]string{"a", "b", "c"}, 2); got != "a, b, … (1 more)" {
		t.Errorf("Abbreviate = %q", got)
	}
}

// Dense weights are stored [in, out], Weight gives them back in the checkpoint's layout, a
// releasing upload drops the host copies, and a program reads only the parameters it uses.
func TestUploadAndPrograms(t *testing.T) {
	backend, err := NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	ckpt := map[string]*weights.Tensor{
		"lin.weight": {Shape: []int{2, 3}, DType: "F32", F32: []float32{1, 2, 3, 4, 5, 6}}, // [out, in]
		"lin.bias":   {Shape: []int{2}, DType: "F32", F32: []float32{10, 20}},
		"other":      {Shape: []int{1}, DType: "F32", F32: []float32{7}},
	}
	w, err := Upload(backend, ckpt, []string{"other", "lin.weight", "lin.bias"}, func(n string) bool { return n == "lin.weight" }, true)
	if err != nil {
		t.Fatal(err)
	}
	if ckpt["lin.weight"].F32 != nil || ckpt["other"].F32 != nil {
		t.Error("releasing upload kept host copies")
	}
	if got := w.Names(); !slices.Equal(got, []string{"lin.bias", "lin.weight", "other"}) {
		t.Errorf("names %v", got)
	}
	v, shape, ok := w.Weight("lin.weight")
	if !ok || !slices.Equal(shape, []int{2, 3}) || !slices.Equal(v, []float32{1, 2, 3, 4, 5, 6}) {
		t.Errorf("Weight = %v %v %v", v, shape, ok)
	}
	ps := NewPrograms[string](w)
	var seen []string
	pr := ps.Get("dense", func(n string) bool { return strings.HasPrefix(n, "lin.") }, 4, func(p Params, in []*Node) []*Node {
		for name := range p {
			seen = append(seen, name)
		}
		return []*Node{Dense(in[0], p, "lin")}
	})
	if ps.Get("dense", nil, 4, nil) != pr {
		t.Error("the cache built a second program for the same key")
	}
	out, err := pr.Run(tensors.FromFlatDataAndDimensions([]float32{1, 0, -1}, 1, 3))
	if err != nil {
		t.Fatal(err)
	}
	f, err := ToFeatures(out[0])
	if err != nil {
		t.Fatal(err)
	}
	// x Wᵀ + b with W = [[1 2 3] [4 5 6]]: [1-3+10, 4-6+20].
	if !slices.Equal(f.Shape, []int{1, 2}) || !slices.Equal(f.Data, []float32{8, 18}) {
		t.Errorf("Dense = %v %v", f.Shape, f.Data)
	}
	slices.Sort(seen)
	if !slices.Equal(seen, []string{"lin.bias", "lin.weight"}) {
		t.Errorf("the program read %v", seen)
	}
	if _, err := Upload(backend, map[string]*weights.Tensor{"i": {Shape: []int{1}, DType: "I64", I64: []int64{1}}}, []string{"i"}, nil, false); err == nil ||
		!strings.Contains(err.Error(), "not a float tensor") {
		t.Errorf("integer tensor: %v", err)
	}
}
