// Package backendbuf allocates weight buffers on a backend with shared (host-addressable)
// buffers, such as the pure-Go backend, without the backend's size rounding.
//
// Why: the go backend (compute v0.1.14) rounds every buffer up to a size bucket (a power of two
// or 1.5 times one) so that its pools can reuse buffers across executions. Weights are never
// pooled (shared buffers are "user fed" and freed, not recycled, when finalized), so for them
// the rounding is pure loss: 128 MiB of ViT-B/16's 571 MiB, up to 50% for a single tensor.
// compute exposes no exact-size allocation, but its buffer's storage fields are exported; this
// package swaps in exactly sized storage through reflect and checks that it took effect, and
// keeps the rounded buffer (correct, only larger) if a later compute changes those fields.
package backendbuf

import (
	"reflect"
	"unsafe"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
)

// SharedFloat32 returns a new float32 buffer of the given dimensions on backend (which must have
// shared buffers) and the host view of its storage, exactly Size() long. The view's contents are
// undefined: the caller fills it before the first execution and must not write it while one runs.
func SharedFloat32(backend compute.Backend, dims ...int) (compute.Buffer, []float32, error) {
	shape := shapes.Make(dtypes.Float32, dims...)
	buf, flat, err := backend.NewSharedBuffer(0, shape)
	if err != nil {
		return nil, nil, err
	}
	data := flat.([]float32)
	if exact := make([]float32, shape.Size()); len(exact) > 0 && replaceStorage(buf, exact) {
		data = exact
	}
	return buf, data, nil
}

// replaceStorage points buf's storage (fields RawBytes []byte and Flat any of the go backend's
// *Buffer) at data. It reports false, changing nothing, if buf does not have those fields or did
// not hold a []float32 of data's length.
func replaceStorage(buf compute.Buffer, data []float32) bool {
	v := reflect.ValueOf(buf)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return false
	}
	raw, flat := v.Elem().FieldByName("RawBytes"), v.Elem().FieldByName("Flat")
	if !raw.IsValid() || !flat.IsValid() || !raw.CanSet() || !flat.CanSet() ||
		raw.Type() != reflect.TypeFor[[]byte]() || flat.Kind() != reflect.Interface {
		return false
	}
	old, ok := flat.Interface().([]float32)
	if !ok || len(old) != len(data) || raw.Len() < 4*len(data) {
		return false
	}
	raw.Set(reflect.ValueOf(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), 4*len(data))))
	flat.Set(reflect.ValueOf(data))
	return true
}
