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
