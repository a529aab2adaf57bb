package tokenizer

// Python-compatible Unicode helpers.
//
// The reference ran CPython 3.11 (unicodedata = Unicode 14.0: str.lower, str.isspace, NFC, and the
// `re` module used by ftfy) and the `regex` module 2022.10.31 (Unicode 15.0: the \p{L}, \p{N}, \s
// of CLIP's split pattern). Go's unicode and x/text tables are Unicode 17, so characters assigned
// after those versions are masked out here: for Python they are unassigned (Cn), which means no case
// mapping, no composition, not a letter, not a number.

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/unicode/rangetable"
)

// assigned15 is every code point assigned in Unicode 15.0 (x/text keeps that version's table).
var assigned15 = rangetable.Assigned("15.0.0")

// added15 is what Unicode 15.0 added to 14.0 (computed once by comparing CPython 3.11's unicodedata
// categories with assigned15; x/text has no 14.0 table).
var added15 = &unicode.RangeTable{
	R16: []unicode.Range16{
		{Lo: 0x0CF3, Hi: 0x0CF3, Stride: 1},
		{Lo: 0x0ECE, Hi: 0x0ECE, Stride: 1},
	},
	R32: []unicode.Range32{
		{Lo: 0x10EFD, Hi: 0x10EFF, Stride: 1}, {Lo: 0x1123F, Hi: 0x11241, Stride: 1},
		{Lo: 0x11B00, Hi: 0x11B09, Stride: 1}, {Lo: 0x11F00, Hi: 0x11F10, Stride: 1},
		{Lo: 0x11F12, Hi: 0x11F3A, Stride: 1}, {Lo: 0x11F3E, Hi: 0x11F59, Stride: 1},
		{Lo: 0x1342F, Hi: 0x1342F, Stride: 1}, {Lo: 0x13439, Hi: 0x13455, Stride: 1},
		{Lo: 0x1B132, Hi: 0x1B132, Stride: 1}, {Lo: 0x1B155, Hi: 0x1B155, Stride: 1},
		{Lo: 0x1D2C0, Hi: 0x1D2D3, Stride: 1}, {Lo: 0x1DF25, Hi: 0x1DF2A, Stride: 1},
		{Lo: 0x1E030, Hi: 0x1E06D, Stride: 1}, {Lo: 0x1E08F, Hi: 0x1E08F, Stride: 1},
		{Lo: 0x1E4D0, Hi: 0x1E4F9, Stride: 1}, {Lo: 0x1F6DC, Hi: 0x1F6DC, Stride: 1},
		{Lo: 0x1F774, Hi: 0x1F776, Stride: 1}, {Lo: 0x1F77B, Hi: 0x1F77F, Stride: 1},
		{Lo: 0x1F7D9, Hi: 0x1F7D9, Stride: 1}, {Lo: 0x1FA75, Hi: 0x1FA77, Stride: 1},
		{Lo: 0x1FA87, Hi: 0x1FA88, Stride: 1}, {Lo: 0x1FAAD, Hi: 0x1FAAF, Stride: 1},
		{Lo: 0x1FABB, Hi: 0x1FABD, Stride: 1}, {Lo: 0x1FABF, Hi: 0x1FABF, Stride: 1},
		{Lo: 0x1FACE, Hi: 0x1FACF, Stride: 1}, {Lo: 0x1FADA, Hi: 0x1FADB, Stride: 1},
		{Lo: 0x1FAE8, Hi: 0x1FAE8, Stride: 1}, {Lo: 0x1FAF7, Hi: 0x1FAF8, Stride: 1},
		{Lo: 0x2B739, Hi: 0x2B739, Stride: 1}, {Lo: 0x31350, Hi: 0x323AF, Stride: 1},
	},
}

// assigned14 reports whether CPython 3.11 knows r (Unicode 14.0).
func assigned14(r rune) bool {
	if r < 0x0370 {
		return true // Latin blocks: all assigned long ago (C0/C1 controls are assigned too).
	}
	return unicode.Is(assigned15, r) && !unicode.Is(added15, r)
}

// isRegexLetter is \p{L} of the regex module (Unicode 15.0).
func isRegexLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return unicode.IsLetter(r) && unicode.Is(assigned15, r)
}

// isRegexNumber is \p{N} of the regex module (Unicode 15.0).
func isRegexNumber(r rune) bool {
	if r < utf8.RuneSelf {
		return '0' <= r && r <= '9'
	}
	return unicode.IsNumber(r) && unicode.Is(assigned15, r)
}

// isWhiteSpace is the White_Space property: \s of the regex module (and of Go's unicode.IsSpace).
func isWhiteSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return 0x2000 <= r && r <= 0x200A
}

// isPySpace is str.isspace (and \s of Python's re): White_Space plus the separators U+1C..U+1F.
func isPySpace(r rune) bool {
	return isWhiteSpace(r) || 0x1C <= r && r <= 0x1F
}

// pyStrip is str.strip() without arguments.
func pyStrip(s string) string { return strings.TrimFunc(s, isPySpace) }

