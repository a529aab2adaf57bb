package backendbuf

import (
	"reflect"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/gobackend"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// rawLen is the length of the go backend buffer's storage.
func rawLen(t *testing.T, buf compute.Buffer) int {
	t.Helper()
	f := reflect.ValueOf(buf).Elem().FieldByName("RawBytes")
	if !f.IsValid() {
		t.Fatalf("%T has no RawBytes field", buf)
	}
	return f.Len()
}

func TestSharedFloat32IsExactAndUsable(t *testing.T) {
	backend, err := gobackend.New("")
	if err != nil {
		t.Fatal(err)
	}
	// 5x7 float32 = 140 bytes: the go backend's bucket for it is 192.
	rounded, _, err := backend.NewSharedBuffer(0, shapes.Make(dtypes.Float32, 5, 7))
	if err != nil {
		t.Fatal(err)
	}
	if n := rawLen(t, rounded); n == 140 {
		t.Fatalf("the backend no longer rounds 140 bytes up (got %d): this package may be unneeded", n)
	}

	buf, data, err := SharedFloat32(backend, 5, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 35 || rawLen(t, buf) != 140 {
		t.Fatalf("want 35 values in 140 bytes, got %d values in %d bytes", len(data), rawLen(t, buf))
	}
	for i := range data {
		data[i] = float32(i)
	}
	in, err := tensors.FromBuffer(buf)
	if err != nil {
		t.Fatal(err)
	}
	exec := MustNewExec(backend, func(x *Node) *Node { return AddScalar(MulScalar(x, 2), 1) })
	got := exec.MustExec(in)[0].Value().([][]float32)
	for i, row := range got {
		for j, v := range row {
			if want := float32(2*(7*i+j) + 1); v != want {
				t.Fatalf("result[%d][%d] = %v, want %v", i, j, v, want)
			}
		}
	}
	// The storage is the caller's view: a later write is what the next execution reads.
	data[0] = 10
	if v := exec.MustExec(in)[0].Value().([][]float32)[0][0]; v != 21 {
		t.Fatalf("after writing the view, result[0][0] = %v, want 21", v)
	}
}

// bufferWithout stands for a compute.Buffer whose storage is laid out differently: the swap must
// leave it alone rather than guess.
type bufferWithout struct {
	compute.Buffer
	RawBytes []byte
	Flat     []float32 // not an interface: a layout this package does not know
	RawShape shapes.Shape
}

// bufferLike has the go backend's layout and reports its RawShape, as the go backend does.
type bufferLike struct {
	compute.Buffer
	RawBytes []byte
	Flat     any
	RawShape shapes.Shape
}

func (b *bufferLike) Shape() (shapes.Shape, error) { return b.RawShape, nil }

// bufferIgnoringShape has the fields but reports a shape of its own: the swap must be undone.
type bufferIgnoringShape struct{ bufferLike }

func (b *bufferIgnoringShape) Shape() (shapes.Shape, error) {
	return shapes.Make(dtypes.Float32, 1), nil
}

func TestReplaceStorageRefusesUnknownLayouts(t *testing.T) {
	shape := shapes.Make(dtypes.Float32, 2, 2)
	data := make([]float32, 4)
	other := &bufferWithout{RawBytes: make([]byte, 4), Flat: make([]float32, 1)}
	if replaceStorage(other, shape, data) {
		t.Error("swapped the storage of a buffer whose Flat is not an interface")
	}
	ints := &bufferLike{RawBytes: make([]byte, 4), Flat: make([]int32, 1), RawShape: shapes.Make(dtypes.Int32, 1)}
	if replaceStorage(ints, shape, data) {
		t.Error("swapped the storage of a buffer holding int32 values")
	}
	ignoring := &bufferIgnoringShape{bufferLike{RawBytes: make([]byte, 4), Flat: make([]float32, 1), RawShape: shapes.Make(dtypes.Float32, 1)}}
	if replaceStorage(ignoring, shape, data) || len(ignoring.RawBytes) != 4 || len(ignoring.Flat.([]float32)) != 1 || ignoring.RawShape.Size() != 1 {
		t.Error("a buffer that does not report the new shape was left changed")
	}
	ok := &bufferLike{RawBytes: make([]byte, 4), Flat: make([]float32, 1), RawShape: shapes.Make(dtypes.Float32, 1)}
	if !replaceStorage(ok, shape, data) || len(ok.RawBytes) != 16 || &ok.Flat.([]float32)[0] != &data[0] || !ok.RawShape.Equal(shape) {
		t.Errorf("a buffer of the known layout was not given the new storage and shape: %d bytes, shape %s", len(ok.RawBytes), ok.RawShape)
	}
}
