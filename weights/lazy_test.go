package weights

import (
	"archive/zip"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// readPieces reads a tensor with ReadF32 in pieces of the given size (the last one shorter).
func readPieces(t *testing.T, x *Tensor, piece int) []float32 {
	t.Helper()
	out := make([]float32, x.Numel())
	for at := 0; at < len(out); at += piece {
		if err := x.ReadF32(out[at:min(at+piece, len(out))], at); err != nil {
			t.Fatalf("%s: ReadF32 at %d: %v", x.Name, at, err)
		}
	}
	return out
}

func sameFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// TestOpenMatchesRead: on every golden checkpoint, Open's lazy tensors read in pieces of several
// sizes (crossing the staging buffer at odd places) are bit-identical to Read's (which the golden
// tests check against independently decoded bytes), and the non-float tensors are the same.
func TestOpenMatchesRead(t *testing.T) {
	for _, rel := range [][]string{
		{"models", "vit16.openai.safetensors"}, {"models", "vit16.hf.safetensors"},
		{"models", "rn.openai.safetensors"}, {"models", "vit16.openai.jit.pt"},
		{"sam", "sam_tiny.safetensors"}, {"sam", "sam_tiny.pth"},
	} {
		t.Run(rel[1], func(t *testing.T) {
			path := goldens.Path(t, rel...)
			want, err := Read(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			if got.Format != want.Format || got.Path != path || fmt.Sprint(got.Names()) != fmt.Sprint(want.Names()) {
				t.Fatalf("format %q vs %q, %d vs %d tensors", got.Format, want.Format, len(got.Tensors), len(want.Tensors))
			}
			lazy, halves := 0, 0
			for _, name := range want.Names() {
				g, w := got.Tensors[name], want.Tensors[name]
				if g.DType != w.DType || fmt.Sprint(g.Shape) != fmt.Sprint(w.Shape) || w.Lazy() {
					t.Fatalf("%s: %s %v (lazy %v) vs %s %v", name, g.DType, g.Shape, w.Lazy(), w.DType, w.Shape)
				}
				if w.F32 == nil {
					if g.Lazy() || fmt.Sprint(g.I64) != fmt.Sprint(w.I64) {
						t.Errorf("%s: integer tensor differs or is lazy", name)
					}
					continue
				}
				if !g.Lazy() || g.F32 != nil {
					t.Errorf("%s: a float tensor from Open should be lazy", name)
					continue
				}
				lazy++
				if g.DType == "F16" {
					halves++
				}
				for _, piece := range []int{1, 97, 4099, 1 << 20} {
					if piece == 1 && g.Numel() > 5000 {
						continue
					}
					if !sameFloats(readPieces(t, g, piece), w.F32) {
						t.Fatalf("%s read in pieces of %d differs from Read", name, piece)
					}
				}
				if err := g.Load(); err != nil || g.Lazy() || !sameFloats(g.F32, w.F32) {
					t.Fatalf("%s: Load: %v, lazy %v", name, err, g.Lazy())
				}
			}
			if lazy == 0 || strings.HasSuffix(path, ".pt") && halves == 0 {
				t.Errorf("%d lazy tensors, %d of them float16", lazy, halves)
			}
		})
	}
}

// writeFile writes data to a new file in a test folder.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// randomHalves returns n random halves that are not NaN (their payload is checked elsewhere).
func randomHalves(rng *rand.Rand, n int) []uint16 {
	h := make([]uint16, n)
	for i := range h {
		for h[i] = uint16(rng.Uint32()); h[i]&0x7c00 == 0x7c00 && h[i]&0x3ff != 0; h[i] = uint16(rng.Uint32()) {
		}
	}
	return h
}

// TestLazyDTypes reads F32, F16, BF16 and F64 tensors larger than the staging buffer from a
// safetensors file written here, at random ranges, against a decoding written independently.
func TestLazyDTypes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 300_001 // odd, and > the staging buffer in every dtype
	halves := randomHalves(rng, n)
	f32 := make([]byte, 4*n)
	f64 := make([]byte, 8*n)
	want := map[string][]float32{"h": make([]float32, n), "b": make([]float32, n), "f": make([]float32, n), "d": make([]float32, n)}
	for i, h := range halves {
		want["h"][i] = float32(f16Ref(h))
		want["b"][i] = math.Float32frombits(uint32(h) << 16)
		v := float32(rng.NormFloat64())
		binary.LittleEndian.PutUint32(f32[4*i:], math.Float32bits(v))
		want["f"][i] = v
		d := rng.NormFloat64()
		binary.LittleEndian.PutUint64(f64[8*i:], math.Float64bits(d))
		want["d"][i] = float32(d)
	}
	h16 := le16(halves...)
	data := append(append(append(append([]byte{}, h16...), h16...), f32...), f64...)
	header := fmt.Sprintf(`{"h":{"dtype":"F16","shape":[%d],"data_offsets":[0,%d]},`+
		`"b":{"dtype":"BF16","shape":[%d],"data_offsets":[%d,%d]},`+
		`"f":{"dtype":"F32","shape":[%d],"data_offsets":[%d,%d]},`+
		`"d":{"dtype":"F64","shape":[%d],"data_offsets":[%d,%d]}}`,
		n, 2*n, n, 2*n, 4*n, n, 4*n, 8*n, n, 8*n, 16*n)
	c, err := Open(writeFile(t, "dtypes.safetensors", buildST(header, data)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for name, w := range want {
		x := c.Tensors[name]
		if !x.Lazy() {
			t.Fatalf("%s is not lazy", name)
		}
		if got := readPieces(t, x, n); !sameFloats(got, w) {
			t.Errorf("%s (%s): whole tensor differs", name, x.DType)
		}
		for range 20 {
			at := rng.IntN(n)
			got := make([]float32, rng.IntN(n-at+1))
			if err := x.ReadF32(got, at); err != nil || !sameFloats(got, w[at:at+len(got)]) {
				t.Fatalf("%s (%s): [%d, %d): %v", name, x.DType, at, at+len(got), err)
			}
		}
	}
}

// TestLazyTorch: stored float16, bfloat16 and float32 storages with offsets are read lazily;
// strided views and compressed records are converted at once, with the same values.
func TestLazyTorch(t *testing.T) {
	pkl := stateDict(func(p *pk) {
		p.str("h").tensor("HalfStorage", "0", 6, 2, []int{2, 2}, []int{2, 1})
		p.str("b").tensor("BFloat16Storage", "1", 3, 1, []int{2}, []int{1})
		p.str("f").tensor("FloatStorage", "2", 6, 0, []int{2, 3}, []int{3, 1})
		p.str("t").tensor("FloatStorage", "2", 6, 0, []int{3, 2}, []int{1, 3}) // a transpose
	})
	records := map[string][]byte{
		"data/0": le16(0xffff, 0xffff, 0x3c00, 0xc000, 0x0001, 0x7bff),
		"data/1": le16(0, 0x3f80, 0xc040),
		"data/2": f32Bytes(0, 1, 2, 3, 4, 5),
	}
	want := map[string][]float32{
		"h": {1, -2, 0x1p-24, 65504}, "b": {1, -3}, "f": {0, 1, 2, 3, 4, 5}, "t": {0, 3, 1, 4, 2, 5},
	}
	for _, method := range []uint16{zip.Store, zip.Deflate} {
		c, err := Open(writeFile(t, "ck.pth", torchZip(t, pkl, records, method)))
		if err != nil {
			t.Fatal(err)
		}
		for name, w := range want {
			x := c.Tensors[name]
			if wantLazy := method == zip.Store && name != "t"; x.Lazy() != wantLazy {
				t.Errorf("method %d: %s lazy %v, want %v", method, name, x.Lazy(), wantLazy)
			}
			if got := readPieces(t, x, 3); !sameFloats(got, w) {
				t.Errorf("method %d: %s = %v, want %v", method, name, got, w)
			}
		}
		c.Close()
	}
}

// TestLazyFileShrinks: a file cut after Open gives an error naming the file and tensor when the
// missing part is read, never a panic or zeros.
func TestLazyFileShrinks(t *testing.T) {
	data := buildST(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F16","shape":[4],"data_offsets":[16,24]}}`,
		append(f32Bytes(1, 2, 3, 4), le16(1, 2, 3, 4)...))
	path := writeFile(t, "shrinks.safetensors", data)
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := os.Truncate(path, int64(len(data)-10)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		err := c.Tensors[name].ReadF32(make([]float32, 4), 0)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("%q", name)) ||
			!strings.Contains(err.Error(), "unexpected EOF") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Read(path); err == nil {
		t.Error("Read of the cut file succeeded")
	}
}

// TestLazyMisuse: ranges outside the tensor and reads after Close are errors.
func TestLazyMisuse(t *testing.T) {
	path := writeFile(t, "x.safetensors", buildST(`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}`, f32Bytes(1, 2, 3, 4)))
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Tensors["a"]
	for _, r := range []struct{ at, n int }{{-1, 1}, {0, 5}, {3, 2}, {5, 0}} {
		if err := a.ReadF32(make([]float32, r.n), r.at); err == nil {
			t.Errorf("elements [%d, %d) of 4 read without error", r.at, r.at+r.n)
		}
	}
	got := make([]float32, 2)
	if err := a.ReadF32(got, 2); err != nil || got[0] != 3 || got[1] != 4 {
		t.Errorf("elements [2, 4): %v %v", got, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.ReadF32(got, 0); err == nil {
		t.Error("read after Close succeeded")
	}
	if err := a.Load(); err == nil || a.F32 != nil || !a.Lazy() {
		t.Errorf("Load after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestOpenTruncatedGolden: Open refuses every cut of the real checkpoints, as Read does, before
// any tensor is read.
func TestOpenTruncatedGolden(t *testing.T) {
	for _, name := range []string{"vit16.openai.jit.pt", "vit16.openai.safetensors"} {
		full, err := os.ReadFile(goldens.Path(t, "models", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, frac := range []float64{0.001, 0.5, 0.999} {
			p := writeFile(t, name, full[:int(float64(len(full))*frac)])
			if c, err := Open(p); err == nil || c != nil || !strings.Contains(err.Error(), p) {
				t.Errorf("%s cut at %.1f%%: %v", name, 100*frac, err)
			}
		}
	}
}
