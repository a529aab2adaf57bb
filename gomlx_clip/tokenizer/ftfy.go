package tokenizer

// fixText is ftfy.fix_text(text) of ftfy 6.3.1 with its default TextFixerConfig, which CLIP's
// basic_clean calls first.
//
// Implemented, in ftfy's order and with its repeat-until-unchanged loop per line:
//   - unescape_html ("auto": off for the rest of the text once a line contains '<'),
//   - fix_encoding (mojibake: the ten single-byte codecs, restore_byte_a0,
//     replace_lossy_sequences, utf-8-variants, decode_inconsistent_utf8, the Latin-1 ->
//     Windows-1252 re-read, fix_c1_controls), driven by ftfy's badness heuristic,
//   - fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes,
//     fix_line_breaks, remove_terminal_escapes, remove_control_chars, NFC.
//
// Approximated or left out:
//   - fix_surrogates: Go strings hold no UTF-16 surrogates; invalid UTF-8 given to the tokenizer is
//     replaced by U+FFFD (one per bad byte) before anything else, where Python could not even have
//     such a string.
//   - Unicode versions: see pyunicode.go (characters newer than Unicode 14 are treated as
//     unassigned, as CPython 3.11 does).
//   - The fix loops are capped at maxFixRounds; ftfy loops until nothing changes.
//   - fix_text's other options (explanations, other normalization forms) are not needed by CLIP.
//
// Besides the goldens, this was checked once, outside the test suite, against the pass cases of
// ftfy's own test files (in-the-wild, synthetic, negative, plus the same texts mis-decoded one
// more time) and its docstring examples: all agree.

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxDecodeLength is TextFixerConfig.max_decode_length, in code points.
const maxDecodeLength = 1_000_000

func fixText(text string) string {
	var out strings.Builder
	unescape := true
	for text != "" {
		// Segments end after each '\n' and are at most maxDecodeLength code points long.
		end := strings.IndexByte(text, '\n') + 1
		if end == 0 {
			end = len(text)
		}
		if end > maxDecodeLength && utf8.RuneCountInString(text[:end]) > maxDecodeLength {
			end = runeOffset(text, maxDecodeLength)
		}
		seg := text[:end]
		text = text[end:]
		if unescape && strings.Contains(seg, "<") {
			unescape = false // ftfy's "auto": the text looks like HTML, keep its entities
		}
		out.WriteString(fixSegment(seg, unescape))
	}
	return out.String()
}

// runeOffset is the byte offset of the n-th code point of s.
func runeOffset(s string, n int) int {
	for i := range s {
		if n == 0 {
			return i
		}
		n--
	}
	return len(s)
}

// fixSegment is ftfy.fix_and_explain without the explanation.
func fixSegment(text string, unescape bool) string {
	for range maxFixRounds {
		orig := text
		if unescape {
			text = ftfyUnescapeHTML(text)
		}
		text = fixEncoding(text)
		text = fixC1Controls(text)
		text = fixLatinLigatures(text)
		text = fixCharacterWidth(text)
		text = uncurlQuotes(text)
		text = fixLineBreaks(text)
		text = removeTerminalEscapes(text)
		text = removeControlChars(text)
		text = pyNFC(text)
		if text == orig {
			break
		}
	}
	return text
}

// ftfyUnescapeHTML is fixes.unescape_html: only entities of the form &#?[0-9A-Za-z]{1,24}; are
// touched; named ones must be HTML5 names with their semicolon (or an all-caps spelling ftfy
// accepts); numeric ones are decoded by html.unescape unless that leaves a ';' behind.
func ftfyUnescapeHTML(text string) string {
	return replaceAt(text, "&", func(text string) (string, int) {
		n := ftfyEntityLen(text)
		if n == 0 {
			return "", 0
		}
		ent := text[:n]
		if ent[1] != '#' {
			if v, ok := html5Entities[ent[1:]]; ok { // ent ends with ';' here
				return v, n
			}
			if v, ok := ftfyUpperEntities[ent[1:]]; ok {
				return v, n
			}
			return ent, n
		}
		// A numeric reference that html.unescape must consume whole, semicolon included.
		if u := pyUnescape(ent); !strings.Contains(u, ";") {
			return u, n
		}
		return ent, n
	})
}

