package tokenizer

// Single-byte codecs as ftfy uses them: Python's charmap codecs, and ftfy's "sloppy-windows-*"
// variants, which decode bytes the Windows code page leaves undefined as their Latin-1 character and
// use byte 0x1A for U+FFFD.
//
// The tables come from golang.org/x/text's charmaps. They were checked once against CPython 3.11's
// codecs for all 256 bytes of each encoding: they agree except that x/text returns U+FFFD where
// Python has no mapping (Windows code pages) or a C1 control (ISO-8859-2 0x80-0x9F), and both of
// those are the Latin-1 character of the byte in the tables built here.

import (
	"sync"

	"golang.org/x/text/encoding/charmap"
)

type codec int

const (
	latin1 codec = iota
	cp1252
	cp1251
	cp1250
	cp1253
	cp1254
	cp1257
	iso8859_2
	macRoman
	cp437
	numCodecs
)

// charmapEncodings is ftfy's CHARMAP_ENCODINGS, in the order it tries them.
var charmapEncodings = []struct {
	c      codec
	sloppy bool
}{
	{latin1, false}, {cp1252, true}, {cp1251, true}, {cp1250, true}, {cp1253, true},
	{cp1254, true}, {cp1257, true}, {iso8859_2, false}, {macRoman, false}, {cp437, false},
}

var xtextCharmaps = [numCodecs]*charmap.Charmap{
	latin1: charmap.ISO8859_1, cp1252: charmap.Windows1252, cp1251: charmap.Windows1251,
	cp1250: charmap.Windows1250, cp1253: charmap.Windows1253, cp1254: charmap.Windows1254,
	cp1257: charmap.Windows1257, iso8859_2: charmap.ISO8859_2, macRoman: charmap.Macintosh,
	cp437: charmap.CodePage437,
}

type codecTables struct {
	strict  [256]rune // Python's codec; -1 where it raises UnicodeDecodeError
	sloppy  [256]rune // ftfy's sloppy variant (only meaningful for the Windows code pages)
	encode  map[rune]byte
	sencode map[rune]byte
}

var (
	tablesOnce sync.Once
	tables     [numCodecs]*codecTables
)

func codecTab(c codec) *codecTables {
	tablesOnce.Do(buildCodecTables)
	return tables[c]
}

func buildCodecTables() {
	for c := codec(0); c < numCodecs; c++ {
		t := &codecTables{encode: map[rune]byte{}, sencode: map[rune]byte{}}
		for b := 0; b < 256; b++ {
			r := xtextCharmaps[c].DecodeByte(byte(b))
			t.strict[b], t.sloppy[b] = r, r
			if r == 0xFFFD {
				t.sloppy[b] = rune(b)
				if c == iso8859_2 {
					t.strict[b] = rune(b) // Python maps 0x80-0x9F to the C1 controls
				} else {
					t.strict[b] = -1
				}
			}
		}
		t.sloppy[0x1A] = 0xFFFD
		for b := 255; b >= 0; b-- { // the tables are one-to-one; lowest byte wins if not
			if t.strict[b] >= 0 {
				t.encode[t.strict[b]] = byte(b)
			}
			t.sencode[t.sloppy[b]] = byte(b)
		}
		tables[c] = t
	}
}

// sloppyTable is the decoding table of ftfy's sloppy variant of c.
func sloppyTable(c codec) *[256]rune { return &codecTab(c).sloppy }

// encodeCharmap encodes text with the (sloppy) codec; ok is false when some character has no byte,
// which is ftfy's possible_encoding test.
func encodeCharmap(text string, c codec, sloppy bool) ([]byte, bool) {
	t := codecTab(c)
	enc := t.encode
	if sloppy {
		enc = t.sencode
	}
	out := make([]byte, 0, len(text))
	for _, r := range text {
		if r < 0x80 && r != 0x1A {
			out = append(out, byte(r)) // all these codecs are ASCII-compatible
			continue
		}
		b, ok := enc[r]
		if !ok {
			return nil, false
		}
		out = append(out, b)
	}
	return out, true
}

// decodeStrict decodes bytes with Python's strict codec (ok false on an undefined byte).
func decodeStrict(b []byte, c codec) (string, bool) {
	t := codecTab(c)
	rs := make([]rune, len(b))
	for i, x := range b {
		if t.strict[x] < 0 {
			return "", false
		}
		rs[i] = t.strict[x]
	}
	return string(rs), true
}
