package modelkit

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/weights"
)

// naiveTranspose is the definition transposeRows must meet.
func naiveTranspose(a []float32, rows, cols int) []float32 {
	out := make([]float32, len(a))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			out[j*rows+i] = a[i*cols+j]
		}
	}
	return out
}

func TestTransposeRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range [][2]int{{1, 1}, {1, 7}, {7, 1}, {16, 16}, {17, 5}, {33, 100}, {48, 3}, {100, 33}} {
		rows, cols := s[0], s[1]
		a := make([]float32, rows*cols)
		for i := range a {
			a[i] = rng.Float32()
		}
		want := naiveTranspose(a, rows, cols)
		if got := TransposeMatrix(make([]float32, len(a)), a, rows, cols); !slices.Equal(got, want) {
			t.Errorf("%dx%d: whole matrix differs", rows, cols)
		}
		// In pieces of rows, as fillWeight hands them over, at unaligned boundaries.
		got := make([]float32, len(a))
		for r := 0; r < rows; r += 5 {
			k := min(5, rows-r)
			transposeRows(got, a[r*cols:(r+k)*cols], rows, cols, r)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%dx%d: in pieces of 5 rows differs", rows, cols)
		}
	}
}

// writeST writes a safetensors file of F32 and F16 tensors given as raw little-endian bytes.
func writeST(t *testing.T, tensors map[string]struct {
	dtype string
	shape []int
	data  []byte
}) string {
	t.Helper()
	var header []string
	var data []byte
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range tensors {
			if !yield(k) {
				return
			}
		}
	}) {
		x := tensors[name]
		header = append(header, fmt.Sprintf(`%q:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`,
			name, x.dtype, strings.ReplaceAll(fmt.Sprint(x.shape), " ", ","), len(data), len(data)+len(x.data)))
		data = append(data, x.data...)
	}
	h := "{" + strings.Join(header, ",") + "}"
	file := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	file = append(append(file, h...), data...)
	p := filepath.Join(t.TempDir(), "w.safetensors")
	if err := os.WriteFile(p, file, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestUploadLazyMatchesHost: weights uploaded from a file opened lazily (read and transposed in
// staged blocks, split across goroutines) equal those uploaded from host copies (weights.Read),
// for dense and other weights, float32 and float16, shapes that are not multiples of the block,
// dense weights packed for the kernel (an output width that is a multiple of 32) included.
func TestUploadLazyMatchesHost(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3)) // split even on one core, unevenly
	rng := rand.New(rand.NewPCG(5, 6))
	shapes := map[string][]int{"d32": {301, 257}, "d16": {270, 300}, "small": {3, 5}, "v32": {70001}, "v16": {3, 40000},
		"dp32": {608, 1000}, "dp16": {544, 1000}} // packed where the go backend packs (gobackend.CanPackDenseWeight)
	spec := map[string]struct {
		dtype string
		shape []int
		data  []byte
	}{}
	for name, shape := range shapes {
		n := 1
		for _, d := range shape {
			n *= d
		}
		var b []byte
		dt := "F32"
		if strings.HasSuffix(name, "16") {
			dt = "F16"
			for range n {
				b = binary.LittleEndian.AppendUint16(b, uint16(rng.IntN(0x7c00))|uint16(rng.IntN(2))<<15)
			}
		} else {
			for range n {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(rng.NormFloat64())))
			}
		}
		spec[name] = struct {
			dtype string
			shape []int
			data  []byte
		}{dt, shape, b}
	}
	path := writeST(t, spec)
	dense := func(name string) bool { return strings.HasPrefix(name, "d") || name == "small" }
	names := slices.Collect(func(yield func(string) bool) {
		for k := range shapes {
			if !yield(k) {
				return
			}
		}
	})
	backend, err := NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	host, err := weights.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Upload(backend, host.Tensors, names, dense, false)
	if err != nil {
		t.Fatal(err)
	}
	lazy, err := weights.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer lazy.Close()
	got, err := Upload(backend, lazy.Tensors, names, dense, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		g, gs, ok1 := got.Weight(name)
		w, ws, ok2 := want.Weight(name)
		if !ok1 || !ok2 || !slices.Equal(gs, ws) || !slices.Equal(g, w) || !slices.Equal(w, host.Tensors[name].F32) {
			t.Errorf("%s: lazy upload differs from the host upload or the file", name)
		}
		if !lazy.Tensors[name].Lazy() {
			t.Errorf("%s: the upload loaded the lazy tensor into host memory", name)
		}
	}
	// Stored [in, out]: check one dense weight's layout on the backend directly.
	if m := got.params[slices.Index(got.names, "d32")].Value().([][]float32); len(m) != 257 || len(m[0]) != 301 || m[5][7] != host.Tensors["d32"].F32[7*257+5] {
		t.Errorf("d32 on the backend is not the [in, out] transpose")
	}
}

// TestUploadLazyReadError: a read error (the file closed under the upload) is an error naming
// the tensor, not a panic or a half-filled model.
func TestUploadLazyReadError(t *testing.T) {
	path := writeST(t, map[string]struct {
		dtype string
		shape []int
		data  []byte
	}{"w": {"F32", []int{2, 2}, make([]byte, 16)}})
	c, err := weights.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	backend, err := NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	w, err := Upload(backend, c.Tensors, []string{"w"}, func(string) bool { return true }, true)
	if err == nil || w != nil || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("upload from a closed file: %v", err)
	}
}

// BenchmarkTransposeRows times the dense-weight transpose on ViT-B/16's MLP shape into a
// destination already in memory (no page faults).
func BenchmarkTransposeRows(b *testing.B) {
	rows, cols := 3072, 768
	src, dst := make([]float32, rows*cols), make([]float32, rows*cols)
	for i := range src {
		src[i] = float32(i)
	}
	b.SetBytes(int64(4 * len(src)))
	for b.Loop() {
		transposeRows(dst, src, rows, cols, 0)
	}
}

// BenchmarkTransposeRowsFresh is BenchmarkTransposeRows into newly allocated memory, as when
// loading a checkpoint.
func BenchmarkTransposeRowsFresh(b *testing.B) {
	rows, cols := 3072, 768
	src := make([]float32, rows*cols)
	b.SetBytes(int64(4 * len(src)))
	for b.Loop() {
		transposeRows(make([]float32, rows*cols), src, rows, cols, 0)
	}
}
