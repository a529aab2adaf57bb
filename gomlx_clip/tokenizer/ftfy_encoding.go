package tokenizer

// ftfy 6.3.1's fix_encoding: detect UTF-8 that was decoded with a single-byte codec (mojibake) and
// undo it, following ftfy/__init__.py (_fix_encoding_one_step_and_explain) and the byte-level
// helpers of ftfy/fixes.py and ftfy/chardata.py. The byte patterns are short and fixed-length, so
// they are matched by hand with Python's re.sub semantics (leftmost position, first alternative
// that matches, non-overlapping).

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// maxFixRounds bounds ftfy's "repeat until nothing changes" loops. ftfy has no bound; each round
// that changes text shortens it or settles, so real text needs a handful of rounds.
const maxFixRounds = 64

// fixEncoding is ftfy.fix_encoding with the default configuration.
func fixEncoding(text string) string {
	for range maxFixRounds {
		fixed := fixEncodingOneStep(text)
		if fixed == text {
			break
		}
		text = fixed
	}
	return text
}

func fixEncodingOneStep(text string) string {
	if text == "" || isASCII(text) || !isBad(text) {
		return text
	}
	canLatin1 := false
	for _, e := range charmapEncodings {
		b, ok := encodeCharmap(text, e.c, e.sloppy)
		if !ok {
			continue
		}
		if e.c == latin1 {
			canLatin1 = true
		}
		if e.c != macRoman && alteredUTF8(b) {
			b = restoreByteA0(b)
		}
		if e.sloppy {
			b = replaceLossySequences(b)
		}
		var fixed string
		if bytes.IndexByte(b, 0xED) >= 0 || bytes.IndexByte(b, 0xC0) >= 0 {
			fixed, ok = decodeUTF8Variants(b)
		} else {
			fixed, ok = decodeUTF8Strict(b)
		}
		if ok {
			return fixed
		}
	}
	rs := []rune(text)
	if hasUTF8Mojibake(rs) {
		if fixed := decodeInconsistentUTF8(rs); fixed != text {
			return fixed
		}
	}
	// ftfy checks `"windows-1252" in possible_1byte_encodings`, which never holds (the list holds
	// "sloppy-windows-1252"), so Latin-1 text always takes this branch: re-read it as strict
	// Windows-1252, which fails on its five undefined bytes.
	if canLatin1 {
		b, _ := encodeCharmap(text, latin1, false)
		if fixed, ok := decodeStrict(b, cp1252); ok && fixed != text {
			return fixed
		}
	}
	if strings.ContainsFunc(text, isC1) {
		return fixC1Controls(text)
	}
	return text
}

func isC1(r rune) bool { return 0x80 <= r && r <= 0x9F }

// fixC1Controls replaces C1 controls with their Windows-1252 characters, as browsers do.
func fixC1Controls(text string) string {
	if !strings.ContainsFunc(text, isC1) {
		return text
	}
	t := sloppyTable(cp1252)
	return strings.Map(func(r rune) rune {
		if isC1(r) {
			return t[r]
		}
		return r
	}, text)
}

// decodeInconsistentUTF8 fixes each detector match on its own when it looks bad, so mojibake
// embedded in otherwise fine text gets decoded (fixes.decode_inconsistent_utf8).
func decodeInconsistentUTF8(rs []rune) string {
	var b strings.Builder
	last := 0
	for i := 0; i < len(rs); {
		j := utf8DetectorMatch(rs, i)
		if j < 0 {
			i++
			continue
		}
		b.WriteString(string(rs[last:i]))
		sub := string(rs[i:j])
		if j-i < len(rs) && isBad(sub) {
			sub = fixEncoding(sub)
		}
		b.WriteString(sub)
		last, i = j, j
	}
	b.WriteString(string(rs[last:]))
	return b.String()
}

// decodeUTF8Strict is bytes.decode("utf-8") (errors="strict").
func decodeUTF8Strict(b []byte) (string, bool) {
	if !utf8.Valid(b) {
		return "", false
	}
	return string(b), true
}

// decodeUTF8Variants is ftfy's "utf-8-variants" codec: strict UTF-8 that also accepts CESU-8
// surrogate pairs (six bytes) and Java's two-byte NUL (C0 80).
func decodeUTF8Variants(b []byte) (string, bool) {
	var out strings.Builder
	for i := 0; i < len(b); {
		if b[i] == 0xC0 && i+1 < len(b) && b[i+1] == 0x80 {
			out.WriteByte(0)
			i += 2
			continue
		}
		if b[i] == 0xED && i+5 < len(b) && inByte(b[i+1], 0xA0, 0xAF) && inByte(b[i+2], 0x80, 0xBF) &&
			b[i+3] == 0xED && inByte(b[i+4], 0xB0, 0xBF) && inByte(b[i+5], 0x80, 0xBF) {
			cp := rune(b[i+1]&0x0F)<<16 | rune(b[i+2]&0x3F)<<10 | rune(b[i+4]&0x0F)<<6 | rune(b[i+5]&0x3F)
			out.WriteRune(cp + 0x10000)
			i += 6
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return "", false
		}
		out.Write(b[i : i+n])
		i += n
	}
	return out.String(), true
}

func inByte(c, lo, hi byte) bool { return lo <= c && c <= hi }

