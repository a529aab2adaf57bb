package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// buildST assembles a safetensors file from a raw JSON header and data, without going through
// the package's writer, so the reader is tested against bytes written independently.
func buildST(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func le16(v ...uint16) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return b
}

// TestGoldenSafetensors reads the fixture files and checks every tensor against the header and the
// raw bytes, decoded here with an independent JSON parse.
func TestGoldenSafetensors(t *testing.T) {
	cases := []struct {
		rel   []string
		name  string
		shape []int
	}{
		{[]string{"models", "vit16.openai.safetensors"}, "visual.conv1.weight", []int{128, 3, 16, 16}},
		{[]string{"models", "vit16.hf.safetensors"}, "vision_model.embeddings.patch_embedding.weight", []int{128, 3, 16, 16}},
		{[]string{"models", "rn.openai.safetensors"}, "visual.conv1.weight", nil},
		{[]string{"sam", "sam_tiny.safetensors"}, "image_encoder.pos_embed", []int{1, 64, 64, 64}},
	}
	for _, tc := range cases {
		t.Run(tc.rel[len(tc.rel)-1], func(t *testing.T) {
			path := goldens.Path(t, tc.rel...)
			c, err := Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if c.Format != "safetensors" || c.Path != path {
				t.Errorf("format %q path %q", c.Format, c.Path)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			n := binary.LittleEndian.Uint64(raw)
			var hdr map[string]json.RawMessage
			if err := json.Unmarshal(raw[8:8+n], &hdr); err != nil {
				t.Fatal(err)
			}
			data := raw[8+n:]
			if len(c.Tensors) != len(hdr)-1 || len(c.Names()) != len(c.Tensors) {
				t.Errorf("%d tensors, header has %d entries", len(c.Tensors), len(hdr))
			}
			var meta map[string]string
			json.Unmarshal(hdr["__metadata__"], &meta)
			if !reflect.DeepEqual(meta, c.Metadata) {
				t.Errorf("metadata %v, header %v", c.Metadata, meta)
			}
			for name, e := range hdr {
				if name == "__metadata__" {
					continue
				}
				var h struct {
					DType   string
					Shape   []int
					Offsets [2]int `json:"data_offsets"`
				}
				json.Unmarshal(e, &h)
				x := c.Tensors[name]
				if x == nil {
					t.Errorf("missing %q", name)
					continue
				}
				if x.Name != name || x.DType != h.DType || fmt.Sprint(x.Shape) != fmt.Sprint(h.Shape) {
					t.Errorf("%q: got %s %v, header %s %v", name, x.DType, x.Shape, h.DType, h.Shape)
				}
				if h.DType != "F32" || len(x.F32) != (h.Offsets[1]-h.Offsets[0])/4 {
					t.Errorf("%q: %s with %d floats", name, h.DType, len(x.F32))
					continue
				}
				for i, v := range x.F32 {
					if want := binary.LittleEndian.Uint32(data[h.Offsets[0]+4*i:]); math.Float32bits(v) != want {
						t.Errorf("%q[%d]: bits %08x, file %08x", name, i, math.Float32bits(v), want)
						break
					}
				}
			}
			if x := c.Tensors[tc.name]; x == nil {
				t.Errorf("no %q among %v...", tc.name, c.Names()[:5])
			} else if tc.shape != nil && fmt.Sprint(x.Shape) != fmt.Sprint(tc.shape) {
				t.Errorf("%q shape %v, want %v", tc.name, x.Shape, tc.shape)
			}
		})
	}
}

// f16Ref computes a half's value from the IEEE definition in float64, independently of F16ToF32.
func f16Ref(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	e, m := int(h>>10)&0x1f, float64(h&0x3ff)
	switch e {
	case 0:
		return sign * m * math.Pow(2, -24)
	case 31:
		if m == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * (1 + m/1024) * math.Pow(2, float64(e-15))
}

func TestF16AllValues(t *testing.T) {
	all := make([]uint16, 1<<16)
	for i := range all {
		all[i] = uint16(i)
	}
	c, err := ParseSafetensors(buildST(`{"h":{"dtype":"F16","shape":[256,256],"data_offsets":[0,131072]}}`, le16(all...)))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Tensors["h"].F32
	for i, v := range got {
		want := f16Ref(uint16(i))
		switch {
		case math.IsNaN(want):
			// NaN keeps its sign and payload (shifted into the float32 mantissa).
			if b := math.Float32bits(v); !math.IsNaN(float64(v)) || b>>31 != uint32(i)>>15 || b&0x7fffff != uint32(i&0x3ff)<<13 {
				t.Errorf("%04x: %08x, want NaN with the same payload", i, b)
			}
		case float64(v) != want || math.Signbit(float64(v)) != math.Signbit(want):
			t.Errorf("%04x: %g, want %g", i, v, want)
		}
	}
	for h, want := range map[uint16]float64{
		0x0001: math.Pow(2, -24), 0x03ff: 1023 * math.Pow(2, -24), 0x0400: math.Pow(2, -14),
		0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x7c00: math.Inf(1), 0xfc00: math.Inf(-1), 0x3555: 0.333251953125,
	} {
		if float64(got[h]) != want {
			t.Errorf("%04x: %g, want %g", h, got[h], want)
		}
	}
	if !math.Signbit(float64(got[0x8000])) || got[0x8000] != 0 {
		t.Errorf("8000: %g, want -0", got[0x8000])
	}
	if !math.IsNaN(float64(got[0x7e00])) {
		t.Errorf("7e00: %g, want NaN", got[0x7e00])
	}
}

func TestBF16AllValues(t *testing.T) {
	all := make([]uint16, 1<<16)
	for i := range all {
		all[i] = uint16(i)
	}
	c, err := ParseSafetensors(buildST(`{"b":{"dtype":"BF16","shape":[65536],"data_offsets":[0,131072]}}`, le16(all...)))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Tensors["b"].F32
	for i, v := range got {
		if math.Float32bits(v) != uint32(i)<<16 { // bfloat16 is the top half of a float32, NaNs too
			t.Fatalf("%04x: %08x", i, math.Float32bits(v))
		}
	}
	for h, want := range map[uint16]float64{
		0x3f80: 1, 0xc040: -3, 0x0001: math.Pow(2, -133), 0x007f: 127 * math.Pow(2, -133),
		0x7f80: math.Inf(1), 0xff80: math.Inf(-1), 0x7f7f: 0x1.fep127,
	} {
		if float64(got[h]) != want {
			t.Errorf("%04x: %g, want %g", h, got[h], want)
		}
	}
	if !math.IsNaN(float64(got[0x7fc0])) || !math.IsNaN(float64(got[0xffc1])) {
		t.Errorf("NaNs: %g %g", got[0x7fc0], got[0xffc1])
	}
}

func TestOtherDTypes(t *testing.T) {
	var data bytes.Buffer
	binary.Write(&data, binary.LittleEndian, []float64{1.5, -1e300, math.Inf(-1)})              // 0..24
	binary.Write(&data, binary.LittleEndian, []int64{-1, math.MaxInt64})                        // 24..40
	binary.Write(&data, binary.LittleEndian, []int32{-7, 1 << 30})                              // 40..48
	binary.Write(&data, binary.LittleEndian, []int16{-300, 300})                                // 48..52
	binary.Write(&data, binary.LittleEndian, []int8{-128, 127})                                 // 52..54
	binary.Write(&data, binary.LittleEndian, []uint8{255, 0, 1, 0})                             // 54..58
	binary.Write(&data, binary.LittleEndian, []uint8{0x38, 0x7e, 0xff, 0x01, 0x3c, 0x7b, 0x80}) // 58..65
	hdr := `{"f64":{"dtype":"F64","shape":[3],"data_offsets":[0,24]},
		"i64":{"dtype":"I64","shape":[2],"data_offsets":[24,40]},
		"i32":{"dtype":"I32","shape":[2,1],"data_offsets":[40,48]},
		"i16":{"dtype":"I16","shape":[2],"data_offsets":[48,52]},
		"i8":{"dtype":"I8","shape":[2],"data_offsets":[52,54]},
		"u8":{"dtype":"U8","shape":[2],"data_offsets":[54,56]},
		"bool":{"dtype":"BOOL","shape":[2],"data_offsets":[56,58]},
		"e4m3":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[58,62]},
		"e5m2":{"dtype":"F8_E5M2","shape":[3],"data_offsets":[62,65]},
		"scalar":{"dtype":"I32","shape":[],"data_offsets":[40,44]},
		"empty":{"dtype":"F32","shape":[0,5],"data_offsets":[0,0]},
		"overlap":{"dtype":"I32","shape":[1],"data_offsets":[44,48]},
		"__metadata__":{"k":"v"}}`
	c, err := ParseSafetensors(buildST(hdr, data.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, want any) {
		t.Helper()
		x := c.Tensors[name]
		var got any = x.F32
		if x.I64 != nil {
			got = x.I64
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	check("f64", []float32{1.5, float32(math.Inf(-1)), float32(math.Inf(-1))})
	check("i64", []int64{-1, math.MaxInt64})
	check("i32", []int64{-7, 1 << 30})
	check("i16", []int64{-300, 300})
	check("i8", []int64{-128, 127})
	check("u8", []int64{255, 0})
	check("bool", []int64{1, 0})
	check("e4m3", []float32{1, 448, float32(math.NaN()), 1.0 / 512})
	check("e5m2", []float32{1, 57344, float32(math.Copysign(0, -1))})
	check("scalar", []int64{-7})
	check("overlap", []int64{1 << 30})
	check("empty", []float32{})
	if c.Tensors["scalar"].Shape == nil || len(c.Tensors["scalar"].Shape) != 0 {
		t.Errorf("scalar shape %#v", c.Tensors["scalar"].Shape)
	}
	if c.Metadata["k"] != "v" {
		t.Errorf("metadata %v", c.Metadata)
	}
	if got := strings.Join(c.Names(), ","); got != "bool,e4m3,e5m2,empty,f64,i16,i32,i64,i8,overlap,scalar,u8" {
		t.Errorf("names %s", got)
	}
}

func TestSafetensorsErrors(t *testing.T) {
	f32 := func(hdr string, n int) []byte { return buildST(hdr, make([]byte, n)) }
	ok := `{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, 1<<62)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "shorter than the 8-byte"},
		{"absurd header length", huge, "exceeds the"},
		{"header past end", f32(ok, 8)[:20], "exceeds the file size"},
		{"truncated data", f32(ok, 7), `"w": data_offsets [0, 8] outside`},
		{"bad json", f32(`{"w":{"dtype":"F32",`, 0), "header"},
		{"not object", f32(`[1,2]`, 0), "not a JSON object"},
		{"trailing", f32(`{} x`, 0), "trailing"},
		{"duplicate", f32(`{"w":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, 4), `duplicate entry "w"`},
		{"unknown dtype", f32(`{"w":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}}`, 8), `tensor "w": unknown dtype "F31"`},
		{"missing field", f32(`{"w":{"dtype":"F32","shape":[2]}}`, 8), `"w": entry needs`},
		{"unknown field", f32(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, 8), `"w": bad entry`},
		{"negative dim", f32(`{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, 8), "negative dimension"},
		{"fractional dim", f32(`{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}`, 8), `"w": bad entry`},
		{"overflow", f32(`{"w":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}}`, 8), "too many elements"},
		{"overflow bytes", f32(`{"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}`, 8), `"w": data_offsets`},
		{"size mismatch", f32(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, 8), "needs 3 elements"},
		{"reversed", f32(`{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, 8), "outside"},
		{"negative offset", f32(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, 8), "outside"},
		{"three offsets", f32(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}`, 8), "must be [begin, end]"},
		{"bad metadata", f32(`{"__metadata__":{"a":1}}`, 0), "__metadata__"},
		{"bad bool", buildST(`{"b":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}}`, []byte{2}), `"b": BOOL byte 2`},
		{"amplification", f32(bigOverlap(), 1024), "more than 4×"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSafetensors(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "safetensors data") {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Reading from a file names the file.
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	os.WriteFile(path, f32(ok, 4), 0o644)
	if _, err := Read(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("error %v does not name the file and tensor", err)
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("error %v does not name the file", err)
	}
}

// bigOverlap is a header with many entries over the same 1024 bytes, asking for far more output than
// the file holds.
func bigOverlap() string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 2000; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"t%d":{"dtype":"U8","shape":[1024],"data_offsets":[0,1024]}`, i)
	}
	b.WriteString("}")
	return b.String()
}

func TestWriteSafetensorsRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	in := []*Tensor{
		{Name: "b", Shape: []int{2, 3}, F32: []float32{1, -2, float32(math.Inf(1)), 0x1p-149, 5, 6}},
		{Name: "a", Shape: []int{}, F32: []float32{3.5}},
		{Name: "n", Shape: []int{}, I64: []int64{-224}},
		{Name: "z", Shape: []int{0}, F32: []float32{}},
	}
	if err := WriteSafetensors(path, in, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if n := binary.LittleEndian.Uint64(raw); n%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", n)
	}
	c, err := ReadSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range in {
		got := c.Tensors[x.Name]
		want := *x
		want.DType = "F32"
		if x.I64 != nil {
			want.DType = "I64"
		}
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("%s: %+v, want %+v", x.Name, got, want)
		}
	}
	if c.Metadata["format"] != "pt" {
		t.Errorf("metadata %v", c.Metadata)
	}
	if err := WriteSafetensors(path, []*Tensor{{Name: "x", Shape: []int{3}, F32: []float32{1}}}, nil); err == nil {
		t.Error("no error for a short tensor")
	}
	if err := WriteSafetensors(path, []*Tensor{in[0], in[0]}, nil); err == nil {
		t.Error("no error for a duplicate")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func FuzzParseSafetensors(f *testing.F) {
	f.Add(buildST(`{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"__metadata__":{"a":"b"}}`, le16(0x3c00, 0x7c00)))
	f.Add(buildST(`{"w":{"dtype":"I8","shape":[2,1],"data_offsets":[0,2]},"v":{"dtype":"BF16","shape":[],"data_offsets":[0,2]}}`, []byte{1, 2}))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseSafetensors(data)
		if err != nil {
			return
		}
		for name, x := range c.Tensors {
			if x.Name != name || len(x.F32)+len(x.I64) != x.Numel() {
				t.Fatalf("%q: inconsistent tensor %s %v with %d+%d values", name, x.DType, x.Shape, len(x.F32), len(x.I64))
			}
		}
	})
}
