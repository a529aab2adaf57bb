package weights

import (
	"archive/zip"
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// show renders an unpickled value compactly for comparisons.
func show(v any) string {
	switch x := v.(type) {
	case pyTuple:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = show(e)
		}
		return "(" + strings.Join(s, " ") + ")"
	case *pyList:
		return "[" + strings.TrimSuffix(strings.TrimPrefix(show(pyTuple(x.items)), "("), ")") + "]"
	case *pyDict:
		s := make([]string, len(x.keys))
		for i := range x.keys {
			s[i] = show(x.keys[i]) + ":" + show(x.vals[i])
		}
		return "{" + strings.Join(s, " ") + "}"
	case *pyObject:
		return x.class.name + show(x.state)
	case string:
		return fmt.Sprintf("%q", x)
	case nil:
		return "None"
	}
	return fmt.Sprint(v)
}

func TestUnpickleOpcodes(t *testing.T) {
	cases := []struct {
		name string
		pkl  []byte
		want string
	}{
		{"ints", []byte("\x80\x02(K\xffM\xff\xffJ\xff\xff\xff\xff\x8a\x00\x8a\x01\xff\x8a\x02\x00\x80\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7ft."), "(255 65535 -1 0 -1 -32768 9223372036854775807)"},
		{"float", []byte("G?\xf8\x00\x00\x00\x00\x00\x00\x85."), "(1.5)"},
		{"strings", []byte("(\x8c\x01aX\x02\x00\x00\x00\xc3\xa9\x8d\x01\x00\x00\x00\x00\x00\x00\x00bC\x02hiB\x00\x00\x00\x00t."), `("a" "é" "b" [104 105] [])`},
		{"consts", []byte("(N\x88\x89)t."), "(None true false ())"},
		{"list", []byte("]q\x00(K\x01K\x02eK\x03a."), "[1 2 3]"},
		{"dict", []byte("}(X\x01\x00\x00\x00aK\x01K\x02NuX\x01\x00\x00\x00aK\x03s."), `{"a":3 2:None}`},
		{"memo", []byte("\x95\x10\x00\x00\x00\x00\x00\x00\x00]\x94r\x05\x00\x00\x00h\x00j\x05\x00\x00\x00\x87."), "([] [] [])"},
		{"dup pop", []byte("K\x012K\x02(K\x0310\x86."), "(1 1)"},
		{"stack global", []byte("\x8c\x0b__torch__.m\x8c\x01M\x93)\x81}(\x8c\x01xK\x01ub."), `M{"x":1}`},
		{"ordered dict build", []byte("ccollections\nOrderedDict\n)R}b."), "{}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := unpickle(tc.pkl, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := show(v); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	// The memo is shared: a list appended after being memoized shows up everywhere.
	v, err := unpickle([]byte("]q\x00h\x00K\x07a\x86."), nil)
	if err != nil || show(v) != "([7] [7])" {
		t.Errorf("shared list: %s %v", show(v), err)
	}
}

func TestUnpickleErrors(t *testing.T) {
	cases := []struct{ pkl, want string }{
		{"", "no STOP"},
		{"K", "BININT1 at offset 0: truncated"},
		{"X\xff\xff\xff\xffab.", "truncated"},
		{"\x80\x09.", "unsupported protocol 9"},
		{"t.", "TUPLE at offset 0: no MARK"},
		{"(\x85.", "stack underflow"},
		{"a.", "stack underflow"},
		{"K\x01K\x01a.", "append to int64"},
		{"}K\x01s.", "stack underflow"},
		{"}]K\x01s.", "unsupported dict key type"},
		{"h\x03.", "memo key 3 not defined"},
		{"\xff.", "opcode 0xff"},
		{"cbuiltins\neval\n.", "global builtins.eval is not allowed"},
		{"c__builtin__\nexec\n.", "not allowed"},
		{"\x8c\x08builtins\x8c\x04eval\x93.", "STACK_GLOBAL at offset 16: global builtins.eval"},
		{"ccollections\nOrderedDict\nK\x01\x85R.", "OrderedDict with arguments"},
		{"c__torch__.m\nM\nK\x01\x85\x81.", "with arguments"},
		{"ccollections\nOrderedDict\n)\x81.", "cannot instantiate"},
		{"K\x01)R.", "cannot call int64"},
		{"K\x01K\x02b.", "BUILD on int64"},
		{"K\x01K\x01.", "STOP with 2 values"},
		{"(K\x01.", "1 marks"},
		{"K\x01Q.", "persistent ids not supported"},
		{"\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00.", "does not fit int64"},
	}
	for _, tc := range cases {
		_, err := unpickle([]byte(tc.pkl), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.pkl, err, tc.want)
		}
	}
	// Persistent ids other than torch storages are refused.
	for _, pid := range []string{"K\x01", "(X\x07\x00\x00\x00storageK\x01t", "(X\x07\x00\x00\x00storagectorch\nFloatStorage\nK\x01X\x03\x00\x00\x00cpuK\x01t"} {
		if _, err := unpickle([]byte(pid+"Q."), torchPersistentLoad); err == nil {
			t.Errorf("%q: no error", pid)
		}
	}
}

// TestUnpickleSharedBlowup: values shared through DUP/memo double at each level, so anything that
// walks or prints them naively takes 2^100 steps. Errors and flattening must stay bounded.
func TestUnpickleSharedBlowup(t *testing.T) {
	nested := "K\x00" + strings.Repeat("2\x86", 100)
	if _, err := unpickle([]byte(nested+"Q."), torchPersistentLoad); err == nil || len(err.Error()) > 1000 {
		t.Errorf("persistent id error: %.300v", err)
	}
	v, err := unpickle([]byte("K\x00"+strings.Repeat("2\x86", 30)+"."), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := collectTensors(v); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("walk: %v", err)
	}
	long := "}X\x00\x04\x00\x00" + strings.Repeat("k", 1024) + "}X\x00\x04\x00\x00" + strings.Repeat("k", 1024) + "K\x01ss."
	v, err = unpickle([]byte(long), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := collectTensors(v); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("long names: %v", err)
	}
}

// fuzzArchive wraps a fuzzed pickle as data.pkl of a checkpoint with two small storages, so the
// fuzzer also reaches tensor validation and loading.
func fuzzArchive(t testing.TB, pkl []byte) []byte {
	return torchZip(t, pkl, map[string][]byte{"data/0": make([]byte, 64), "data/1": f32Bytes(1, 2, 3, 4)}, zip.Store)
}

func FuzzParsePickle(f *testing.F) {
	f.Add(stateDict(func(p *pk) {
		p.str("w").tensor("FloatStorage", "1", 4, 0, []int{2, 2}, []int{1, 2})
		p.str("h").tensor("HalfStorage", "0", 32, 2, []int{3}, []int{0})
	}))
	f.Add([]byte("\x8c\x0b__torch__.m\x8c\x01M\x93)\x81}(\x8c\x01xK\x01ub."))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := unpickle(data, torchPersistentLoad)
		if err != nil {
			return
		}
		refs, err := collectTensors(v)
		if err != nil {
			return
		}
		zipped := fuzzArchive(t, data)
		c, err := ParseTorch(bytes.NewReader(zipped), int64(len(zipped)))
		if err != nil {
			return
		}
		if len(c.Tensors) != len(refs) {
			t.Fatalf("%d tensors from %d references", len(c.Tensors), len(refs))
		}
		for name, x := range c.Tensors {
			if x.Name != name || len(x.F32)+len(x.I64) != x.Numel() {
				t.Fatalf("%q: inconsistent tensor %s %v with %d+%d values", name, x.DType, x.Shape, len(x.F32), len(x.I64))
			}
		}
	})
}
