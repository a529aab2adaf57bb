package tokenizer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// hfFilesFromGz writes what Hugging Face's CLIPTokenizer ships (vocab.json, merges.txt) for the
// OpenAI merges file, built here independently of the package's own parser: HF's vocab.json maps
// every token to its id, and merges.txt is a "#version" header plus the 48894 used merges.
func hfFilesFromGz(t *testing.T) (vocabJSON, mergesTXT []byte) {
	t.Helper()
	f, err := os.Open(goldens.Path(t, "bpe_simple_vocab_16e6.txt.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")[1 : 1+48894]

	// bytes_to_unicode, written out again: printable Latin-1 first, the rest from U+0100.
	var byteChars []string
	var rest []int
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE {
			byteChars = append(byteChars, string(rune(b)))
		} else {
			rest = append(rest, b)
		}
	}
	for n := range rest {
		byteChars = append(byteChars, string(rune(256+n)))
	}
	vocab := map[string]int{}
	add := func(s string) { vocab[s] = len(vocab) }
	for _, c := range byteChars {
		add(c)
	}
	for _, c := range byteChars {
		add(c + "</w>")
	}
	for _, l := range lines {
		add(strings.ReplaceAll(l, " ", ""))
	}
	add("<|startoftext|>")
	add("<|endoftext|>")
	if len(vocab) != 49408 {
		t.Fatalf("built %d vocabulary entries, want 49408", len(vocab))
	}
	vocabJSON, err = json.Marshal(vocab)
	if err != nil {
		t.Fatal(err)
	}
	mergesTXT = []byte("#version: 0.2\n" + strings.Join(lines, "\n") + "\n")
	return vocabJSON, mergesTXT
}

// TestFromHF: the Hugging Face files of the same vocabulary give the golden ids.
func TestFromHF(t *testing.T) {
	vocabJSON, mergesTXT := hfFilesFromGz(t)
	hf, err := FromHF(bytes.NewReader(vocabJSON), bytes.NewReader(mergesTXT))
	if err != nil {
		t.Fatal(err)
	}
	if hf.VocabSize() != 49408 || hf.SOTID() != SOT || hf.EOTID() != EOT {
		t.Fatalf("vocab %d, SOT %d, EOT %d", hf.VocabSize(), hf.SOTID(), hf.EOTID())
	}
	for _, g := range [][2]string{
		{"tokenizer/tricky_strings.json", "tokenizer/tricky_ids.int32.npy"},
		{"tokenizer/prompt_ensemble_strings.json", "tokenizer/prompt_ensemble_ids.int32.npy"},
		{"tokenizer/prompt_extra_strings.json", "tokenizer/prompt_extra_ids.int32.npy"},
	} {
		texts, want := goldenRows(t, g[0], g[1])
		checkRows(t, hf, texts, want)
	}
}

func TestFromHFErrors(t *testing.T) {
	vocabJSON, mergesTXT := hfFilesFromGz(t)
	if _, err := FromHF(strings.NewReader("{"), bytes.NewReader(mergesTXT)); err == nil {
		t.Error("no error for broken vocab.json")
	}
	if _, err := FromHF(bytes.NewReader(vocabJSON), strings.NewReader("#version: 0.2\na b c\n")); err == nil {
		t.Error("no error for a merge line with three symbols")
	}
	if _, err := FromHF(strings.NewReader(`{"a": 0}`), bytes.NewReader(mergesTXT)); err == nil {
		t.Error("no error for a vocabulary without the byte symbols")
	}
}
