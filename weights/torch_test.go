package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// f32ToF16 rounds to the nearest half, ties to even (what torch's .half() does), as bits.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp, man := int(b>>23)&0xff, b&0x7fffff
	if exp == 0xff {
		if man == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(man>>13)
	}
	e := exp - 127 + 15
	if e < -11 {
		return sign
	}
	if e <= 0 { // half subnormal: shift the full significand
		man |= 0x800000
		shift := uint(14 - e)
		h, rem, halfway := man>>shift, man&(1<<shift-1), uint32(1)<<(shift-1)
		if rem > halfway || rem == halfway && h&1 == 1 {
			h++
		}
		return sign | uint16(h)
	}
	h, rem := uint32(e)<<10|man>>13, man&0x1fff
	if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++ // a carry into the exponent is the correct rounding, up to infinity
	}
	if h >= 0x7c00 {
		return sign | 0x7c00
	}
	return sign | uint16(h)
}

func TestF32ToF16Helper(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		if i&0x7c00 == 0x7c00 && i&0x3ff != 0 {
			continue // NaN
		}
		if got := f32ToF16(F16ToF32(uint16(i))); got != uint16(i) {
			t.Fatalf("%04x -> %04x", i, got)
		}
	}
	for f, want := range map[float32]uint16{65520: 0x7c00, 65519: 0x7bff, 0x1p-25: 0, 0x1.8p-25: 1, 0x1p-24 * 1.5: 2, 1 + 0x1p-11: 0x3c00, 1 + 0x1.8p-10: 0x3c02} {
		if got := f32ToF16(f); got != want {
			t.Errorf("%g: %04x, want %04x", f, got, want)
		}
	}
}

