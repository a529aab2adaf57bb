package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
)

// maxHeader bounds the JSON header (the reference implementation uses the same 100 MB), so that a
// corrupt length is refused before anything is allocated.
const maxHeader = 100 << 20

// chunkBytes is the read buffer used while converting: conversion never holds more than the
// float32/int64 result plus this buffer, whatever the file size.
const chunkBytes = 1 << 20

// ReadSafetensors reads a .safetensors file. Tensor data is read piecewise from the open file, so
// memory is the converted result plus a small buffer (not a copy of the file).
func ReadSafetensors(path string) (*Checkpoint, error) {
	return loadAll(openFile(path, parseSafetensors))
}

// ParseSafetensors parses a safetensors file held in memory.
func ParseSafetensors(data []byte) (*Checkpoint, error) {
	return parseSafetensors(bytes.NewReader(data), int64(len(data)), "safetensors data", false)
}

// stEntry is one header entry; pointers tell a missing field from a zero one.
type stEntry struct {
	DType   *string  `json:"dtype"`
	Shape   *[]int64 `json:"shape"`
	Offsets *[]int64 `json:"data_offsets"`
}

// parseSafetensors checks a safetensors file and converts its tensors; with lazy, float tensors
// are left in r (see Open).
func parseSafetensors(r io.ReaderAt, size int64, src string, lazy bool) (*Checkpoint, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("weights: %s: safetensors: "+format, append([]any{src}, a...)...)
	}
	var lenBuf [8]byte
	if size < 8 {
		return nil, fail("file is %d bytes, shorter than the 8-byte header length", size)
	}
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fail("reading header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxHeader {
		return nil, fail("header length %d exceeds the %d-byte limit (corrupt or not a safetensors file)", n, maxHeader)
	}
	if int64(n) > size-8 {
		return nil, fail("header length %d exceeds the file size %d (truncated file?)", n, size)
	}
	header := make([]byte, n)
	if _, err := r.ReadAt(header, 8); err != nil {
		return nil, fail("reading header: %v", err)
	}
	dataStart := 8 + int64(n)
	dataLen := size - dataStart

	entries, order, err := decodeHeader(header)
	if err != nil {
		return nil, fail("header: %v", err)
	}
	c := &Checkpoint{Tensors: map[string]*Tensor{}, Metadata: map[string]string{}, Format: "safetensors"}
	if raw, ok := entries["__metadata__"]; ok {
		if err := json.Unmarshal(raw, &c.Metadata); err != nil {
			return nil, fail("__metadata__ must map strings to strings: %v", err)
		}
		if c.Metadata == nil { // a JSON null
			c.Metadata = map[string]string{}
		}
	}

	// Validate every entry before converting any data, so a bad file costs nothing to refuse.
	type plan struct {
		t          *Tensor
		start, end int64
	}
	var plans []plan
	var total int64
	for _, name := range order {
		if name == "__metadata__" {
			continue
		}
		tfail := func(format string, a ...any) error {
			return fail("tensor %q: "+format, append([]any{name}, a...)...)
		}
		var e stEntry
		dec := json.NewDecoder(bytes.NewReader(entries[name]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, tfail("bad entry: %v", err)
		}
		if e.DType == nil || e.Shape == nil || e.Offsets == nil {
			return nil, tfail("entry needs dtype, shape and data_offsets")
		}
		info, ok := dtypes[*e.DType]
		if !ok {
			return nil, tfail("unknown dtype %q", *e.DType)
		}
		shape, numel, err := checkShape(*e.Shape)
		if err != nil {
			return nil, tfail("%v", err)
		}
		if len(*e.Offsets) != 2 {
			return nil, tfail("data_offsets must be [begin, end], got %v", *e.Offsets)
		}
		start, end := (*e.Offsets)[0], (*e.Offsets)[1]
		if start < 0 || end < start {
			return nil, tfail("data_offsets [%d, %d] outside the data area of %d bytes", start, end, dataLen)
		}
		if end > dataLen {
			return nil, tfail("data_offsets [%d, %d] outside the data area of %d bytes (truncated file?)", start, end, dataLen)
		}
		if numel > math.MaxInt64/int64(info.size) || end-start != numel*int64(info.size) {
			return nil, tfail("data_offsets [%d, %d] hold %d bytes, but %v %s needs %d elements × %d bytes",
				start, end, end-start, shape, *e.DType, numel, info.size)
		}
		// Overlapping tensors are legal, but bound the total so a tiny file cannot ask for
		// terabytes by pointing thousands of entries at the same bytes.
		total += end - start
		if total > 4*dataLen+chunkBytes {
			return nil, tfail("tensors reference %d bytes in total, more than 4× the %d-byte data area", total, dataLen)
		}
		plans = append(plans, plan{&Tensor{Name: name, Shape: shape, DType: *e.DType}, start, end})
	}
	var buf []byte
	for _, p := range plans {
		if dtypes[p.t.DType].float {
			p.t.src = &source{r: r, off: dataStart + p.start, where: fmt.Sprintf("weights: %s: safetensors: tensor %q", src, p.t.Name)}
			if !lazy {
				if err := p.t.Load(); err != nil {
					return nil, err
				}
			}
		} else {
			if buf == nil {
				buf = make([]byte, min(chunkBytes, int(max(total, 0))))
			}
			if err := readTensor(r, dataStart+p.start, p.t, buf); err != nil {
				return nil, fail("tensor %q: %v", p.t.Name, err)
			}
		}
		c.Tensors[p.t.Name] = p.t
	}
	return c, nil
}

