package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// Pickles that claim huge structures stop at the limits derived from real checkpoints (see
// maxPickleOps), with a message naming the limit, before they grow memory.
func TestPickleStructureLimits(t *testing.T) {
	memo := append([]byte{'}'}, bytes.Repeat([]byte{0x94, '0', '}'}, maxPickleMemo+2)...) // EMPTY_DICT, MEMOIZE, POP
	for _, c := range []struct {
		name string
		pkl  []byte
		want string
	}{
		{"marks", append(bytes.Repeat([]byte{'('}, maxPickleMarks+2), '.'), "mark stack deeper"},
		{"stack", append(append([]byte{'N'}, bytes.Repeat([]byte{'2'}, maxPickleStack+2)...), '.'), "stack deeper"},
		{"memo of dicts", append(memo, '.'), "memo larger"},
		{"opcodes", append(bytes.Repeat([]byte{'N', '0'}, maxPickleOps/2+2), 'N', '.'), "opcodes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := unpickle(c.pkl, torchPersistentLoad)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

// countingReaderAt counts the bytes read from the archive.
type countingReaderAt struct {
	r *bytes.Reader
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// Damaged and crafted zip structure: duplicate records are refused, a directory pointing past the
// end is a clear error, and a compressed storage with many views is inflated once.
func TestTorchZipStructure(t *testing.T) {
	pkl := stateDict(func(p *pk) { p.str("w").tensor("FloatStorage", "0", 2, 0, []int{2}, []int{1}) })
	dup := func() []byte {
		var b bytes.Buffer
		w := zip.NewWriter(&b)
		for _, rec := range []struct{ name, data string }{{"archive/data.pkl", string(pkl)},
			{"archive/data/0", string(f32Bytes(1, 2))}, {"archive/data/0", string(f32Bytes(3, 4))}} {
			f, _ := w.CreateHeader(&zip.FileHeader{Name: rec.name, Method: zip.Store})
			f.Write([]byte(rec.data))
		}
		w.Close()
		return b.Bytes()
	}()
	// The last central-directory record's local-header offset (at +42) moved past the end.
	past := torchZip(t, pkl, map[string][]byte{"data/0": f32Bytes(1, 2), "byteorder": []byte("little")}, zip.Store)
	i := bytes.LastIndex(past, []byte("PK\x01\x02"))
	binary.LittleEndian.PutUint32(past[i+42:], 0x7ffffff0)
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"duplicate storage record", dup, "two zip records named"},
		{"record offset past the end", past, "outside the"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseTorch(bytes.NewReader(c.data), int64(len(c.data)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
			t.Log(err)
		})
	}

	t.Run("many views of one compressed storage", func(t *testing.T) {
		const numel, views = 1 << 16, 2000
		vals := make([]float32, numel)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range vals {
			vals[i] = rng.Float32() // incompressible: the record is as large as the storage
		}
		pkl := stateDict(func(p *pk) {
			for v := range views {
				p.str("v"+strconv.Itoa(v)).tensor("FloatStorage", "0", numel, numel-1-v, []int{1}, []int{1})
			}
		})
		data := torchZip(t, pkl, map[string][]byte{"data/0": f32Bytes(vals...)}, zip.Deflate)
		r := &countingReaderAt{r: bytes.NewReader(data)}
		c, err := ParseTorch(r, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Tensors["v7"].F32[0]; got != vals[numel-1-7] {
			t.Fatalf("v7 = %v, want %v", got, vals[numel-1-7])
		}
		if n := r.n.Load(); n > 3*int64(len(data)) {
			t.Fatalf("read %d bytes of a %d-byte archive: the storage was inflated per view", n, len(data))
		}
	})
}
