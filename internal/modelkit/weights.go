package modelkit

import (
	"fmt"
	"runtime"
	"slices"

	"github.com/clipsurgery/clipsurgery/internal/backendbuf"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// Weights are a model's parameters on a backend, by checkpoint name (sorted), each in the
// checkpoint's layout except the dense weights, stored transposed to [in, out], and on the go
// backend with AVX-512 packed for its kernel as [in, out/32, 32] (see Dense).
type Weights struct {
	backend compute.Backend
	names   []string
	params  []*tensors.Tensor // in the order of names
	shapes  map[string][]int  // in the checkpoint's layout
	dense   func(name string) bool
}

// releaseEvery bounds the garbage of a releasing Upload (released host copies) left uncollected.
const releaseEvery = 64 << 20

// Upload puts the tensors named by names on backend, transposing those for which dense is true
// (2-D, torch's [out, in]) to [in, out]. Lazy tensors (weights.Open) are read from their file
// straight into the backend's buffers, converted and transposed on the way, so no host copy is
// ever made. With release, the caller gives the tensors up: each tensor's F32 is set to nil once
// it is on the backend (after its last name: a tensor may stand under two) and the garbage
// collector runs every releaseEvery bytes, so loading host tensors peaks near one copy of the
// weights instead of two. On a backend with shared buffers (SharedBuffers) each weight is
// allocated exactly sized, not rounded up to the backend's size class.
func Upload(backend compute.Backend, ckpt map[string]*weights.Tensor, names []string, dense func(name string) bool, release bool) (*Weights, error) {
	w := &Weights{backend: backend, names: slices.Sorted(slices.Values(names)), shapes: map[string][]int{}, dense: dense}
	uses := map[*weights.Tensor]int{}
	for _, name := range w.names {
		t, ok := ckpt[name]
		if !ok {
			return nil, fmt.Errorf("tensor %q is missing", name)
		}
		if t.F32 == nil && t.I64 != nil {
			return nil, fmt.Errorf("tensor %q: dtype %s is not a float tensor", name, t.DType)
		}
		if t.F32 == nil && !t.Lazy() {
			return nil, fmt.Errorf("tensor %q has no float32 data (already released?)", name)
		}
		uses[t]++
	}
	pending := 0
	for _, name := range w.names {
		t := ckpt[name]
		dev, err := w.upload(name, t)
		if err != nil {
			return nil, err
		}
		w.params, w.shapes[name] = append(w.params, dev), slices.Clone(t.Shape)
		if uses[t]--; release && uses[t] == 0 && t.F32 != nil {
			pending += 4 * len(t.F32)
			t.F32 = nil
		}
		if pending >= releaseEvery {
			runtime.GC() // weights hold no pointers: a cycle costs milliseconds
			pending = 0
		}
	}
	return w, nil
}

// upload puts one weight on the backend. On a backend with shared buffers the tensor's buffer
// is host memory the backend reads directly, so the model holds one copy of its weights.
func (w *Weights) upload(name string, t *weights.Tensor) (dev *tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("putting %q on the backend: %v", name, r)
		}
	}()
	dims := t.Shape
	have := t.Numel() // a lazy tensor holds what its shape says: the reader checked the file
	if t.F32 != nil {
		have = len(t.F32)
	}
	if n := shapes.Make(dtypes.Float32, dims...).Size(); have != n {
		return nil, fmt.Errorf("tensor %q has %d values for shape %v", name, have, dims)
	}
	dense := w.dense != nil && w.dense(name)
	if dense {
		if len(dims) != 2 {
			return nil, fmt.Errorf("dense weight %q has shape %v, want [out, in]", name, dims)
		}
		dims = []int{dims[1], dims[0]}
	}
	if SharedBuffers(w.backend) {
		packed := dense && dims[0]*dims[1] >= packMin && gobackend.CanPackDenseWeight(dims[1])
		if packed {
			dims = PackedDenseShape(dims[0], dims[1])
		}
		buf, data, err := backendbuf.SharedFloat32(w.backend, dims...) // exact size, not bucketed
		if err != nil {
			return nil, err
		}
		if packed {
			err = fillPacked(data, t)
		} else {
			err = fillWeight(data, t, dense)
		}
		if err != nil {
			buf.Finalize()
			return nil, err
		}
		return tensors.FromBuffer(buf)
	}
	dev, err = tensors.FromShapeForBackend(w.backend, 0, shapes.Make(dtypes.Float32, dims...))
	if err != nil {
		return nil, err
	}
	var fillErr error
	if err := tensors.MutableFlatData(dev, func(dst []float32) { fillErr = fillWeight(dst, t, dense) }); err != nil {
		return nil, err
	}
	if fillErr != nil {
		dev.FinalizeAll()
		return nil, fillErr
	}
	return dev, nil
}

// packMin is the fewest elements of a dense weight Upload packs. The go backend's small-matrix
// path (products with M·N·K < 4 Mi) reads no packed weights, so a packed weight sends every
// product to the packed path; from 512 Ki elements on, only products of fewer than 8 rows would
// have taken the small one. Smaller weights (small models', the golden test models') cost
// little to pack on every call, and their products keep the backend's own paths and results.
const packMin = 1 << 19

// PackedDenseShape is the shape of a dense weight [in, out] packed for the go backend's kernel
// (compute.DenseLayoutPacked).
func PackedDenseShape(in, out int) []int {
	return []int{in, out / compute.DensePackedStrip, compute.DensePackedStrip}
}

// Backend is the backend the weights live on.
func (w *Weights) Backend() compute.Backend { return w.backend }

// Names lists the weights' checkpoint names, sorted.
func (w *Weights) Names() []string { return slices.Clone(w.names) }

// Weight returns a copy of a tensor's values in the checkpoint's layout and its shape, for tools
// and tests.
func (w *Weights) Weight(name string) ([]float32, []int, bool) {
	i, ok := slices.BinarySearch(w.names, name)
	if !ok {
		return nil, nil, false
	}
	data, err := tensors.CopyFlatData[float32](w.params[i])
	if err != nil {
		return nil, nil, false
	}
	s := w.shapes[name]
	if w.dense != nil && w.dense(name) {
		if w.params[i].Shape().Rank() == 3 { // packed by Upload
			flat := make([]float32, len(data))
			if !gobackend.UnpackDenseWeight(flat, data, s[1], s[0]) {
				return nil, nil, false
			}
			data = flat
		}
		data = TransposeMatrix(make([]float32, len(data)), data, s[1], s[0]) // stored [in, out]
	}
	return data, slices.Clone(s), true
}

// TransposeMatrix writes the [cols, rows] transpose of the row-major [rows, cols] matrix a into
// out and returns it.
func TransposeMatrix(out, a []float32, rows, cols int) []float32 {
	transposeRows(out, a, rows, cols, 0)
	return out
}
