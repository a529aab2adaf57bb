package tokenizer

// The text side of CLIP's simple_tokenizer.py: basic_clean, whitespace_clean, lower() and the
// regex split into pieces that are then BPE-encoded.

import (
	"strings"
	"unicode/utf8"
)

// cleanText is whitespace_clean(basic_clean(text)).lower().
func cleanText(text string) string {
	return pyLower(whitespaceClean(basicClean(text)))
}

// basicClean is ftfy.fix_text, html.unescape twice, strip.
func basicClean(text string) string {
	text = fixText(validUTF8(text))
	return pyStrip(pyUnescape(pyUnescape(text)))
}

// validUTF8 replaces each byte that is not part of valid UTF-8 with U+FFFD, as ranging over the
// string does. (A Python str cannot hold such bytes at all.)
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r) // invalid bytes come out as utf8.RuneError, one per byte
	}
	return b.String()
}

// whitespaceClean is re.sub(r'\s+', ' ', text).strip() with the regex module's \s (White_Space).
func whitespaceClean(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	inSpace := false
	for _, r := range text {
		if isWhiteSpace(r) {
			if !inSpace {
				b.WriteByte(' ')
			}
			inSpace = true
			continue
		}
		inSpace = false
		b.WriteRune(r)
	}
	return pyStrip(b.String())
}

// splitPieces calls fn with each match of CLIP's pattern, in order:
//
//	<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//
// compiled by the regex module with IGNORECASE, where the first two alternatives are the special
// tokens' spellings of the convention (open_clip's pattern starts with <start_of_text>|<end_of_text>
// instead). At each position the alternatives are tried in order; where none matches (whitespace)
// the scan moves on by one character.
func splitPieces(text string, specials [2]string, fn func(piece string)) {
	for i := 0; i < len(text); {
		if n := matchSpecial(text[i:], specials); n > 0 {
			fn(text[i : i+n])
			i += n
			continue
		}
		if text[i] == '\'' {
			if n := matchContraction(text[i:]); n > 0 {
				fn(text[i : i+n])
				i += n
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		switch {
		case isRegexLetter(r):
			j := i + size
			for j < len(text) {
				r2, s2 := utf8.DecodeRuneInString(text[j:])
				if !isRegexLetter(r2) {
					break
				}
				j += s2
			}
			fn(text[i:j])
			i = j
		case isRegexNumber(r):
			fn(text[i : i+size])
			i += size
		case !isOtherPiece(r):
			i += size // whitespace (and U+0345) match no alternative
		default:
			j := i + size
			for j < len(text) {
				r2, s2 := utf8.DecodeRuneInString(text[j:])
				if isRegexLetter(r2) || isRegexNumber(r2) || !isOtherPiece(r2) {
					break
				}
				j += s2
			}
			fn(text[i:j])
			i = j
		}
	}
}

// isOtherPiece is [^\s\p{L}\p{N}] under IGNORECASE for a rune that is neither letter nor number.
// The regex module tests a negated class against all case variants of the character: U+0345
// (combining ypogegrammeni) folds to the letter iota, so it is excluded here although [\p{L}] does
// not match it either. It is the only such character (checked over all code points).
func isOtherPiece(r rune) bool { return !isWhiteSpace(r) && r != 0x345 }

// matchSpecial matches either special-token spelling at the start of s (in pattern order).
func matchSpecial(s string, specials [2]string) int {
	if len(s) == 0 || s[0] != '<' {
		return 0
	}
	for _, lit := range specials {
		if n := matchLiteralFold(s, lit); n > 0 {
			return n
		}
	}
	return 0
}

// contractions are the literal alternatives after the apostrophe, in pattern order.
var contractions = []string{"s", "t", "re", "ve", "m", "ll", "d"}

func matchContraction(s string) int {
	for _, c := range contractions {
		if n := matchLiteralFold(s, "'"+c); n > 0 {
			return n
		}
	}
	return 0
}

// matchLiteralFold matches an ASCII literal at the start of s the way IGNORECASE does in the regex
// module (simple case folding): a letter also matches its upper case, and 's' also matches U+017F
// (long s), which lower() leaves alone. It returns the byte length matched, or 0.
func matchLiteralFold(s, lit string) int {
	n := 0
	for k := 0; k < len(lit); k++ {
		if n >= len(s) {
			return 0
		}
		want := lit[k]
		r, size := utf8.DecodeRuneInString(s[n:])
		switch {
		case r == rune(want):
		case 'a' <= want && want <= 'z' && r == rune(want-'a'+'A'):
		case want == 's' && r == 0x17F:
		default:
			return 0
		}
		n += size
	}
	return n
}