// ftfyEntityLen matches HTML_ENTITY_RE = &#?[0-9A-Za-z]{1,24}; at the start of s.
func ftfyEntityLen(s string) int {
	alnum := func(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
	try := func(start int) int {
		n := start
		for n < len(s) && n-start < 24 && alnum(s[n]) {
			n++
		}
		if n > start && n < len(s) && s[n] == ';' {
			return n + 1
		}
		return 0
	}
	if len(s) > 1 && s[1] == '#' {
		if n := try(2); n > 0 {
			return n
		}
	}
	return try(1)
}

// latinLigatures is chardata.LIGATURES: Latin ligatures and legacy digraphs, taken apart.
var latinLigatures = map[rune]string{
	'Ĳ': "IJ", 'ĳ': "ij", 'ŉ': "ʼn", 'Ǳ': "DZ", 'ǲ': "Dz", 'ǳ': "dz", 'Ǆ': "DŽ", 'ǅ': "Dž", 'ǆ': "dž",
	'Ǉ': "LJ", 'ǈ': "Lj", 'ǉ': "lj", 'Ǌ': "NJ", 'ǋ': "Nj", 'ǌ': "nj",
	'ﬀ': "ff", 'ﬁ': "fi", 'ﬂ': "fl", 'ﬃ': "ffi", 'ﬄ': "ffl", 'ﬅ': "ſt", 'ﬆ': "st",
}

func fixLatinLigatures(text string) string {
	return translate(text, func(r rune) (string, bool) {
		s, ok := latinLigatures[r]
		return s, ok
	})
}

// fixCharacterWidth maps U+3000 to a space and U+FF01..U+FFEF to their NFKC forms
// (chardata.WIDTH_MAP: full-width ASCII, half-width katakana and hangul, ...).
func fixCharacterWidth(text string) string {
	return translate(text, func(r rune) (string, bool) {
		if r == 0x3000 {
			return " ", true
		}
		if r < 0xFF01 || r > 0xFFEF {
			return "", false
		}
		return widthMap(r)
	})
}

// widthTable is chardata.WIDTH_MAP for U+FF01..U+FFEF: each character's NFKC form when it differs.
var widthTable = func() map[rune]string {
	m := map[rune]string{}
	for r := rune(0xFF01); r <= 0xFFEF; r++ {
		if s := norm.NFKC.String(string(r)); s != string(r) {
			m[r] = s
		}
	}
	return m
}()

func widthMap(r rune) (string, bool) {
	s, ok := widthTable[r]
	return s, ok
}

// translate applies a str.translate-like mapping, allocating only when something changes.
func translate(text string, f func(rune) (string, bool)) string {
	if isASCII(text) {
		return text
	}
	var b strings.Builder
	last := 0
	for i, r := range text {
		if s, ok := f(r); ok {
			b.WriteString(text[last:i])
			b.WriteString(s)
			last = i + utf8.RuneLen(r)
		}
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// uncurlQuotes: U+201C..U+201F become '"', then U+02BC and U+2018..U+201B become "'".
func uncurlQuotes(text string) string {
	return translate(text, func(r rune) (string, bool) {
		switch {
		case 0x201C <= r && r <= 0x201F:
			return `"`, true
		case r == 0x2BC || 0x2018 <= r && r <= 0x201B:
			return "'", true
		}
		return "", false
	})
}

// fixLineBreaks turns CRLF, CR, U+2028, U+2029 and U+0085 into '\n'.
func fixLineBreaks(text string) string {
	if !strings.ContainsAny(text, "\r\u2028\u2029\u0085") {
		return text
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	return strings.NewReplacer("\r", "\n", "\u2028", "\n", "\u2029", "\n", "\u0085", "\n").Replace(text)
}

// removeTerminalEscapes deletes ANSI escapes: ESC '[' (\d|;)* [a-zA-Z], with Python's Unicode \d.
func removeTerminalEscapes(text string) string {
	return replaceAt(text, "\x1b[", func(text string) (string, int) {
		j := 2
		for j < len(text) {
			r, n := utf8.DecodeRuneInString(text[j:])
			if r != ';' && !isPyDecimal(r) {
				break
			}
			j += n
		}
		if j < len(text) && asciiLetter(rune(text[j])) {
			return "", j + 1
		}
		return "", 0
	})
}

// removeControlChars deletes chardata.CONTROL_CHARS: C0 controls other than \t \n \f \r, DEL,
// the deprecated Arabic format controls U+206A..U+206F, the BOM U+FEFF and U+FFF9..U+FFFC.
func removeControlChars(text string) string {
	isCtl := func(r rune) bool {
		return r <= 0x08 || r == 0x0B || 0x0E <= r && r <= 0x1F || r == 0x7F ||
			0x206A <= r && r <= 0x206F || r == 0xFEFF || 0xFFF9 <= r && r <= 0xFFFC
	}
	if !strings.ContainsFunc(text, isCtl) {
		return text
	}
	return strings.Map(func(r rune) rune {
		if isCtl(r) {
			return -1
		}
		return r
	}, text)
}
