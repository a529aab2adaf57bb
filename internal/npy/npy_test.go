package npy

import (
	"bytes"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	in := []float32{1, -2.5, 3e-7, 4, 5, 6}
	if err := WriteFloat32(&buf, []int{2, 3}, in); err != nil {
		t.Fatal(err)
	}
	a, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Shape) != 2 || a.Shape[0] != 2 || a.Shape[1] != 3 {
		t.Fatalf("shape %v", a.Shape)
	}
	for i := range in {
		if a.F32[i] != in[i] {
			t.Fatalf("element %d: %v != %v", i, a.F32[i], in[i])
		}
	}
	if _, err := Parse(buf.Bytes()[:buf.Len()-3]); err == nil {
		t.Fatal("truncated data accepted")
	}
	buf.Reset()
	if err := WriteInt32(&buf, []int{3}, []int32{7, -8, 9}); err != nil {
		t.Fatal(err)
	}
	if a, err = Parse(buf.Bytes()); err != nil || a.I32[1] != -8 || len(a.Shape) != 1 {
		t.Fatalf("int32 round trip: %v %v", a, err)
	}
	if err := WriteFloat32(&buf, []int{4}, in); err == nil {
		t.Fatal("shape/data mismatch accepted")
	}
}

func TestWriteMaskRoundTrip(t *testing.T) {
	var b bytes.Buffer
	mask := []bool{true, false, false, true, true, false}
	if err := WriteMask(&b, []int{2, 3}, mask); err != nil {
		t.Fatal(err)
	}
	a, err := Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if a.DType != "|u1" || len(a.Shape) != 2 || a.Shape[0] != 2 || a.Shape[1] != 3 {
		t.Fatalf("dtype %s shape %v", a.DType, a.Shape)
	}
	for i, v := range mask {
		if (a.U8[i] == 1) != v || a.U8[i] > 1 {
			t.Fatalf("value %d = %d, mask %v", i, a.U8[i], v)
		}
	}
	if err := WriteMask(&b, []int{4}, mask); err == nil {
		t.Error("shape mismatch accepted")
	}
}

// npyHeader is a .npy file of the given dtype and shape text with the data bytes appended.
func npyHeader(descr, shape string, data []byte) []byte {
	h := "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + shape + "), }\n"
	out := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	return append(append(out, h...), data...)
}

// Shapes whose element count overflows, or that claim more than the data holds, are errors
// before any allocation (not "makeslice: len out of range", not a wrapped-around count).
func TestParseHostileShapes(t *testing.T) {
	for _, c := range []struct {
		name, descr, shape string
		data               []byte
		want               string
	}{
		{"product overflows int", "|u1", "4294967296, 4294967296, 4", []byte{1, 2, 3, 4}, "more elements"},
		{"product wraps to the data length", "|u1", "4611686018427387904, 4, 1", make([]byte, 0), "more elements"},
		{"product wraps to zero", "<f4", "9223372036854775807, 2, 2, 2", []byte{0, 0, 0, 0}, "more elements"},
		{"count times size overflows", "<f8", "2305843009213693952", make([]byte, 8), "truncated"},
		{"count over the data", "<f4", "1000000, 1000000", make([]byte, 64), "truncated"},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("panic: %v", p)
				}
			}()
			_, err := Parse(npyHeader(c.descr, c.shape, c.data))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}
