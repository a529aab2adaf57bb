package npy

import (
	"bytes"
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
