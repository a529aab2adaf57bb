package weights

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/clipsurgery/clipsurgery/internal/safefile"
)

// WriteSafetensors writes tensors as a safetensors file: float tensors as F32 (whatever their
// DType), tensors that only hold I64 data as I64, in the given order, contiguous, header padded
// with spaces to a multiple of 8 so the data is aligned. The file is written under a temporary name
// and renamed, so readers never see a half-written checkpoint.
func WriteSafetensors(path string, tensors []*Tensor, metadata map[string]string) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("weights: writing %s: "+format, append([]any{path}, a...)...)
	}
	type entry struct {
		DType   string  `json:"dtype"`
		Shape   []int   `json:"shape"`
		Offsets []int64 `json:"data_offsets"`
	}
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, t := range tensors {
		if t == nil || t.Name == "__metadata__" {
			return fail("invalid tensor %v", t)
		}
		if _, dup := header[t.Name]; dup {
			return fail("duplicate tensor %q", t.Name)
		}
		n := 1
		for _, d := range t.Shape {
			if d < 0 {
				return fail("tensor %q: negative dimension in %v", t.Name, t.Shape)
			}
			n *= d
		}
		dt, have := "F32", len(t.F32)
		if t.F32 == nil && t.I64 != nil {
			dt, have = "I64", len(t.I64)
		}
		if have != n {
			return fail("tensor %q: shape %v needs %d elements, has %d", t.Name, t.Shape, n, have)
		}
		size := int64(n) * 4
		if dt == "I64" {
			size *= 2
		}
		shape := append([]int{}, t.Shape...) // non-nil, so a scalar is written as [] not null
		header[t.Name] = entry{dt, shape, []int64{off, off + size}}
		off += size
	}
	js, err := json.Marshal(header)
	if err != nil {
		return fail("%v", err)
	}
	for len(js)%8 != 0 {
		js = append(js, ' ')
	}

	// Written through a temporary file renamed into place (mode 0644, like any output).
	err = safefile.WriteAtomic(path, func(out io.Writer) error {
		w := bufio.NewWriterSize(out, 1<<20)
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(len(js)))
		w.Write(b[:])
		w.Write(js)
		for _, t := range tensors {
			if t.F32 == nil && t.I64 != nil {
				for _, v := range t.I64 {
					binary.LittleEndian.PutUint64(b[:], uint64(v))
					w.Write(b[:])
				}
				continue
			}
			for _, v := range t.F32 {
				binary.LittleEndian.PutUint32(b[:4], math.Float32bits(v))
				w.Write(b[:4])
			}
		}
		return w.Flush() // bufio keeps the first write error
	})
	if err != nil {
		return fail("%v", err)
	}
	return nil
}
