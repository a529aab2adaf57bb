package tokenizer

// Parity with open_clip's SimpleTokenizer (../shared/golden/openclip/text, made with open_clip
// v3.3.0's get_tokenizer on a local hub folder; see that folder's README §5).

import (
	"errors"
	"slices"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

type openCLIPTexts struct {
	Texts   []string  `json:"texts"`
	BPE     [][]int32 `json:"bpe"`
	Cleaned []string  `json:"cleaned"`
}

func TestOpenCLIPTokensMatchGolden(t *testing.T) {
	var g openCLIPTexts
	loadJSON(t, "openclip/text/texts.json", &g)
	want := goldens.Load(t, "openclip/text/tokens.i32.npy")
	tok, err := DefaultFor(OpenCLIP)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Convention() != OpenCLIP || !tok.Convention().Truncates() {
		t.Fatalf("DefaultFor(OpenCLIP) has convention %v", tok.Convention())
	}
	for i, text := range g.Texts {
		if got := tok.Encode(text); !slices.Equal(got, g.BPE[i]) && len(got)+len(g.BPE[i]) > 0 {
			t.Errorf("text %d %q: encode\n got %v\nwant %v", i, text, got, g.BPE[i])
		}
	}
	rows, err := tok.Tokenize(g.Texts, DefaultContextLength, tok.Convention().Truncates())
	if err != nil {
		t.Fatal(err)
	}
	if len(want.Shape) != 2 || want.Shape[0] != len(rows) || want.Shape[1] != DefaultContextLength {
		t.Fatalf("golden tokens have shape %v for %d texts", want.Shape, len(rows))
	}
	for i, row := range rows {
		if w := want.I32[i*DefaultContextLength : (i+1)*DefaultContextLength]; !slices.Equal(row, w) {
			t.Errorf("text %d %q: ids\n got %v\nwant %v", i, g.Texts[i], row, w)
		}
	}
}

// The conventions differ exactly where the README says: which spelling is special, and what a
// text too long for the context becomes.
func TestConventionsDiffer(t *testing.T) {
	openai := mustDefault(t)
	oc := openai.WithConvention(OpenCLIP)
	if openai.Convention() != OpenAI || oc.WithConvention(OpenAI).Convention() != OpenAI {
		t.Fatal("WithConvention does not set the convention")
	}
	for _, c := range []struct {
		text          string
		openai, openc bool // does the text hold a special id under each convention?
	}{
		{"x <|endoftext|> y", true, false},
		{"x <|startoftext|> y", true, false},
		{"x <end_of_text> y", false, true},
		{"x <START_OF_TEXT> y", false, true}, // lower-cased before the split, as both references do
		{"plain words", false, false},
	} {
		hasSpecial := func(ids []int32) bool { return slices.Contains(ids, SOT) || slices.Contains(ids, EOT) }
		if got := hasSpecial(openai.Encode(c.text)); got != c.openai {
			t.Errorf("OpenAI %q: special id %v, want %v", c.text, got, c.openai)
		}
		if got := hasSpecial(oc.Encode(c.text)); got != c.openc {
			t.Errorf("OpenCLIP %q: special id %v, want %v", c.text, got, c.openc)
		}
	}
	if got := oc.Decode([]int32{SOT, 320, EOT}); got != "<start_of_text>a <end_of_text>" {
		t.Errorf("OpenCLIP decode: %q", got)
	}
	if got := openai.Decode([]int32{SOT, 320, EOT}); got != "<|startoftext|>a <|endoftext|>" {
		t.Errorf("OpenAI decode: %q", got)
	}
	long := ""
	for range 100 {
		long += "dog "
	}
	var tooLong *TooLongError
	if _, err := openai.Tokenize([]string{long}, DefaultContextLength, openai.Convention().Truncates()); !errors.As(err, &tooLong) {
		t.Errorf("OpenAI convention: a 102-token text gave %v, want TooLongError", err)
	}
	rows, err := oc.Tokenize([]string{long}, DefaultContextLength, oc.Convention().Truncates())
	if err != nil || rows[0][0] != SOT || rows[0][DefaultContextLength-1] != EOT || rows[0][DefaultContextLength-2] == EOT {
		t.Errorf("OpenCLIP convention: %v, %v", rows, err)
	}
}