// isPyWord is \w of Python's re for str patterns: alphanumeric (str.isalnum) or '_'.
func isPyWord(r rune) bool {
	if r < utf8.RuneSelf {
		return r == '_' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return (unicode.IsLetter(r) || unicode.IsNumber(r)) && assigned14(r)
}

// isPyDecimal is \d of Python's re for str patterns (general category Nd).
func isPyDecimal(r rune) bool {
	if r < utf8.RuneSelf {
		return '0' <= r && r <= '9'
	}
	return unicode.Is(unicode.Nd, r) && assigned14(r)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// pyLower is CPython's str.lower(): the full lowercase mapping, which differs from Go's
// strings.ToLower in two places: U+0130 becomes "i" + U+0307, and U+03A3 becomes final sigma U+03C2
// at the end of a word (SpecialCasing's Final_Sigma context, as CPython tests it).
func pyLower(s string) string {
	if isASCII(s) {
		return strings.ToLower(s)
	}
	rs := []rune(s)
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i, r := range rs {
		switch {
		case r < utf8.RuneSelf:
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			b.WriteByte(byte(r))
		case r == 0x130:
			b.WriteString("i\u0307")
		case r == 0x3A3:
			if finalSigma(rs, i) {
				b.WriteRune(0x3C2)
			} else {
				b.WriteRune(0x3C3)
			}
		case !assigned14(r):
			b.WriteRune(r)
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma: a cased letter, then case-ignorables, then the sigma at i, and no case-ignorables
// followed by a cased letter after it.
func finalSigma(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && isCaseIgnorable(rs[j]) {
		j--
	}
	if j < 0 || !isCased(rs[j]) {
		return false
	}
	k := i + 1
	for k < len(rs) && isCaseIgnorable(rs[k]) {
		k++
	}
	return k == len(rs) || !isCased(rs[k])
}

// isCased is the derived property Cased: Lowercase, Uppercase or Lt.
func isCased(r rune) bool {
	if !assigned14(r) {
		return false
	}
	if r == 0x295 { // Ll in Unicode 14, Lo in Go's newer tables
		return true
	}
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// isCaseIgnorable is the derived property Case_Ignorable: Mn, Me, Cf, Lm, Sk, and the Word_Break
// classes MidLetter, MidNumLet and Single_Quote.
func isCaseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', '^', '`', 0xB7, 0x387, 0x55F, 0x5F4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	case 0x1171E: // Mn in Unicode 14, Mc in Go's newer tables
		return true
	}
	if r < utf8.RuneSelf || !assigned14(r) {
		return false
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// pyNFC is unicodedata.normalize("NFC", s) of CPython 3.11.
//
// Go's norm package gives the same result for characters Unicode 14 knows, with one documented
// exception: it follows the Stream-Safe Text Format and inserts U+034F after 30 non-starters in a
// row, which CPython does not. Text is therefore cut at characters CPython does not know (they are
// inert starters for it) and long runs of combining marks go through slowNFC.
func pyNFC(s string) string {
	if isASCII(s) {
		return s
	}
	var b strings.Builder
	start := 0
	for i, r := range s {
		if r >= 0x370 && !assigned14(r) {
			b.WriteString(nfcSegment(s[start:i]))
			b.WriteRune(r)
			start = i + utf8.RuneLen(r)
		}
	}
	if start == 0 {
		return nfcSegment(s)
	}
	b.WriteString(nfcSegment(s[start:]))
	return b.String()
}

// maxNonStarters is the run length after which Go's norm inserts U+034F.
const maxNonStarters = 30

func nfcSegment(s string) string {
	if s == "" {
		return s
	}
	if hasLongNonStarterRun(s) {
		return slowNFC(s)
	}
	return norm.NFC.String(s)
}

// hasLongNonStarterRun reports whether the canonical decomposition of s has more than
// maxNonStarters combining characters in a row.
func hasLongNonStarterRun(s string) bool {
	run := 0
	for _, r := range s {
		if r < 0x300 {
			run = 0
			continue
		}
		for _, x := range nfdRune(r) {
			if cccOf(x) != 0 {
				run++
				if run > maxNonStarters {
					return true
				}
			} else {
				run = 0
			}
		}
	}
	return false
}

// nfdRune is the full canonical decomposition of one rune.
func nfdRune(r rune) []rune {
	if r >= 0xAC00 && r <= 0xD7A3 { // Hangul syllables decompose algorithmically.
		return []rune(norm.NFD.String(string(r)))
	}
	d := norm.NFD.PropertiesString(string(r)).Decomposition()
	if d == nil {
		return []rune{r}
	}
	return []rune(string(d))
}

func cccOf(r rune) uint8 { return norm.NFD.PropertiesString(string(r)).CCC() }

// slowNFC is the textbook algorithm (full decomposition, stable canonical ordering, canonical
// composition) with no limit on runs of combining marks. Primary composites are found by asking the
// norm package to compose one starter with one mark.
func slowNFC(s string) string {
	var d []rune
	for _, r := range s {
		d = append(d, nfdRune(r)...)
	}
	ccc := make([]uint8, len(d))
	for i, r := range d {
		ccc[i] = cccOf(r)
	}
	// Canonical ordering: stable insertion sort inside each run of non-starters.
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && ccc[j] != 0 && ccc[j-1] > ccc[j]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
			ccc[j], ccc[j-1] = ccc[j-1], ccc[j]
		}
	}
	// Canonical composition.
	out := d[:0:0]
	outCCC := []uint8{}
	starter := -1 // index in out of the last starter
	for i, r := range d {
		c := ccc[i]
		if starter >= 0 {
			last := outCCC[len(outCCC)-1]
			blocked := len(out)-1 != starter && (last == 0 || last >= c)
			if !blocked {
				if comp, ok := composePair(out[starter], r); ok {
					out[starter] = comp
					continue
				}
			}
		}
		if c == 0 {
			starter = len(out)
		}
		out = append(out, r)
		outCCC = append(outCCC, c)
	}
	return string(out)
}

// composePair returns the primary composite of a starter and the next character, if any.
func composePair(a, b rune) (rune, bool) {
	pair := string([]rune{a, b})
	c := norm.NFC.String(pair)
	if r, n := utf8.DecodeRuneInString(c); n == len(c) && n > 0 && c != pair {
		return r, true
	}
	return 0, false
}
