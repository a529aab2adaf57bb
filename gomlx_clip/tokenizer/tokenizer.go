// Package tokenizer is CLIP's BPE tokenizer (OpenAI CLIP simple_tokenizer.py and clip.tokenize),
// written to give the same ids as the reference for any input, ftfy 6.3.1 cleaning included.
//
// Pipeline of Encode (see clean.go, ftfy.go, bpe.go):
//
//	ftfy.fix_text -> html.unescape twice -> strip -> \s+ to one space -> str.lower()
//	-> split by CLIP's regex -> UTF-8 bytes -> byte-level BPE with "</w>" -> ids
package tokenizer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"unicode/utf8"
)

// Ids of the special tokens and the default context length of the OpenAI vocabulary.
const (
	SOT                  = 49406 // <|startoftext|>
	EOT                  = 49407 // <|endoftext|>
	DefaultContextLength = 77
)

// numMerges is how many merge lines the reference reads: lines[1:49152-256-2+1].
const numMerges = 49152 - 256 - 2

// Tokenizer turns text into CLIP token ids. It is safe for concurrent use: the model is read-only
// and the BPE cache has its own lock.
type Tokenizer struct {
	bpeModel
	conv  Convention
	cache bpeCache
}

// Convention is what a tokenizer does with the two things OpenAI's and open_clip's tokenizers
// disagree on (same BPE, same vocabulary ids, same clean-up): which spelling of the special tokens
// in a text becomes a special id, and what becomes of a text longer than the context.
type Convention int

const (
	// OpenAI is clip.tokenize (OpenAI CLIP, and Hugging Face's CLIPTokenizer, whose specials are
	// spelled the same): "<|startoftext|>" / "<|endoftext|>" in a text are the SOT / EOT ids, and a
	// text too long for the context is an error unless Tokenize is asked to truncate.
	OpenAI Convention = iota
	// OpenCLIP is open_clip's SimpleTokenizer (open_clip/tokenizer.py): "<start_of_text>" /
	// "<end_of_text>" are the SOT / EOT ids while OpenAI's spellings are plain text, and a text too
	// long is cut to the context with EOT as its last id (Truncates).
	OpenCLIP
)

func (c Convention) String() string {
	if c == OpenCLIP {
		return "open_clip"
	}
	return "openai"
}

// specials are the convention's spellings of SOT and EOT.
func (c Convention) specials() [2]string {
	if c == OpenCLIP {
		return [2]string{"<start_of_text>", "<end_of_text>"}
	}
	return [2]string{"<|startoftext|>", "<|endoftext|>"}
}

// Truncates tells whether the convention cuts over-long texts instead of refusing them.
func (c Convention) Truncates() bool { return c == OpenCLIP }

// Convention is the tokenizer's convention (OpenAI unless made by WithConvention).
func (t *Tokenizer) Convention() Convention { return t.conv }

// WithConvention returns a tokenizer with the same vocabulary and merges that follows convention
// c; t itself is unchanged.
func (t *Tokenizer) WithConvention(c Convention) *Tokenizer {
	if c == t.conv {
		return t
	}
	return &Tokenizer{bpeModel: t.bpeModel, conv: c}
}

//go:embed bpe_simple_vocab_16e6.txt.gz
var defaultVocabGz []byte

var (
	defaultOnce sync.Once
	defaultTok  *Tokenizer
	defaultErr  error
)

// Default returns the tokenizer of OpenAI's bpe_simple_vocab_16e6.txt.gz (embedded), built once
// and shared.
func Default() (*Tokenizer, error) {
	defaultOnce.Do(func() {
		defaultTok, defaultErr = fromMergesData(defaultVocabGz)
		if defaultErr == nil {
			openCLIPTok = defaultTok.WithConvention(OpenCLIP)
		}
	})
	return defaultTok, defaultErr
}

var openCLIPTok *Tokenizer // Default with the OpenCLIP convention, built with it

// DefaultFor returns the shared tokenizer of the embedded vocabulary for convention c.
func DefaultFor(c Convention) (*Tokenizer, error) {
	tok, err := Default()
	if err != nil || c == OpenAI {
		return tok, err
	}
	return openCLIPTok, nil
}

// FromBPEFile reads a merges file like bpe_simple_vocab_16e6.txt (gzip-compressed or plain): its
// first line is a header, the next 48894 lines are the merges that are used.
func FromBPEFile(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return fromMergesData(data)
}

