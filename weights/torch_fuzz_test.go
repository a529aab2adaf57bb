package weights

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// torchSeeds are small valid PyTorch archives: a stored and a deflated state dict, and one whose
// data.pkl sits at the zip root. The fuzzer mutates the container (zip directory, local headers,
// record sizes) as well as the pickle and the storages.
func torchSeeds(tb testing.TB) [][]byte {
	pkl := stateDict(func(p *pk) {
		p.str("w").tensor("FloatStorage", "1", 4, 0, []int{2, 2}, []int{1, 2})
		p.str("h").tensor("HalfStorage", "0", 32, 2, []int{3}, []int{0})
		p.str("i").tensor("LongStorage", "2", 2, 0, []int{2}, []int{1})
	})
	rec := map[string][]byte{"data/0": make([]byte, 64), "data/1": f32Bytes(1, 2, 3, 4), "data/2": make([]byte, 16)}
	var root bytes.Buffer
	w := zip.NewWriter(&root)
	for _, name := range []string{"data.pkl", "data/0", "data/1", "data/2"} {
		body := pkl
		if name != "data.pkl" {
			body = rec[name]
		}
		fw, err := w.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			tb.Fatal(err)
		}
		fw.Write(body)
	}
	w.Close()
	return [][]byte{torchZip(tb, pkl, rec, zip.Store), torchZip(tb, pkl, rec, zip.Deflate), root.Bytes()}
}

// checkCheckpoint is the invariant every successfully parsed checkpoint must satisfy.
func checkCheckpoint(t *testing.T, c *Checkpoint) {
	t.Helper()
	for name, x := range c.Tensors {
		if x.Name != name || len(x.F32)+len(x.I64) != x.Numel() || (x.F32 != nil) == (x.I64 != nil) && x.Numel() > 0 {
			t.Fatalf("%q: inconsistent tensor %s %v with %d+%d values", name, x.DType, x.Shape, len(x.F32), len(x.I64))
		}
		for _, d := range x.Shape {
			if d < 0 {
				t.Fatalf("%q: negative dimension in %v", name, x.Shape)
			}
		}
	}
}

// FuzzParseTorch feeds arbitrary bytes to the PyTorch zip reader: a checkpoint or an error that
// starts with "weights:", never a panic; and the bytes decoded from disk (Read, which picks the
// format by content and reads storages piecewise from the file) equal the in-memory parse.
func FuzzParseTorch(f *testing.F) {
	for _, s := range torchSeeds(f) {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseTorch(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if c != nil {
				t.Fatalf("checkpoint and error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "weights: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
		} else {
			checkCheckpoint(t, c)
		}
		path := filepath.Join(dir, "ckpt.pt")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fromFile, ferr := Read(path)
		if len(data) >= 4 && bytes.Equal(data[:4], zipMagic) {
			sameCheckpoint(t, c, err, fromFile, ferr)
		} else if ferr == nil {
			checkCheckpoint(t, fromFile)
		}
	})
}

// FuzzReadSafetensors checks that reading a safetensors file from disk (piecewise, through an
// io.ReaderAt) and parsing the same bytes in memory agree: both fail, or both give the same tensors.
func FuzzReadSafetensors(f *testing.F) {
	f.Add(buildST(`{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"__metadata__":{"a":"b"}}`, le16(0x3c00, 0x7c00)))
	f.Add(buildST(`{"a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}`, make([]byte, 16)))
	f.Add(buildST(`{"e":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseSafetensors(data)
		path := filepath.Join(dir, "ckpt.safetensors")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		fromFile, ferr := ReadSafetensors(path)
		sameCheckpoint(t, c, err, fromFile, ferr)
	})
}

func sameCheckpoint(t *testing.T, a *Checkpoint, aerr error, b *Checkpoint, berr error) {
	t.Helper()
	if (aerr == nil) != (berr == nil) {
		t.Fatalf("memory and file readers disagree: %v vs %v", aerr, berr)
	}
	if aerr != nil {
		return
	}
	checkCheckpoint(t, a)
	if len(a.Tensors) != len(b.Tensors) || a.Format != b.Format {
		t.Fatalf("memory: %d tensors (%s), file: %d (%s)", len(a.Tensors), a.Format, len(b.Tensors), b.Format)
	}
	for name, x := range a.Tensors {
		y := b.Tensors[name]
		if y == nil || x.DType != y.DType || !sameBits(x, y) {
			t.Fatalf("%q differs between the memory and the file reader", name)
		}
	}
}
