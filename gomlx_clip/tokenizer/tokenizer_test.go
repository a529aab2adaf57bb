package tokenizer

// Parity with the reference: every expected value comes from the golden folder
// (../shared/golden/tokenizer, made with CLIP's simple_tokenizer.py + ftfy 6.3.1).

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

func mustDefault(t testing.TB) *Tokenizer {
	t.Helper()
	tok, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func loadJSON(t testing.TB, rel string, v any) {
	t.Helper()
	data, err := os.ReadFile(goldens.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// goldenRows loads a [N,77] id file and the N strings it was made from.
func goldenRows(t testing.TB, stringsRel, idsRel string) ([]string, [][]int32) {
	t.Helper()
	var texts []string
	loadJSON(t, stringsRel, &texts)
	a := goldens.Load(t, idsRel)
	if len(a.Shape) != 2 || a.Shape[0] != len(texts) || a.Shape[1] != DefaultContextLength {
		t.Fatalf("%s: shape %v for %d strings", idsRel, a.Shape, len(texts))
	}
	rows := make([][]int32, len(texts))
	for i := range rows {
		rows[i] = a.I32[i*DefaultContextLength : (i+1)*DefaultContextLength]
	}
	return texts, rows
}

// checkRows tokenizes texts with truncation and compares every row.
func checkRows(t *testing.T, tok *Tokenizer, texts []string, want [][]int32) {
	t.Helper()
	got, err := tok.Tokenize(texts, DefaultContextLength, true)
	if err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			bad++
			if bad <= 5 {
				t.Errorf("row %d %q:\n got %v\nwant %v", i, texts[i], got[i], want[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d rows differ", bad, len(want))
	}
}

func TestVocabulary(t *testing.T) {
	tok := mustDefault(t)
	if tok.VocabSize() != 49408 || len(tok.encoder) != tok.VocabSize() {
		t.Fatalf("vocab size %d, %d distinct strings; want 49408", tok.VocabSize(), len(tok.encoder))
	}
	if tok.sot != SOT || tok.eot != EOT {
		t.Fatalf("specials %d %d, constants %d %d", tok.sot, tok.eot, SOT, EOT)
	}
	fromFile, err := FromBPEFile(goldens.Path(t, "bpe_simple_vocab_16e6.txt.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if !equalStrings(fromFile.decoder, tok.decoder) {
		t.Fatal("the embedded vocabulary differs from the golden bpe_simple_vocab_16e6.txt.gz")
	}
	// The same merges as a plain text file.
	zr, err := gzip.NewReader(bytes.NewReader(defaultVocabGz))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "bpe_simple_vocab_16e6.txt")
	if err := os.WriteFile(path, plain, 0o644); err != nil {
		t.Fatal(err)
	}
	fromTxt, err := FromBPEFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !equalStrings(fromTxt.decoder, tok.decoder) || len(fromTxt.merges) != len(tok.merges) {
		t.Fatal("the plain-text merges file gives another vocabulary")
	}
	if _, err := FromBPEFile(filepath.Join(t.TempDir(), "missing.txt.gz")); err == nil {
		t.Error("no error for a missing file")
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTrickyIDs(t *testing.T) {
	texts, want := goldenRows(t, "tokenizer/tricky_strings.json", "tokenizer/tricky_ids.int32.npy")
	checkRows(t, mustDefault(t), texts, want)
}

func TestPromptEnsembleIDs(t *testing.T) {
	texts, want := goldenRows(t, "tokenizer/prompt_ensemble_strings.json", "tokenizer/prompt_ensemble_ids.int32.npy")
	checkRows(t, mustDefault(t), texts, want)
}

func TestPromptExtraIDs(t *testing.T) {
	texts, want := goldenRows(t, "tokenizer/prompt_extra_strings.json", "tokenizer/prompt_extra_ids.int32.npy")
	checkRows(t, mustDefault(t), texts, want)
}

type trickyDetail struct {
	Text          string   `json:"text"`
	FTFY          string   `json:"ftfy_fix_text"`
	BasicClean    string   `json:"after_basic_clean"`
	CleanedLower  string   `json:"cleaned_lower"`
	BPETokens     []string `json:"bpe_tokens"`
	NTokens       int      `json:"n_tokens_with_sot_eot"`
	Truncated     bool     `json:"truncated"`
	NoTruncateErr *string  `json:"tokenize_without_truncate_error"`
}

// TestTrickyDetails checks every intermediate the reference recorded.
func TestTrickyDetails(t *testing.T) {
	tok := mustDefault(t)
	var details []trickyDetail
	loadJSON(t, "tokenizer/tricky_details.json", &details)
	if len(details) != 28 {
		t.Fatalf("%d tricky rows, want 28", len(details))
	}
	for i, d := range details {
		if got := fixText(d.Text); got != d.FTFY {
			t.Errorf("row %d ftfy.fix_text(%q) = %q, want %q", i, d.Text, got, d.FTFY)
		}
		if got := basicClean(d.Text); got != d.BasicClean {
			t.Errorf("row %d basic_clean(%q) = %q, want %q", i, d.Text, got, d.BasicClean)
		}
		if got := cleanText(d.Text); got != d.CleanedLower {
			t.Errorf("row %d cleaned+lower(%q) = %q, want %q", i, d.Text, got, d.CleanedLower)
		}
		ids := tok.Encode(d.Text)
		if d.BPETokens != nil || len(ids) == 0 { // the long rows do not list their tokens
			var got []string
			for _, id := range ids {
				got = append(got, tok.decoder[id])
			}
			if strings.Join(got, " ") != strings.Join(d.BPETokens, " ") || len(got) != len(d.BPETokens) {
				t.Errorf("row %d BPE tokens %q, want %q", i, got, d.BPETokens)
			}
		}
		if n := len(ids) + 2; n != d.NTokens || (n > DefaultContextLength) != d.Truncated {
			t.Errorf("row %d: %d tokens with SOT/EOT, want %d (truncated %v)", i, n, d.NTokens, d.Truncated)
		}
		_, err := tok.Tokenize([]string{d.Text}, DefaultContextLength, false)
		switch {
		case d.NoTruncateErr == nil && err != nil:
			t.Errorf("row %d: unexpected error %v", i, err)
		case d.NoTruncateErr != nil:
			var tl *TooLongError
			if !errors.As(err, &tl) {
				t.Errorf("row %d: error %v, want a *TooLongError like %q", i, err, *d.NoTruncateErr)
				continue
			}
			if tl.Text != d.Text || tl.Tokens != d.NTokens || tl.ContextLength != DefaultContextLength {
				t.Errorf("row %d: error fields %+v", i, tl)
			}
			// The reference says "Input <text> is too long for context length 77"; ours shortens
			// the text, so compare the start of the text and the tail.
			msg := err.Error()
			tail := strings.TrimPrefix(*d.NoTruncateErr, "Input "+d.Text)
			if !strings.Contains(msg, "Input "+d.Text[:40]) || !strings.Contains(msg, tail) {
				t.Errorf("row %d: error %q does not match %q", i, msg, *d.NoTruncateErr)
			}
		}
	}
}

// TestContextBoundary: row 26 has exactly 77 ids and must pass without truncation; row 27 must not.
func TestContextBoundary(t *testing.T) {
	tok := mustDefault(t)
	texts, want := goldenRows(t, "tokenizer/tricky_strings.json", "tokenizer/tricky_ids.int32.npy")
	rows, err := tok.Tokenize(texts[26:27], DefaultContextLength, false)
	if err != nil {
		t.Fatalf("row 26 (77 ids) without truncation: %v", err)
	}
	if !slices.Equal(rows[0], want[26]) {
		t.Errorf("row 26: got %v want %v", rows[0], want[26])
	}
	if _, err := tok.Tokenize(texts[26:28], DefaultContextLength, false); err == nil {
		t.Error("row 27 (103 ids) without truncation: no error")
	} else if tl := (*TooLongError)(nil); !errors.As(err, &tl) || tl.Index != 1 {
		t.Errorf("row 27: error %v, want a *TooLongError for text 1", err)
	}
}

func TestTokenizeArguments(t *testing.T) {
	tok := mustDefault(t)
	if _, err := tok.Tokenize(nil, DefaultContextLength, true); err == nil {
		t.Error("no error for an empty batch")
	}
	if _, err := tok.Tokenize([]string{"a"}, 1, true); err == nil {
		t.Error("no error for context length 1")
	}
	rows, err := tok.Tokenize([]string{"", "a photo of a dog."}, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if len(r) != 2 || r[0] != SOT || r[1] != EOT {
			t.Errorf("row %d with context 2: %v", i, r)
		}
	}
}

// TestDecode: decoding the golden rows gives the cleaned text back (SOT/EOT and padding aside).
func TestDecode(t *testing.T) {
	tok := mustDefault(t)
	var details []trickyDetail
	loadJSON(t, "tokenizer/tricky_details.json", &details)
	for i, d := range details[:26] {
		got := strings.TrimSpace(tok.Decode(tok.Encode(d.Text)))
		want := d.CleanedLower
		// BPE pieces lose the spaces between them; compare without spaces.
		if strings.ReplaceAll(got, " ", "") != strings.ReplaceAll(want, " ", "") {
			t.Errorf("row %d: Decode gives %q, cleaned text %q", i, got, want)
		}
	}
}

// TestDoubleUnescape: basic_clean calls html.unescape twice after ftfy (README quirk Q9). When the
// text has a '<', ftfy leaves entities alone, so the two calls are all there is: "&amp;amp;" must
// end up like "&amp;" and like "&".
func TestDoubleUnescape(t *testing.T) {
	tok := mustDefault(t)
	a := tok.Encode("x < y &amp;amp; z")
	b := tok.Encode("x < y &amp; z")
	c := tok.Encode("x < y & z")
	if !slices.Equal(a, b) || !slices.Equal(b, c) {
		t.Errorf("&amp;amp; %v, &amp; %v, & %v: want all equal", a, b, c)
	}
	// Three levels are one too many for the two calls.
	if d := tok.Encode("x < y &amp;amp;amp; z"); slices.Equal(d, c) {
		t.Errorf("&amp;amp;amp; decoded fully (%v): html.unescape ran more than twice", d)
	}
}
