package tokenizer

// ftfy 6.3.1's mojibake heuristic (ftfy/badness.py: is_bad) and the UTF-8 mojibake detector of
// ftfy/chardata.py (UTF8_DETECTOR_RE), re-expressed as character classes and short sequences
// checked by hand. Go's regexp cannot express the detector's look-behind, and Python's \s and \w
// (Unicode) differ from RE2's, so no regular expressions are used.

import "unicode/utf8"

// charClass is a set of runes given as sorted inclusive ranges.
type charClass [][2]rune

func (c charClass) has(r rune) bool {
	for _, rg := range c {
		if r < rg[0] {
			return false
		}
		if r <= rg[1] {
			return true
		}
	}
	return false
}

// The character categories of badness.py (MOJIBAKE_CATEGORIES): the few hundred characters that
// occur in UTF-8 mojibake, grouped by how they behave in real text.
var (
	catCommon   = charClass{{0xA0, 0xA0}, {0xAD, 0xAD}, {0xB4, 0xB4}, {0xB7, 0xB7}, {0x2013, 0x2015}, {0x2019, 0x2019}, {0x2026, 0x2026}}
	catC1       = charClass{{0x80, 0x9F}}
	catBad      = charClass{{0xA4, 0xA4}, {0xA6, 0xA6}, {0xA8, 0xA8}, {0xAA, 0xAA}, {0xAC, 0xAC}, {0xAF, 0xAF}, {0xB8, 0xB8}, {0xBA, 0xBA}, {0x192, 0x192}, {0x2C6, 0x2C7}, {0x2D8, 0x2D8}, {0x2DB, 0x2DC}, {0x2020, 0x2021}, {0x2030, 0x2030}, {0x2310, 0x2310}, {0x25CA, 0x25CA}, {0xFFFD, 0xFFFD}}
	catLaw      = charClass{{0xA7, 0xA7}, {0xB6, 0xB6}}
	catCurrency = charClass{{0xA2, 0xA3}, {0xA5, 0xA5}, {0x20A7, 0x20A7}, {0x20AC, 0x20AC}}
	catStartP   = charClass{{0xA1, 0xA1}, {0xA9, 0xA9}, {0xAB, 0xAB}, {0xBF, 0xBF}, {0x384, 0x385}, {0x2018, 0x2018}, {0x201A, 0x201A}, {0x201C, 0x201C}, {0x201E, 0x201E}, {0x2022, 0x2022}, {0x2039, 0x2039}, {0xF8FF, 0xF8FF}}
	catEndP     = charClass{{0xAE, 0xAE}, {0xBB, 0xBB}, {0x2DD, 0x2DD}, {0x201D, 0x201D}, {0x203A, 0x203A}, {0x2122, 0x2122}}
	catNumeric  = charClass{{0xB1, 0xB3}, {0xB5, 0xB5}, {0xB9, 0xB9}, {0xBC, 0xBE}, {0xD7, 0xD7}, {0xF7, 0xF7}, {0x2044, 0x2044}, {0x2116, 0x2116}, {0x2202, 0x2202}, {0x2206, 0x2206}, {0x220F, 0x220F}, {0x2211, 0x2211}, {0x221A, 0x221A}, {0x221E, 0x221E}, {0x2229, 0x2229}, {0x222B, 0x222B}, {0x2248, 0x2248}, {0x2260, 0x2261}, {0x2264, 0x2265}}
	catKaomoji  = charClass{{0xB0, 0xB0}, {0xD2, 0xD6}, {0xD9, 0xDC}, {0xF2, 0xF6}, {0xF8, 0xFC}, {0x14C, 0x14C}, {0x150, 0x150}, {0x16A, 0x16A}, {0x172, 0x172}}
	catUpperAcc = charClass{{0xC0, 0xD1}, {0xD8, 0xD8}, {0xDC, 0xDD}, {0x100, 0x100}, {0x102, 0x102}, {0x104, 0x104}, {0x106, 0x106}, {0x10C, 0x10C}, {0x10E, 0x10E}, {0x110, 0x110}, {0x112, 0x112}, {0x116, 0x116}, {0x118, 0x118}, {0x11A, 0x11A}, {0x11E, 0x11E}, {0x122, 0x122}, {0x12A, 0x12A}, {0x130, 0x130}, {0x136, 0x136}, {0x139, 0x139}, {0x13B, 0x13B}, {0x13D, 0x13D}, {0x141, 0x141}, {0x143, 0x143}, {0x145, 0x145}, {0x147, 0x147}, {0x152, 0x152}, {0x158, 0x158}, {0x15A, 0x15A}, {0x15E, 0x15E}, {0x160, 0x160}, {0x162, 0x162}, {0x164, 0x164}, {0x16E, 0x16E}, {0x170, 0x170}, {0x178, 0x179}, {0x17B, 0x17B}, {0x17D, 0x17D}, {0x490, 0x490}}
	catLowerAcc = charClass{{0xDF, 0xF1}, {0xFC, 0xFC}, {0x101, 0x101}, {0x103, 0x103}, {0x105, 0x105}, {0x107, 0x107}, {0x10D, 0x10D}, {0x10F, 0x10F}, {0x111, 0x111}, {0x113, 0x113}, {0x117, 0x117}, {0x119, 0x119}, {0x11B, 0x11B}, {0x11F, 0x11F}, {0x123, 0x123}, {0x12B, 0x12B}, {0x12F, 0x12F}, {0x137, 0x137}, {0x13A, 0x13A}, {0x13C, 0x13C}, {0x13E, 0x13E}, {0x142, 0x142}, {0x153, 0x153}, {0x155, 0x155}, {0x15B, 0x15B}, {0x15F, 0x15F}, {0x161, 0x161}, {0x165, 0x165}, {0x17A, 0x17A}, {0x17C, 0x17C}, {0x17E, 0x17E}, {0x491, 0x491}, {0xFB01, 0xFB02}}
	catUpperCom = charClass{{0xDE, 0xDE}, {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x38F}, {0x391, 0x3AB}, {0x401, 0x42F}}
	catLowerCom = charClass{{0x3AC, 0x3C9}, {0x430, 0x45F}}
	catBox      = charClass{{0x2502, 0x2502}, {0x250C, 0x250C}, {0x2510, 0x2510}, {0x2518, 0x2518}, {0x251C, 0x251C}, {0x2524, 0x2524}, {0x252C, 0x252C}, {0x253C, 0x253C}, {0x2550, 0x256C}, {0x2580, 0x2580}, {0x2584, 0x2584}, {0x2588, 0x2588}, {0x258C, 0x258C}, {0x2590, 0x2593}}
)