func fromMergesData(data []byte) (*Tokenizer, error) {
	if len(data) >= 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("tokenizer: merges file: %w", err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("tokenizer: merges file: %w", err)
		}
	}
	if !utf8.Valid(data) {
		return nil, errors.New("tokenizer: merges file is not UTF-8")
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) < 2 {
		return nil, errors.New("tokenizer: merges file has no merges")
	}
	lines = lines[1:min(len(lines), 1+numMerges)]
	merges := make([][2]string, 0, len(lines))
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) == 0 && i == len(lines)-1 {
			break // the trailing newline of a short file
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("tokenizer: merges file line %d: want two symbols, got %q", i+2, line)
		}
		merges = append(merges, [2]string{f[0], f[1]})
	}
	// vocab = the 256 byte symbols, the same with "</w>", every merge joined, the two specials.
	vocab := byteVocabOrder()
	for _, s := range vocab[:256] {
		vocab = append(vocab, s+"</w>")
	}
	for _, m := range merges {
		vocab = append(vocab, m[0]+m[1])
	}
	vocab = append(vocab, "<|startoftext|>", "<|endoftext|>")
	encoder := make(map[string]int32, len(vocab))
	for i, s := range vocab {
		encoder[s] = int32(i) // a repeated string keeps its last id, as dict(zip(...)) does
	}
	return newTokenizer(encoder, vocab, merges)
}

// FromHF builds a tokenizer from the vocab.json and merges.txt of a Hugging Face CLIPTokenizer.
// Text is cleaned and split exactly as by the OpenAI tokenizer, so the ids are the same for the
// same vocabulary.
func FromHF(vocabJSON, mergesTXT io.Reader) (*Tokenizer, error) {
	var vocabMap map[string]int32
	if err := json.NewDecoder(vocabJSON).Decode(&vocabMap); err != nil {
		return nil, fmt.Errorf("tokenizer: vocab.json: %w", err)
	}
	size := int32(0)
	for tok, id := range vocabMap {
		if id < 0 {
			return nil, fmt.Errorf("tokenizer: vocab.json: negative id %d for %q", id, tok)
		}
		// Ids are 0..n-1 (the embedding rows); bounding them by the entry count also bounds the
		// decoder table a crafted file could otherwise make huge (or overflow size).
		if int(id) >= len(vocabMap) {
			return nil, fmt.Errorf("tokenizer: vocab.json: id %d for %q is out of range for %d entries", id, tok, len(vocabMap))
		}
		size = max(size, id+1)
	}
	decoder := make([]string, size)
	for tok, id := range vocabMap {
		decoder[id] = tok
	}
	var merges [][2]string
	sc := bufio.NewScanner(mergesTXT)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 && strings.HasPrefix(line, "#version") {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("tokenizer: merges.txt line %d: want two symbols, got %q", n, line)
		}
		merges = append(merges, [2]string{f[0], f[1]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tokenizer: merges.txt: %w", err)
	}
	return newTokenizer(vocabMap, decoder, merges)
}

func newTokenizer(encoder map[string]int32, decoder []string, merges [][2]string) (*Tokenizer, error) {
	t := &Tokenizer{bpeModel: bpeModel{encoder: encoder, decoder: decoder, merges: make(map[uint64]mergeRule, len(merges))}}
	for b := range 256 {
		s := string(byteToRune[b])
		var ok1, ok2 bool
		t.byteSym[b], ok1 = encoder[s]
		t.byteEnd[b], ok2 = encoder[s+"</w>"]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("tokenizer: vocabulary lacks the byte symbol %q or %q", s, s+"</w>")
		}
	}
	var ok1, ok2 bool
	t.sot, ok1 = encoder["<|startoftext|>"]
	t.eot, ok2 = encoder["<|endoftext|>"]
	if !ok1 || !ok2 {
		return nil, errors.New("tokenizer: vocabulary lacks <|startoftext|> or <|endoftext|>")
	}
	for rank, m := range merges {
		a, okA := encoder[m[0]]
		b, okB := encoder[m[1]]
		if !okA || !okB {
			continue // a symbol that never exists: the merge can never apply
		}
		id, ok := encoder[m[0]+m[1]]
		if !ok {
			return nil, fmt.Errorf("tokenizer: merge %d (%q %q) has no vocabulary entry", rank+1, m[0], m[1])
		}
		t.merges[mergeKey(a, b)] = mergeRule{rank: int32(rank), id: id} // a repeated merge keeps its last rank
	}
	return t, nil
}

// VocabSize is the number of token ids (49408 for the OpenAI vocabulary).
func (t *Tokenizer) VocabSize() int { return len(t.decoder) }

// SOTID is the id of <|startoftext|> in this vocabulary (SOT for the OpenAI one).
func (t *Tokenizer) SOTID() int32 { return t.sot }