// decodeHeader splits the top-level JSON object into raw entries, refusing duplicate names (which
// encoding/json would silently resolve to the last one) and trailing garbage.
func decodeHeader(header []byte) (map[string]json.RawMessage, []string, error) {
	dec := json.NewDecoder(bytes.NewReader(header))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errors.New("not a JSON object")
	}
	entries := map[string]json.RawMessage{}
	var order []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("unexpected %v", tok)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("entry %q: %v", name, err)
		}
		if _, dup := entries[name]; dup {
			return nil, nil, fmt.Errorf("duplicate entry %q", name)
		}
		entries[name] = raw
		order = append(order, name)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, nil, err
	}
	// Only padding (spaces, as written by the reference implementation) may follow.
	if len(bytes.TrimRight(header[dec.InputOffset():], " \t\r\n")) != 0 {
		return nil, nil, errors.New("trailing data after the JSON object")
	}
	return entries, order, nil
}

// checkShape converts a shape to ints and returns its element count, refusing negative dimensions
// and products that overflow (the count must also fit an int to be allocated).
func checkShape(dims []int64) ([]int, int64, error) {
	shape := make([]int, len(dims))
	numel := int64(1)
	for i, d := range dims {
		if d < 0 {
			return nil, 0, fmt.Errorf("negative dimension in shape %v", dims)
		}
		if d != 0 && numel > math.MaxInt32*int64(math.MaxInt32)/d {
			return nil, 0, fmt.Errorf("shape %v has too many elements", dims)
		}
		numel *= d
		shape[i] = int(d)
	}
	if numel > math.MaxInt {
		return nil, 0, fmt.Errorf("shape %v has too many elements", dims)
	}
	return shape, numel, nil
}

// readTensor allocates t's host slice and fills it from the contiguous little-endian bytes at off,
// converting one buffer-full at a time.
func readTensor(r io.ReaderAt, off int64, t *Tensor, buf []byte) error {
	info, ok := dtypes[t.DType]
	if !ok {
		return fmt.Errorf("unknown dtype %q", t.DType)
	}
	n := t.Numel()
	if info.float {
		t.F32 = make([]float32, n)
	} else {
		t.I64 = make([]int64, n)
	}
	step := len(buf) / info.size
	for at := 0; at < n; {
		k := min(step, n-at)
		if k <= 0 {
			return errors.New("internal: read buffer too small")
		}
		b := buf[:k*info.size]
		if _, err := r.ReadAt(b, off+int64(at*info.size)); err != nil {
			return fmt.Errorf("reading data: %v", err)
		}
		if err := convertChunk(t, at, b); err != nil {
			return err
		}
		at += k
	}
	return nil
}
