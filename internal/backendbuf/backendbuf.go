// Package backendbuf allocates weight buffers on a backend with shared (host-addressable)
// buffers, such as the pure-Go backend, without the backend's size rounding.
//
// Why: the go backend (compute v0.1.14) rounds every buffer up to a size bucket (a power of two
// or 1.5 times one) so that its pools can reuse buffers across executions. Weights are never
// pooled (shared buffers are "user fed" and freed, not recycled, when finalized), so for them
// the rounding is pure loss: 128 MiB of ViT-B/16's 571 MiB, up to 50% for a single tensor.
// compute exposes no exact-size allocation, but its buffer's storage and shape fields are
// exported; this package swaps exactly sized storage and the weight's shape into a one-element
// buffer through reflect and checks that it took effect, and falls back to the rounded buffer
// (correct, only larger) if a later compute changes those fields.
package backendbuf

import (
	"reflect"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
)

// SharedFloat32 returns a new float32 buffer of the given dimensions on backend (which must have
// shared buffers) and the host view of its storage, exactly Size() long and zeroed. The caller
// fills it before the first execution and must not write it while one runs.
//
// The backend is asked for a one-element buffer, which is then given the weight's shape and
// storage, so that the rounded storage is never allocated (and never needs collecting).
func SharedFloat32(backend compute.Backend, dims ...int) (compute.Buffer, []float32, error) {
	shape := shapes.Make(dtypes.Float32, dims...)
	if n := shape.Size(); n > 0 {
		buf, _, err := backend.NewSharedBuffer(0, shapes.Make(dtypes.Float32, 1))
		if err != nil {
			return nil, nil, err
		}
		exact := make([]float32, n)
		populate(exact)
		if replaceStorage(buf, shape, exact) {
			return buf, exact, nil
		}
		buf.Finalize()
	}
	buf, flat, err := backend.NewSharedBuffer(0, shape) // rounded up: correct, only larger
	if err != nil {
		return nil, nil, err
	}
	data := flat.([]float32)
	clear(data) // a pooled buffer keeps its old contents
	return buf, data, nil
}

// replaceStorage points buf's storage (fields RawBytes []byte and Flat any of the go backend's
// *Buffer, which held a []float32) at data and its shape (field RawShape) at shape. It reports
// false, changing nothing, if buf does not have those fields or the backend does not then report
// the new shape.
func replaceStorage(buf compute.Buffer, shape shapes.Shape, data []float32) bool {
	v := reflect.ValueOf(buf)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return false
	}
	raw, flat, sh := v.Elem().FieldByName("RawBytes"), v.Elem().FieldByName("Flat"), v.Elem().FieldByName("RawShape")
	if !raw.IsValid() || !flat.IsValid() || !sh.IsValid() || !raw.CanSet() || !flat.CanSet() || !sh.CanSet() ||
		raw.Type() != reflect.TypeFor[[]byte]() || flat.Kind() != reflect.Interface || sh.Type() != reflect.TypeFor[shapes.Shape]() {
		return false
	}
	if _, ok := flat.Interface().([]float32); !ok {
		return false
	}
	oldRaw, oldFlat, oldShape := raw.Interface(), flat.Interface(), sh.Interface()
	raw.Set(reflect.ValueOf(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), 4*len(data))))
	flat.Set(reflect.ValueOf(data))
	sh.Set(reflect.ValueOf(shape.Clone()))
	if got, err := buf.Shape(); err != nil || !got.Equal(shape) {
		raw.Set(reflect.ValueOf(oldRaw))
		flat.Set(reflect.ValueOf(oldFlat))
		sh.Set(reflect.ValueOf(oldShape))
		return false
	}
	return true
}
