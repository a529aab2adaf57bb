package tokenizer

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// tinyHFVocab is a valid minimal Hugging Face vocabulary: the 512 byte symbols, two merges and
// the special tokens, as vocab.json and merges.txt bytes.
func tinyHFVocab(tb testing.TB) (vocab, merges []byte) {
	v := map[string]int32{}
	for i, s := range byteVocabOrder() {
		v[s] = int32(i)
		v[s+"</w>"] = int32(256 + i)
	}
	v["ca"], v["cat</w>"] = 512, 513
	v["<|startoftext|>"], v["<|endoftext|>"] = 514, 515
	vocab, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return vocab, []byte("#version: 0.2\nc a\nca t</w>\n")
}

// FuzzFromHF feeds arbitrary vocab.json and merges.txt to FromHF: a tokenizer or an error, never a
// panic or a huge allocation (ids come from the file); a tokenizer it accepts must encode text
// with ids inside its vocabulary.
func FuzzFromHF(f *testing.F) {
	vocab, merges := tinyHFVocab(f)
	f.Add(vocab, merges)
	f.Add([]byte(`{"a":2147483647}`), []byte("a b\n"))
	f.Add([]byte(`{"a":-1}`), []byte(""))
	f.Fuzz(func(t *testing.T, vocab, merges []byte) {
		tok, err := FromHF(bytes.NewReader(vocab), bytes.NewReader(merges))
		if err != nil {
			if tok != nil {
				t.Fatalf("tokenizer and error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "tokenizer: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		if tok.VocabSize() > len(vocab) {
			t.Fatalf("vocabulary of %d ids from a %d-byte vocab.json", tok.VocabSize(), len(vocab))
		}
		for _, text := range []string{"a cat.", "hello world", string(merges[:min(len(merges), 64)])} {
			rows, err := tok.Tokenize([]string{text}, 77, true)
			if err != nil {
				t.Fatalf("Tokenize(%q): %v", text, err)
			}
			for _, id := range rows[0] {
				if id < 0 || int(id) >= tok.VocabSize() {
					t.Fatalf("Tokenize(%q): id %d outside the vocabulary of %d", text, id, tok.VocabSize())
				}
			}
			if d := tok.Decode(rows[0]); !utf8.ValidString(d) {
				t.Fatalf("Decode gives invalid UTF-8 %q", d)
			}
		}
	})
}