// EOTID is the id of <|endoftext|> in this vocabulary (EOT for the OpenAI one).
func (t *Tokenizer) EOTID() int32 { return t.eot }

// Encode returns the BPE ids of text, without SOT/EOT (SimpleTokenizer.encode).
func (t *Tokenizer) Encode(text string) []int32 {
	var ids []int32
	splitPieces(cleanText(text), t.conv.specials(), func(piece string) {
		ids = append(ids, t.bpe(piece)...)
	})
	return ids
}

// TooLongError is returned by Tokenize when a text does not fit and truncation is off.
type TooLongError struct {
	Index         int    // position of the text in the batch
	Text          string // the text as given
	Tokens        int    // its length with SOT and EOT
	ContextLength int
}

func (e *TooLongError) Error() string {
	return fmt.Sprintf("tokenizer: Input %s is too long for context length %d (text %d: %d tokens with SOT/EOT)",
		shorten(e.Text, 60), e.ContextLength, e.Index, e.Tokens)
}

// shorten keeps the first n characters of s, marking the cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// Tokenize is clip.tokenize: one row per text, [SOT, ids..., EOT] zero-padded to contextLength.
// A text that is too long is an error (*TooLongError) unless truncate is set, which keeps the
// first contextLength ids and makes the last one EOT.
func (t *Tokenizer) Tokenize(texts []string, contextLength int, truncate bool) ([][]int32, error) {
	if len(texts) == 0 {
		return nil, errors.New("tokenizer: no texts to tokenize")
	}
	if contextLength < 2 {
		return nil, fmt.Errorf("tokenizer: context length %d leaves no room for SOT and EOT", contextLength)
	}
	flat := make([]int32, len(texts)*contextLength)
	rows := make([][]int32, len(texts))
	for i, text := range texts {
		row := flat[i*contextLength : (i+1)*contextLength : (i+1)*contextLength]
		ids := t.Encode(text)
		row[0] = t.sot
		if n := len(ids) + 2; n > contextLength {
			if !truncate {
				return nil, &TooLongError{Index: i, Text: text, Tokens: n, ContextLength: contextLength}
			}
			copy(row[1:], ids[:contextLength-2])
			row[contextLength-1] = t.eot
		} else {
			copy(row[1:], ids)
			row[n-1] = t.eot
		}
		rows[i] = row
	}
	return rows, nil
}

// Decode turns ids back into text (SimpleTokenizer.decode): token strings joined, mapped back to
// bytes, decoded as UTF-8 with invalid bytes replaced, "</w>" turned into a space. Ids outside
// the vocabulary are skipped.
func (t *Tokenizer) Decode(ids []int32) string {
	var raw []byte
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.decoder) {
			continue
		}
		sym := t.decoder[id]
		switch sp := t.conv.specials(); id { // the convention's spelling (the vocabulary holds OpenAI's)
		case t.sot:
			sym = sp[0]
		case t.eot:
			sym = sp[1]
		}
		for _, r := range sym {
			if b, ok := runeToByte[r]; ok {
				raw = append(raw, b)
			}
		}
	}
	return strings.ReplaceAll(decodeReplace(raw), "</w>", " ")
}

// decodeReplace is bytes.decode("utf-8", errors="replace"): each maximal ill-formed subsequence
// becomes one U+FFFD.
func decodeReplace(b []byte) string {
	var sb strings.Builder
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || n > 1 {
			sb.Write(b[i : i+n])
			i += n
			continue
		}
		sb.WriteRune(utf8.RuneError)
		i += 1 + validContinuations(b[i:])
	}
	return sb.String()
}

// validContinuations counts the continuation bytes after a lead byte that still fit a valid
// sequence (the part of a truncated sequence that is replaced together with its lead).
func validContinuations(b []byte) int {
	lo, hi, need := byte(0x80), byte(0xBF), 0
	switch c := b[0]; {
	case 0xC2 <= c && c <= 0xDF:
		need = 1
	case c == 0xE0:
		lo, need = 0xA0, 2
	case c == 0xED:
		hi, need = 0x9F, 2
	case 0xE1 <= c && c <= 0xEF:
		need = 2
	case c == 0xF0:
		lo, need = 0x90, 3
	case c == 0xF4:
		hi, need = 0x8F, 3
	case 0xF1 <= c && c <= 0xF3:
		need = 3
	}
	n := 0
	for n < need && 1+n < len(b) {
		c := b[1+n]
		if n == 0 && (c < lo || c > hi) || n > 0 && (c < 0x80 || c > 0xBF) {
			break
		}
		n++
	}
	return n
}
