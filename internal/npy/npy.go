// Package npy reads and writes NumPy .npy files (format 1.0/2.0, little-endian, C order): the
// golden data of the parity tests and the maps the command writes for Python users.
package npy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Array is one .npy array. Exactly one of F32, I32, U8 is filled, chosen by DType.
type Array struct {
	Shape []int
	DType string // "<f4", "<i4", "|u1" (also read: "<i8" into I32 when it fits, "<f8" into F32)
	F32   []float32
	I32   []int32
	U8    []uint8
}

// Len is the number of elements.
func (a *Array) Len() int {
	n := 1
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

var (
	descrRe = regexp.MustCompile(`'descr':\s*'([^']+)'`)
	orderRe = regexp.MustCompile(`'fortran_order':\s*(True|False)`)
	shapeRe = regexp.MustCompile(`'shape':\s*\(([^)]*)\)`)
)

// ReadFile reads one .npy file.
func ReadFile(path string) (*Array, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	a, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// Parse decodes the bytes of a .npy file. A uint8 array's U8 shares data's memory.
func Parse(data []byte) (*Array, error) {
	if len(data) < 10 || !bytes.Equal(data[:6], []byte("\x93NUMPY")) {
		return nil, fmt.Errorf("npy: not a .npy file (bad magic)")
	}
	var headerLen, start int
	switch data[6] {
	case 1:
		headerLen, start = int(binary.LittleEndian.Uint16(data[8:10])), 10
	case 2, 3:
		if len(data) < 12 {
			return nil, fmt.Errorf("npy: truncated header")
		}
		headerLen, start = int(binary.LittleEndian.Uint32(data[8:12])), 12
	default:
		return nil, fmt.Errorf("npy: unsupported format version %d", data[6])
	}
	if start+headerLen > len(data) {
		return nil, fmt.Errorf("npy: truncated header")
	}
	header := string(data[start : start+headerLen])
	body := data[start+headerLen:]
	m := descrRe.FindStringSubmatch(header)
	if m == nil {
		return nil, fmt.Errorf("npy: header without descr: %q", header)
	}
	if o := orderRe.FindStringSubmatch(header); o != nil && o[1] == "True" {
		return nil, fmt.Errorf("npy: fortran order is not supported")
	}
	s := shapeRe.FindStringSubmatch(header)
	if s == nil {
		return nil, fmt.Errorf("npy: header without shape: %q", header)
	}
	a := &Array{DType: m[1]}
	for _, f := range strings.Split(s[1], ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		d, err := strconv.Atoi(f)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("npy: bad shape %q", s[1])
		}
		a.Shape = append(a.Shape, d)
	}
	// The element count is checked against the data before anything is allocated: a header can
	// claim any shape, and a product that overflows int would wrap to a small number.
	n := 1
	for _, d := range a.Shape {
		if d != 0 && n > math.MaxInt/d {
			return nil, fmt.Errorf("npy: shape %v holds more elements than an int counts", a.Shape)
		}
		n *= d
	}
	need := func(size int) error {
		if n > len(body)/size {
			return fmt.Errorf("npy: data truncated: %d bytes for %d elements of %d bytes", len(body), n, size)
		}
		return nil
	}
	switch a.DType {
	case "<f4":
		if err := need(4); err != nil {
			return nil, err
		}
		a.F32 = make([]float32, n)
		for i := range a.F32 {
			a.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
		}
	case "<f8":
		if err := need(8); err != nil {
			return nil, err
		}
		a.F32 = make([]float32, n)
		for i := range a.F32 {
			a.F32[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(body[8*i:])))
		}
		a.DType = "<f4"
	case "<i4":
		if err := need(4); err != nil {
			return nil, err
		}
		a.I32 = make([]int32, n)
		for i := range a.I32 {
			a.I32[i] = int32(binary.LittleEndian.Uint32(body[4*i:]))
		}
	case "<i8":
		if err := need(8); err != nil {
			return nil, err
		}
		a.I32 = make([]int32, n)
		for i := range a.I32 {
			v := int64(binary.LittleEndian.Uint64(body[8*i:]))
			if v != int64(int32(v)) {
				return nil, fmt.Errorf("npy: int64 value %d does not fit int32", v)
			}
			a.I32[i] = int32(v)
		}
		a.DType = "<i4"
	case "|u1", "<u1", "|b1":
		if err := need(1); err != nil {
			return nil, err
		}
		a.U8 = body[:n:n] // shares data: no second copy of a large image
		a.DType = "|u1"
	default:
		return nil, fmt.Errorf("npy: unsupported dtype %q", a.DType)
	}
	return a, nil
}

// WriteFloat32 writes a float32 array of the given shape as .npy (format 1.0). The data is
// converted in small chunks: a 100-megapixel map is not copied whole.
func WriteFloat32(w io.Writer, shape []int, data []float32) error {
	return write(w, "<f4", shape, len(data), 4, func(b []byte, i int) { binary.LittleEndian.PutUint32(b, math.Float32bits(data[i])) })
}

// WriteInt32 writes an int32 array of the given shape as .npy (format 1.0).
func WriteInt32(w io.Writer, shape []int, data []int32) error {
	return write(w, "<i4", shape, len(data), 4, func(b []byte, i int) { binary.LittleEndian.PutUint32(b, uint32(data[i])) })
}

// WriteMask writes a boolean mask of the given shape as a uint8 .npy (format 1.0, 1 = true).
func WriteMask(w io.Writer, shape []int, mask []bool) error {
	return write(w, "|u1", shape, len(mask), 1, func(b []byte, i int) {
		b[0] = 0
		if mask[i] {
			b[0] = 1
		}
	})
}

// chunkElems is how many elements write converts at a time.
const chunkElems = 16 << 10

// write writes the header, then n elements of size bytes each, put by put(b, i) into b.
func write(w io.Writer, descr string, shape []int, n, size int, put func(b []byte, i int)) error {
	count := 1
	dims := make([]string, len(shape))
	for i, d := range shape {
		count *= d
		dims[i] = strconv.Itoa(d)
	}
	if count != n {
		return fmt.Errorf("npy: shape %v holds %d elements, data has %d", shape, count, n)
	}
	shapeStr := strings.Join(dims, ", ")
	if len(shape) == 1 {
		shapeStr += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shapeStr)
	pad := 64 - (10+len(header)+1)%64
	header += strings.Repeat(" ", pad%64) + "\n"
	var pre bytes.Buffer
	pre.WriteString("\x93NUMPY\x01\x00")
	_ = binary.Write(&pre, binary.LittleEndian, uint16(len(header)))
	pre.WriteString(header)
	if _, err := w.Write(pre.Bytes()); err != nil {
		return err
	}
	chunk := make([]byte, size*min(n, chunkElems))
	for at := 0; at < n; at += chunkElems {
		k := min(chunkElems, n-at)
		for i := range k {
			put(chunk[size*i:], at+i)
		}
		if _, err := w.Write(chunk[:size*k]); err != nil {
			return err
		}
	}
	return nil
}