// pred is one position of a badness sequence.
type pred func(rune) bool

func in(classes ...charClass) pred {
	return func(r rune) bool {
		for _, c := range classes {
			if c.has(r) {
				return true
			}
		}
		return false
	}
}

// lit matches any rune of the string.
func lit(s string) pred {
	return func(r rune) bool {
		for _, x := range s {
			if x == r {
				return true
			}
		}
		return false
	}
}

func or(ps ...pred) pred {
	return func(r rune) bool {
		for _, p := range ps {
			if p(r) {
				return true
			}
		}
		return false
	}
}

func asciiLetter(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' }
func asciiLower(r rune) bool  { return 'a' <= r && r <= 'z' }
func notNewline(r rune) bool  { return r != '\n' }

// badSeq is one alternative of BADNESS_RE: a fixed sequence of classes; optional marks the one
// position written with '?' in the Python pattern, anchored requires the start of the text.
type badSeq struct {
	p        []pred
	optional int // index of an optional position, or -1
	anchored bool
}

var badnessSeqs []badSeq

func init() {
	acc := in(catLowerAcc, catUpperAcc)
	seq := func(ps ...pred) badSeq { return badSeq{p: ps, optional: -1} }
	arabic := or(in(catCommon, catCurrency, catBad, catNumeric, catStartP), lit("ŸŠ®°µ»"))
	badnessSeqs = []badSeq{
		seq(in(catC1)),
		seq(in(catBad, catLowerAcc, catUpperAcc, catBox, catStartP, catEndP, catCurrency, catNumeric, catLaw), in(catBad)),
		seq(asciiLetter, in(catLowerCom, catUpperCom), in(catBad)),
		seq(in(catBad), in(catLowerAcc, catUpperAcc, catBox, catStartP, catEndP, catCurrency, catNumeric, catLaw)),
		seq(in(catLowerAcc, catLowerCom, catBox, catEndP, catCurrency, catNumeric), in(catUpperAcc)),
		seq(in(catBox, catEndP, catCurrency, catNumeric), in(catLowerAcc)),
		seq(in(catLowerAcc, catBox, catEndP), in(catCurrency)),
		seq(isPySpace, in(catUpperAcc), in(catCurrency)),
		seq(in(catUpperAcc, catBox), in(catNumeric, catLaw)),
		seq(in(catLowerAcc, catUpperAcc, catBox, catCurrency, catEndP), in(catStartP), in(catNumeric)),
		seq(in(catLowerAcc, catUpperAcc, catCurrency, catNumeric, catBox, catLaw), in(catEndP), in(catStartP)),
		seq(in(catCurrency, catNumeric, catBox), in(catStartP)),
		seq(asciiLower, in(catUpperAcc), in(catStartP, catCurrency)),
		seq(in(catBox), in(catKaomoji)),
		seq(in(catLowerAcc, catUpperAcc, catCurrency, catNumeric, catStartP, catEndP, catLaw), in(catBox)),
		seq(in(catBox), in(catEndP)),
		seq(acc, in(catStartP, catEndP), isPyWord),
		// the ligature œ when not followed by an unaccented Latin letter
		seq(lit("Œœ"), func(r rune) bool { return !asciiLetter(r) }),
		// degree signs after capital letters
		seq(in(catUpperAcc), lit("°")),
		// common Windows-1252 two-character mojibake not covered above
		seq(lit("ÂÃÎÐ"), or(lit("€œŠš¢£Ÿž\u00a0\u00ad®©°·»–—´"), in(catStartP, catEndP))),
		seq(lit("×"), lit("²³")),
		// Windows-1252 mojibake of Arabic: four characters
		seq(lit("ØÙ"), arabic, lit("ØÙ"), arabic),
		// Windows-1252 mojibake starting 3-byte sequences of South Asian scripts
		seq(lit("à"), lit("²µ¹¼½¾")),
		// MacRoman mojibake
		seq(lit("√"), lit("±∂†≠®™´≤≥¥µø")),
		seq(lit("≈"), lit("°¢")),
		seq(lit("‚"), lit("Ä"), lit("ìîïòôúùû†°¢π")),
		seq(lit("‚"), lit("âó"), lit("àä°ê")),
		// Windows-1251 mojibake of U+2000-range characters, Latin-1 characters, Cyrillic
		seq(lit("в"), lit("Ђ")),
		seq(lit("ВГРС"), or(in(catC1, catBad, catStartP, catEndP, catCurrency), lit("°µ")), lit("ВГРС")),
		seq(lit("Г"), lit("ў"), lit("В"), lit("Ђ"), lit("В"), notNewline, or(asciiLetter, lit(" "))),
		// Windows-1252 encodings of 'à', 'á' and U+00A0 itself
		seq(lit("Ã"), lit("\u00a0¡")),
		{p: []pred{asciiLower, isPySpace, lit("ÃÂ"), lit(" ")}, optional: 1},
		{p: []pred{lit("ÃÂ"), lit(" ")}, optional: -1, anchored: true},
		// Â standing for itself before common punctuation
		seq(or(lit("abcdefghijklmnopqrstuvwxyz.,?!"), in(catEndP)), lit("Â"), or(lit(" "), in(catStartP, catEndP))),
		// Windows-1253 mojibake
		seq(lit("β"), lit("€"), lit("™\u00a0Ά\u00ad®°")),
		seq(lit("ΒΓΞΟ"), or(in(catC1, catBad, catStartP, catEndP, catCurrency), lit("°")), lit("ΒΓΞΟ")),
		// Windows-1257 mojibake of U+2000-range characters
		seq(lit("ā"), lit("€")),
	}
}

// matchAt reports whether the sequence matches rs starting at i.
func (s *badSeq) matchAt(rs []rune, i int) bool {
	if s.anchored && i != 0 {
		return false
	}
	return s.match(rs, i, 0)
}

func (s *badSeq) match(rs []rune, i, k int) bool {
	for ; k < len(s.p); k++ {
		if k == s.optional && s.match(rs, i, k+1) {
			return true // the optional position left out
		}
		if i >= len(rs) || !s.p[k](rs[i]) {
			return false
		}
		i++
	}
	return true
}

// isBad is ftfy.badness.is_bad: does the text contain a sequence that is much more likely
// to be mojibake than intended?
func isBad(text string) bool {
	rs := []rune(text)
	for i := range rs {
		if rs[i] < utf8.RuneSelf && !badStartsASCII(rs[i]) {
			continue
		}
		for k := range badnessSeqs {
			if badnessSeqs[k].matchAt(rs, i) {
				return true
			}
		}
	}
	return false
}

// badStartsASCII: the only ASCII characters that can start a badness sequence are letters,
// whitespace and the punctuation of the Â rule.
func badStartsASCII(r rune) bool {
	return asciiLetter(r) || isPySpace(r) || r == '.' || r == ',' || r == '?' || r == '!'
}

// ---- UTF8_DETECTOR_RE ----

// The detector's classes are the characters that UTF-8 lead and continuation bytes decode to in
// Latin-1 and the sloppy Windows-1250/1251/1252/1253/1254/1257 code pages (chardata.UTF8_CLUES);
// they are derived from the codec tables rather than listed.
type utf8Clues struct {
	first2, first3, first4, cont, contStrict map[rune]bool
}

var clues = func() *utf8Clues {
	c := &utf8Clues{first2: map[rune]bool{}, first3: map[rune]bool{}, first4: map[rune]bool{}, cont: map[rune]bool{}, contStrict: map[rune]bool{}}
	for _, enc := range []codec{latin1, cp1250, cp1251, cp1252, cp1253, cp1254, cp1257} {
		t := sloppyTable(enc)
		for b := 0x80; b <= 0xBF; b++ {
			c.cont[t[b]] = true
			c.contStrict[t[b]] = true
		}
		for b := 0xC2; b <= 0xDF; b++ {
			c.first2[t[b]] = true
		}
		for b := 0xE0; b <= 0xEF; b++ {
			c.first3[t[b]] = true
		}
		c.first4[t[0xF0]] = true // lead bytes F0 and F3 only: the others start unassigned code points
		c.first4[t[0xF3]] = true
	}
	for r := rune(0x80); r <= 0xBF; r++ {
		c.cont[r], c.contStrict[r] = true, true
	}
	// A space may stand for U+00A0; the strict class leaves out characters that commonly stand for
	// themselves next to mojibake: spaces, dashes, quotation marks, the bullet and the ellipsis.
	c.cont[' '] = true
	for _, r := range "–—―‘’‚“”„•…" {
		delete(c.contStrict, r)
	}
	return c
}()

// utf8DetectorMatch returns the end of a detector match starting at i, or -1: not preceded by a
// strict continuation character, then one or more of: 2-byte lead + 1 continuation, 3-byte lead + 2,
// 4-byte lead + 3 (alternatives tried in that order, repeated greedily).
func utf8DetectorMatch(rs []rune, i int) int {
	if i > 0 && clues.contStrict[rs[i-1]] {
		return -1
	}
	j := i
	for {
		n := 0
		switch {
		case j < len(rs) && clues.first2[rs[j]] && contRun(rs, j+1, 1):
			n = 2
		case j < len(rs) && clues.first3[rs[j]] && contRun(rs, j+1, 2):
			n = 3
		case j < len(rs) && clues.first4[rs[j]] && contRun(rs, j+1, 3):
			n = 4
		}
		if n == 0 {
			break
		}
		j += n
	}
	if j == i {
		return -1
	}
	return j
}

func contRun(rs []rune, i, n int) bool {
	if i+n > len(rs) {
		return false
	}
	for k := i; k < i+n; k++ {
		if !clues.cont[rs[k]] {
			return false
		}
	}
	return true
}

// hasUTF8Mojibake is UTF8_DETECTOR_RE.search.
func hasUTF8Mojibake(rs []rune) bool {
	for i := range rs {
		if utf8DetectorMatch(rs, i) >= 0 {
			return true
		}
	}
	return false
}
