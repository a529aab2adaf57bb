package tokenizer

// Python's html.unescape, which CLIP's basic_clean applies twice after ftfy.
//
// Go's html.UnescapeString is not a substitute: it decodes a different set of entity names without
// a semicolon, stops differently on long names, and maps invalid numeric references differently.
// This follows CPython's Lib/html/__init__.py: the charref pattern
//   &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
// and its replacement rules.

import (
	"strings"
	"unicode/utf8"
)

//go:generate sh -c "python3 gen_entities.py > entities_table.go && gofmt -w entities_table.go"

// pyUnescape is html.unescape.
func pyUnescape(s string) string {
	return replaceAt(s, "&", func(s string) (string, int) {
		repl, n := charref(s[1:])
		if n == 0 {
			return "", 0
		}
		return repl, 1 + n
	})
}

// replaceAt copies s with what match recognises at each occurrence of marker replaced: match
// gets s from the marker on and returns the replacement and how many bytes it replaces; 0 is no
// match, and then the marker's first byte is copied and the search goes on after it.
func replaceAt(s, marker string, match func(s string) (repl string, n int)) string {
	if !strings.Contains(s, marker) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.Index(s, marker)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		repl, n := match(s)
		if n == 0 {
			b.WriteByte(s[0])
			s = s[1:]
			continue
		}
		b.WriteString(repl)
		s = s[n:]
	}
}

// numericCharrefAt matches digits (at least one) followed by an optional ';' from s[start:] and
// returns their character and the bytes matched from the start of s (0: no digit).
func numericCharrefAt(s string, start int, digit func(byte) bool, base int) (string, int) {
	n := start
	for n < len(s) && digit(s[n]) {
		n++
	}
	if n == start {
		return "", 0
	}
	digits := s[start:n]
	if n < len(s) && s[n] == ';' {
		n++
	}
	return numericCharref(digits, base), n
}

// charref matches the part of the pattern after '&' at the start of s and returns the
// replacement and the number of bytes matched (0: no match).
func charref(s string) (string, int) {
	if strings.HasPrefix(s, "#") {
		if repl, n := numericCharrefAt(s, 1, isDigit, 10); n > 0 { // #[0-9]+;?
			return repl, n
		}
		if len(s) > 1 && (s[1] == 'x' || s[1] == 'X') { // #[xX][0-9a-fA-F]+;?
			return numericCharrefAt(s, 2, isHexDigit, 16)
		}
		return "", 0 // '#' is excluded from the named-reference alternative
	}
	// [^\t\n\f <&#;]{1,32};?  — counted in code points.
	n, count := 0, 0
	for n < len(s) && count < 32 {
		r, size := utf8.DecodeRuneInString(s[n:])
		if strings.ContainsRune("\t\n\f <&#;", r) {
			break
		}
		n += size
		count++
	}
	if n == 0 {
		return "", 0
	}
	if n < len(s) && s[n] == ';' {
		n++
	}
	name := s[:n]
	if v, ok := html5Entities[name]; ok {
		return v, n
	}
	// The longest prefix (of at least 2 code points, shorter than the whole) that is an entity.
	rs := []rune(name)
	for x := len(rs) - 1; x > 1; x-- {
		if v, ok := html5Entities[string(rs[:x])]; ok {
			return v + string(rs[x:]), n
		}
	}
	return "&" + name, n
}

func isDigit(c byte) bool    { return '0' <= c && c <= '9' }
func isHexDigit(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// numericCharref maps a numeric reference the way html.unescape does. Python parses arbitrarily
// long numbers; anything above U+10FFFF becomes U+FFFD, so saturating is enough. (CPython >= 3.11
// raises ValueError on a decimal reference of more than 4300 digits; that crash is not reproduced.)
func numericCharref(digits string, base int) string {
	num := 0
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		var d int
		switch {
		case isDigit(c):
			d = int(c - '0')
		case 'a' <= c && c <= 'f':
			d = int(c-'a') + 10
		default:
			d = int(c-'A') + 10
		}
		num = num*base + d
		if num > 0x10FFFF {
			num = 0x110000
		}
	}
	if v, ok := invalidCharrefs(num); ok {
		return v
	}
	if 0xD800 <= num && num <= 0xDFFF || num > 0x10FFFF {
		return "\uFFFD"
	}
	if isInvalidCodepoint(num) {
		return ""
	}
	return string(rune(num))
}

// invalidCharrefs is html._invalid_charrefs: NUL, CR and the Windows-1252 meaning of 0x80-0x9F
// (undefined bytes map to their C1 control).
func invalidCharrefs(num int) (string, bool) {
	switch {
	case num == 0:
		return "\uFFFD", true
	case num == 0x0D:
		return "\r", true
	case 0x80 <= num && num <= 0x9F:
		return string(sloppyTable(cp1252)[num]), true
	}
	return "", false
}

// isInvalidCodepoint is html._invalid_codepoints: controls, non-characters; these vanish.
func isInvalidCodepoint(num int) bool {
	switch {
	case 0x1 <= num && num <= 0x8, num == 0xB, 0xE <= num && num <= 0x1F, 0x7F <= num && num <= 0x9F:
		return true
	case 0xFDD0 <= num && num <= 0xFDEF:
		return true
	}
	return num&0xFFFE == 0xFFFE && num <= 0x10FFFF
}