// likelyCont and anyCont are the byte classes of ALTERED_UTF8_RE: continuation bytes that form
// likely characters (0x85 and 0xA0 are left out), and any continuation byte.
func likelyCont(c byte) bool {
	return inByte(c, 0x80, 0x84) || inByte(c, 0x86, 0x9F) || inByte(c, 0xA1, 0xBF)
}
func anyCont(c byte) bool { return inByte(c, 0x80, 0xBF) }

// alteredUTF8At matches ALTERED_UTF8_RE at i: a UTF-8 sequence in which a 0xA0 byte was turned into
// a space. It returns the match length or 0.
func alteredUTF8At(b []byte, i int) int {
	at := func(k int, f func(byte) bool) bool { return i+k < len(b) && f(b[i+k]) }
	sp := func(c byte) bool { return c == ' ' }
	c := b[i]
	switch {
	case bytes.IndexByte([]byte{0xC2, 0xC3, 0xC5, 0xCE, 0xD0, 0xD9}, c) >= 0 && at(1, sp):
		return 2
	case (c == 0xE2 || c == 0xE3) && at(1, sp) && at(2, likelyCont):
		return 3
	case inByte(c, 0xE0, 0xE3) && at(1, likelyCont) && at(2, sp):
		return 3
	case c == 0xF0 && at(1, sp) && at(2, anyCont) && at(3, anyCont):
		return 4
	case c == 0xF0 && at(1, anyCont) && at(2, sp) && at(3, anyCont):
		return 4
	case c == 0xF0 && at(1, anyCont) && at(2, anyCont) && at(3, sp):
		return 4
	}
	return 0
}

func alteredUTF8(b []byte) bool {
	for i := range b {
		if alteredUTF8At(b, i) > 0 {
			return true
		}
	}
	return false
}

// restoreByteA0 puts back the 0xA0 bytes that became spaces (fixes.restore_byte_a0). "Ã " as a
// word of its own (the mojibake of "à ") keeps its space, except before the Portuguese
// contractions "às", "àquele", "àquela", "àquilo".
func restoreByteA0(b []byte) []byte {
	var x []byte
	for i := 0; i < len(b); i++ {
		if b[i] == 0xC3 && i+1 < len(b) && b[i+1] == ' ' && !aGraveException(b[i+2:]) {
			x = append(x, 0xC3, 0xA0, ' ')
			i++
			continue
		}
		x = append(x, b[i])
	}
	var out []byte
	for i := 0; i < len(x); {
		if n := alteredUTF8At(x, i); n > 0 {
			for _, c := range x[i : i+n] {
				if c == ' ' {
					c = 0xA0
				}
				out = append(out, c)
			}
			i += n
			continue
		}
		out = append(out, x[i])
		i++
	}
	return out
}

func aGraveException(rest []byte) bool {
	for _, p := range []string{" ", "quele", "quela", "quilo", "s "} {
		if bytes.HasPrefix(rest, []byte(p)) {
			return true
		}
	}
	return false
}

// lossyAt matches LOSSY_UTF8_RE at i: a UTF-8 sequence some of whose bytes were lost (0x1A stands
// for a byte that became U+FFFD; one '?' may stand for a lost byte). It returns the length or 0.
func lossyAt(b []byte, i int) int {
	at := func(k int, f func(byte) bool) bool { return i+k < len(b) && f(b[i+k]) }
	sub := func(c byte) bool { return c == 0x1A }
	subQ := func(c byte) bool { return c == 0x1A || c == '?' }
	subC := func(c byte) bool { return c == 0x1A || anyCont(c) }
	subQC := func(c byte) bool { return c == 0x1A || c == '?' || anyCont(c) }
	is := func(v byte) func(byte) bool { return func(c byte) bool { return c == v } }
	rng := func(lo, hi byte) func(byte) bool { return func(c byte) bool { return inByte(c, lo, hi) } }
	seq := func(fs ...func(byte) bool) bool {
		for k, f := range fs {
			if !at(k, f) {
				return false
			}
		}
		return true
	}
	switch {
	case seq(rng(0xC2, 0xDF), sub):
		return 2
	case seq(rng(0xC2, 0xC3), is('?')):
		return 2
	case seq(is(0xED), rng(0xA0, 0xAF), subQ, is(0xED), rng(0xB0, 0xBF), subQC):
		return 6
	case seq(is(0xED), rng(0xA0, 0xAF), subQC, is(0xED), rng(0xB0, 0xBF), subQ):
		return 6
	case seq(rng(0xE0, 0xEF), subQ, subC):
		return 3
	case seq(rng(0xE0, 0xEF), subC, subQ):
		return 3
	case seq(rng(0xF0, 0xF4), subQ, subC, subC):
		return 4
	case seq(rng(0xF0, 0xF4), subC, subQ, subC):
		return 4
	case seq(rng(0xF0, 0xF4), subC, subC, subQ):
		return 4
	case seq(sub):
		return 1
	}
	return 0
}

// replaceLossySequences replaces each lossy sequence with the UTF-8 of U+FFFD.
func replaceLossySequences(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		if n := lossyAt(b, i); n > 0 {
			out = append(out, 0xEF, 0xBF, 0xBD)
			i += n
			continue
		}
		out = append(out, b[i])
		i++
	}
	return out
}
