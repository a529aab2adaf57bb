package weights

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
)

// dtypeInfo describes how one stored element becomes a host value.
type dtypeInfo struct {
	size  int
	float bool // converted to F32, else to I64
}

// dtypes are the safetensors dtype names this package converts. The torch readers map their
// storage types onto the same names so that one conversion path serves every format.
var dtypes = map[string]dtypeInfo{
	"F64": {8, true}, "F32": {4, true}, "F16": {2, true}, "BF16": {2, true},
	"F8_E4M3": {1, true}, "F8_E5M2": {1, true},
	"I64": {8, false}, "I32": {4, false}, "I16": {2, false}, "I8": {1, false},
	"U64": {8, false}, "U32": {4, false}, "U16": {2, false}, "U8": {1, false},
	"BOOL": {1, false},
}

// convertChunk decodes the little-endian elements in src (a whole number of them) into dst
// (F32 or I64 of t, starting at element index at).
func convertChunk(t *Tensor, at int, src []byte) error {
	if info, ok := dtypes[t.DType]; ok && info.float {
		return convertFloats(t.DType, t.F32[at:], src)
	}
	switch t.DType {
	case "I64":
		for i, d := 0, t.I64[at:]; i < len(src)/8; i++ {
			d[i] = int64(binary.LittleEndian.Uint64(src[8*i:]))
		}
	case "U64":
		for i, d := 0, t.I64[at:]; i < len(src)/8; i++ {
			v := binary.LittleEndian.Uint64(src[8*i:])
			if v > math.MaxInt64 {
				return fmt.Errorf("U64 value %d at element %d does not fit int64", v, at+i)
			}
			d[i] = int64(v)
		}
	case "I32":
		for i, d := 0, t.I64[at:]; i < len(src)/4; i++ {
			d[i] = int64(int32(binary.LittleEndian.Uint32(src[4*i:])))
		}
	case "U32":
		for i, d := 0, t.I64[at:]; i < len(src)/4; i++ {
			d[i] = int64(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case "I16":
		for i, d := 0, t.I64[at:]; i < len(src)/2; i++ {
			d[i] = int64(int16(binary.LittleEndian.Uint16(src[2*i:])))
		}
	case "U16":
		for i, d := 0, t.I64[at:]; i < len(src)/2; i++ {
			d[i] = int64(binary.LittleEndian.Uint16(src[2*i:]))
		}
	case "I8":
		for i, d := 0, t.I64[at:]; i < len(src); i++ {
			d[i] = int64(int8(src[i]))
		}
	case "U8":
		for i, d := 0, t.I64[at:]; i < len(src); i++ {
			d[i] = int64(src[i])
		}
	case "BOOL":
		for i, d := 0, t.I64[at:]; i < len(src); i++ {
			if src[i] > 1 {
				return fmt.Errorf("BOOL byte %d at element %d is neither 0 nor 1", src[i], at+i)
			}
			d[i] = int64(src[i])
		}
	default:
		return fmt.Errorf("unknown dtype %q", t.DType)
	}
	return nil
}

// convertFloats decodes the little-endian float elements in src (a whole number of them) of
// dtype into dst.
func convertFloats(dtype string, d []float32, src []byte) error {
	switch dtype {
	case "F32":
		for i := 0; i < len(src)/4; i++ {
			d[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
		}
	case "F64":
		for i := 0; i < len(src)/8; i++ {
			d[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
		}
	case "F16":
		table := f16Table()
		d = d[:len(src)/2]
		for i := range d {
			d[i] = table[binary.LittleEndian.Uint16(src[2*i:])]
		}
	case "BF16":
		d = d[:len(src)/2]
		for i := range d {
			d[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src[2*i:])) << 16)
		}
	case "F8_E5M2":
		// E5M2 is the top byte of an IEEE half, so widening goes through F16.
		for i := range src {
			d[i] = F16ToF32(uint16(src[i]) << 8)
		}
	case "F8_E4M3":
		for i := range src {
			d[i] = e4m3ToF32(src[i])
		}
	default:
		return fmt.Errorf("unknown float dtype %q", dtype)
	}
	return nil
}

// f16Table holds F16ToF32 of every half (256 KiB): a lookup is faster than the branches.
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = F16ToF32(uint16(i))
	}
	return &t
})

// F16ToF32 widens an IEEE 754 half (as its bits) exactly, including subnormals, infinities and
// NaN payloads.
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h & 0x3ff)
	switch {
	case exp == 0:
		// Zero or subnormal: man * 2^-24 is exact in float32.
		return math.Float32frombits(sign | math.Float32bits(float32(man)*(1.0/(1<<24))))
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
	}
}

// e4m3ToF32 widens float8 E4M3 (the "fn" variant used by safetensors: bias 7, no infinities,
// S.1111.111 is NaN).
func e4m3ToF32(b uint8) float32 {
	sign := uint32(b>>7) << 31
	exp := uint32(b>>3) & 0xf
	man := uint32(b & 7)
	switch {
	case exp == 0xf && man == 7:
		return math.Float32frombits(sign | 0x7fc00000)
	case exp == 0:
		return math.Float32frombits(sign | math.Float32bits(float32(man)*(1.0/(1<<9))))
	default:
		return math.Float32frombits(sign | (exp+127-7)<<23 | man<<20)
	}
}
