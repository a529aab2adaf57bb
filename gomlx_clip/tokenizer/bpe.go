package tokenizer

// Byte-level BPE exactly as simple_tokenizer.py does it: every UTF-8 byte of a piece is one symbol
// (bytes_to_unicode), "</w>" is glued to the last one, and the adjacent pair with the lowest merge
// rank is merged everywhere (left to right, non-overlapping) until no pair has a rank.
//
// Symbols are vocabulary ids instead of strings: every symbol BPE can produce is in the vocabulary
// (the 512 byte symbols and the join of every merge), so ids and strings are interchangeable.

import (
	"math"
	"sync"
)

// byteToRune is bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the other 68
// bytes get U+0100 onwards in byte order, so no symbol is whitespace or a control character.
var byteToRune, runeToByte = func() ([256]rune, map[rune]byte) {
	var t [256]rune
	printable := func(b int) bool { return '!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b && b <= 0xFF }
	n := 0
	for b := range 256 {
		if printable(b) {
			t[b] = rune(b)
		} else {
			t[b] = rune(256 + n)
			n++
		}
	}
	inv := make(map[rune]byte, 256)
	for b, r := range t {
		inv[r] = byte(b)
	}
	return t, inv
}()

// byteVocabOrder is list(bytes_to_unicode().values()): the printable bytes first, then the others.
func byteVocabOrder() []string {
	var out []string
	for pass := range 2 {
		for b := range 256 {
			if (byteToRune[b] == rune(b)) == (pass == 0) {
				out = append(out, string(byteToRune[b]))
			}
		}
	}
	return out
}

// mergeKey packs a symbol pair into one map key.
func mergeKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

type mergeRule struct{ rank, id int32 }

// bpeModel is the immutable part of a Tokenizer.
type bpeModel struct {
	encoder map[string]int32
	decoder []string
	merges  map[uint64]mergeRule
	byteSym [256]int32 // id of the symbol of byte b
	byteEnd [256]int32 // id of that symbol + "</w>"
	sot     int32
	eot     int32
}

// maxCacheEntries bounds the BPE cache so that a long-running process fed arbitrary text does not
// grow without limit (the reference's cache is unbounded); when full it starts over.
const maxCacheEntries = 1 << 17

type bpeCache struct {
	mu sync.RWMutex
	m  map[string][]int32
}

func (c *bpeCache) get(k string) ([]int32, bool) {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	return v, ok
}

func (c *bpeCache) put(k string, v []int32) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCacheEntries {
		c.m = make(map[string][]int32)
	}
	c.m[k] = v
	c.mu.Unlock()
}

// bpe returns the ids of one piece of the split text. The returned slice is shared: do not modify.
func (t *Tokenizer) bpe(piece string) []int32 {
	switch sp := t.conv.specials(); piece {
	case sp[0]:
		return []int32{t.sot}
	case sp[1]:
		return []int32{t.eot}
	}
	if ids, ok := t.cache.get(piece); ok {
		return ids
	}
	word := make([]int32, len(piece))
	for i := 0; i < len(piece); i++ {
		word[i] = t.byteSym[piece[i]]
	}
	word[len(word)-1] = t.byteEnd[piece[len(piece)-1]]
	for len(word) > 1 {
		best, at := mergeRule{rank: math.MaxInt32}, -1
		for i := 0; i+1 < len(word); i++ {
			if m, ok := t.merges[mergeKey(word[i], word[i+1])]; ok && m.rank < best.rank {
				best, at = m, i
			}
		}
		if at < 0 {
			break
		}
		a, b := word[at], word[at+1]
		out := word[:0] // in place: the write index never passes the read index
		for i := 0; i < len(word); {
			if i+1 < len(word) && word[i] == a && word[i+1] == b {
				out = append(out, best.id)
				i += 2
			} else {
				out = append(out, word[i])
				i++
			}
		}
		word = out
	}
	ids := append([]int32(nil), word...)
	t.cache.put(piece, ids)
	return ids
}