func TestTorchSaveSAM(t *testing.T) {
	want, err := ReadSafetensors(goldens.Path(t, "sam", "sam_tiny.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	path := goldens.Path(t, "sam", "sam_tiny.pth")
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Format != "torch.save" || got.Path != path || len(got.Metadata) != 0 {
		t.Errorf("format %q path %q metadata %v", got.Format, got.Path, got.Metadata)
	}
	if !reflect.DeepEqual(got.Names(), want.Names()) {
		t.Fatalf("names differ: %d vs %d", len(got.Tensors), len(want.Tensors))
	}
	for _, name := range want.Names() {
		g, w := got.Tensors[name], want.Tensors[name]
		if !sameBits(g, w) {
			t.Errorf("%s: %s %v differs from the safetensors %s %v", name, g.DType, g.Shape, w.DType, w.Shape)
		}
	}
}

func sameBits(a, b *Tensor) bool {
	if a.Name != b.Name || a.DType != b.DType || fmt.Sprint(a.Shape) != fmt.Sprint(b.Shape) ||
		len(a.F32) != len(b.F32) || !reflect.DeepEqual(a.I64, b.I64) {
		return false
	}
	for i := range a.F32 {
		if math.Float32bits(a.F32[i]) != math.Float32bits(b.F32[i]) {
			return false
		}
	}
	return true
}

func TestTorchScriptCLIP(t *testing.T) {
	want, err := ReadSafetensors(goldens.Path(t, "models", "vit16.openai.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Read(goldens.Path(t, "models", "vit16.openai.jit.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Format != "torchscript" {
		t.Errorf("format %q", got.Format)
	}
	scalars := map[string]int64{"input_resolution": 224, "context_length": 77, "vocab_size": 49408}
	names := want.Names()
	for k := range scalars {
		names = append(names, k)
	}
	sort.Strings(names)
	if !reflect.DeepEqual(got.Names(), names) {
		t.Fatalf("names differ: %d vs %d", len(got.Tensors), len(names))
	}
	for k, v := range scalars {
		x := got.Tensors[k]
		if x.DType != "I64" || x.Shape == nil || len(x.Shape) != 0 || !reflect.DeepEqual(x.I64, []int64{v}) {
			t.Errorf("%s: %s %#v %v, want I64 scalar %d", k, x.DType, x.Shape, x.I64, v)
		}
	}
	halves := 0
	for _, name := range want.Names() {
		g, w := got.Tensors[name], want.Tensors[name]
		// Linear/Conv/attention weights and biases and the projections were saved as float16.
		isHalf := strings.HasSuffix(name, "conv1.weight") || strings.Contains(name, ".attn.") ||
			strings.Contains(name, ".mlp.") || name == "visual.proj" || name == "text_projection"
		if !isHalf {
			if !sameBits(g, w) {
				t.Errorf("%s: %s %v not bit-identical to the safetensors", name, g.DType, g.Shape)
			}
			continue
		}
		halves++
		r := &Tensor{Name: name, Shape: w.Shape, DType: "F16", F32: make([]float32, len(w.F32))}
		for i, v := range w.F32 {
			r.F32[i] = F16ToF32(f32ToF16(v))
		}
		if !sameBits(g, r) {
			t.Errorf("%s: %s %v differs from the float16-rounded safetensors", name, g.DType, g.Shape)
		}
	}
	if halves != 3+8*8+3*8 {
		t.Errorf("%d float16 tensors", halves)
	}
}

// pk writes pickles by opcode, to build small checkpoints in tests without Python.
type pk struct{ bytes.Buffer }

func (p *pk) op(b ...byte) *pk { p.Write(b); return p }
func (p *pk) str(s string) *pk {
	p.WriteByte('X')
	binary.Write(p, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}
func (p *pk) global(mod, name string) *pk { fmt.Fprintf(p, "c%s\n%s\n", mod, name); return p }
func (p *pk) int(v int) *pk {
	p.WriteByte('J')
	binary.Write(p, binary.LittleEndian, int32(v))
	return p
}
func (p *pk) ints(v ...int) *pk {
	p.op('(')
	for _, x := range v {
		p.int(x)
	}
	return p.op('t')
}

// tensor emits _rebuild_tensor_v2(('storage', torch.<typ>, key, 'cpu', numel), off, size, stride, False, OrderedDict()).
func (p *pk) tensor(typ, key string, numel, off int, size, stride []int) *pk {
	p.global("torch._utils", "_rebuild_tensor_v2").op('(')
	p.op('(').str("storage").global("torch", typ).str(key).str("cpu").int(numel).op('t', 'Q')
	p.int(off).ints(size...).ints(stride...).op(0x89).global("collections", "OrderedDict").op(')', 'R')
	return p.op('t', 'R')
}

// stateDict pickles an OrderedDict; body emits key/value pairs.
func stateDict(body func(p *pk)) []byte {
	p := &pk{}
	p.op(0x80, 2).global("collections", "OrderedDict").op(')', 'R', '(')
	body(p)
	p.op('u', '.')
	return p.Bytes()
}

// torchZip packs a pickle and storages as torch.save does (stored records under "archive/").
func torchZip(t testing.TB, pkl []byte, records map[string][]byte, method uint16) []byte {
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	add := func(name string, data []byte) {
		f, err := w.CreateHeader(&zip.FileHeader{Name: "archive/" + name, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		f.Write(data)
	}
	add("data.pkl", pkl)
	keys := make([]string, 0, len(records))
	for k := range records {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add(k, records[k])
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func f32Bytes(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func TestTorchSynthetic(t *testing.T) {
	pkl := stateDict(func(p *pk) {
		p.str("t").tensor("FloatStorage", "0", 6, 0, []int{3, 2}, []int{1, 3})  // transpose of [[0 1 2] [3 4 5]]
		p.str("e").tensor("FloatStorage", "0", 6, 3, []int{2, 3}, []int{0, 1})  // row 3..5 expanded twice
		p.str("o").tensor("FloatStorage", "0", 6, 2, []int{1, 2}, []int{99, 1}) // offset, size-1 dim
		p.str("h").tensor("HalfStorage", "1", 2, 0, []int{2}, []int{1})         // float16
		p.str("b").tensor("BFloat16Storage", "1", 2, 1, []int{}, []int{})       // bfloat16 scalar
		p.str("n").tensor("LongStorage", "2", 1, 0, []int{}, []int{})           // int64 scalar
		p.str("z").tensor("BoolStorage", "3", 0, 0, []int{0, 4}, []int{4, 1})   // empty
		p.str("p").global("torch._utils", "_rebuild_parameter").op('(')         // nn.Parameter
		p.tensor("IntStorage", "4", 2, 0, []int{2}, []int{1}).op(0x88).global("collections", "OrderedDict").op(')', 'R', 't', 'R')
	})
	records := map[string][]byte{
		"data/0":    f32Bytes(0, 1, 2, 3, 4, 5),
		"data/1":    le16(0x3c00, 0x3f80),
		"data/2":    binary.LittleEndian.AppendUint64(nil, uint64(1<<63-1)),
		"data/3":    nil,
		"data/4":    binary.LittleEndian.AppendUint64(nil, 0xfffffffe_00000007),
		"byteorder": []byte("little"),
	}
	for _, method := range []uint16{zip.Store, zip.Deflate} {
		data := torchZip(t, pkl, records, method)
		c, err := ParseTorch(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, n := range c.Names() {
			x := c.Tensors[n]
			got[n] = fmt.Sprintf("%s%v%v%v", x.DType, x.Shape, x.F32, x.I64)
		}
		want := map[string]string{
			"t": "F32[3 2][0 3 1 4 2 5][]", "e": "F32[2 3][3 4 5 3 4 5][]", "o": "F32[1 2][2 3][]",
			"h": "F16[2][1 1.875][]", "b": "BF16[][1][]", "n": "I64[][][9223372036854775807]",
			"z": "BOOL[0 4][][]", "p": "I32[2][][7 -2]",
		}
		if !reflect.DeepEqual(got, want) || c.Format != "torch.save" {
			t.Errorf("method %d: %s\n got %v\nwant %v", method, c.Format, got, want)
		}
	}
}

func TestTorchErrors(t *testing.T) {
	one := func(typ string, numel, off int, size, stride []int) []byte {
		return stateDict(func(p *pk) { p.str("w").tensor(typ, "0", numel, off, size, stride) })
	}
	good := map[string][]byte{"data/0": f32Bytes(1, 2, 3, 4)}
	cases := []struct {
		name    string
		pkl     []byte
		records map[string][]byte
		want    string
	}{
		{"short storage", one("FloatStorage", 4, 1, []int{4}, []int{1}), good, `tensor "w": storage data/0 holds 4 elements`},
		{"strided past end", one("FloatStorage", 4, 0, []int{2, 2}, []int{3, 1}), good, `holds 4 elements`},
		{"record shorter than storage", one("FloatStorage", 5, 0, []int{4}, []int{1}), good, `data/0 has 16 bytes`},
		{"missing record", one("FloatStorage", 4, 0, []int{4}, []int{1}), nil, `tensor "w": storage record data/0 is missing`},
		{"unknown storage", one("ComplexFloatStorage", 4, 0, []int{4}, []int{1}), good, "GLOBAL at offset"},
		{"negative stride", one("FloatStorage", 4, 3, []int{4}, []int{-1}), good, "bad size"},
		{"negative size", one("FloatStorage", 4, 0, []int{-4}, []int{1}), good, "negative dimension"},
		{"evil global", (&pk{}).op(0x80, 2).global("os", "system").str("ls").op(0x85, 'R', '.').Bytes(), good, "global os.system is not allowed"},
		{"evil call", (&pk{}).op(0x80, 2).global("torch", "FloatStorage").op(')', 'R', '.').Bytes(), good, "calling torch.FloatStorage is not allowed"},
		{"expanded too far", one("FloatStorage", 4, 0, []int{1<<31 - 1, 1<<31 - 1}, []int{0, 0}), good, "more than 4×"},
		{"big endian", one("FloatStorage", 4, 0, []int{4}, []int{1}), map[string][]byte{"data/0": f32Bytes(1, 2, 3, 4), "byteorder": []byte("big")}, `byteorder "big"`},
		{"bad pickle", []byte{0x80, 2, 'K'}, good, "truncated"},
		{"duplicate names", stateDict(func(p *pk) {
			p.str("a.b").tensor("FloatStorage", "0", 4, 0, nil, nil)
			p.str("a").op('}').str("b").tensor("FloatStorage", "0", 4, 0, nil, nil).op('s')
		}), good, `two tensors named "a.b"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := torchZip(t, tc.pkl, tc.records, zip.Store)
			_, err := ParseTorch(bytes.NewReader(data), int64(len(data)))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "torch data") {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}

	// A corrupt or truncated archive, read from a file: the error names the file.
	data := torchZip(t, one("FloatStorage", 4, 0, []int{4}, []int{1}), good, zip.Store)
	dir := t.TempDir()
	for name, b := range map[string][]byte{"truncated.pt": data[:len(data)-30], "garbage.pt": append([]byte("PK\x03\x04"), make([]byte, 100)...)} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, b, 0o644)
		if _, err := Read(path); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v does not name the file", name, err)
		}
	}
	// A flipped byte inside data.pkl is caught by the zip CRC.
	bad := bytes.Replace(data, []byte("storage"), []byte("storagf"), 1)
	if _, err := ParseTorch(bytes.NewReader(bad), int64(len(bad))); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("corrupt data.pkl: %v", err)
	}
}
