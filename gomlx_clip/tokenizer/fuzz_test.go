package tokenizer

import (
	"errors"
	"slices"
	"testing"
	"unicode/utf8"
)

// FuzzTokenize checks the invariants of Tokenize on arbitrary input (any bytes, any context
// length): no panic, every row [SOT ... EOT 0...] of the asked length, ids inside the vocabulary,
// the same ids twice (the cache changes nothing), and the error without truncation exactly when
// the text does not fit. The seed corpus is in testdata/fuzz/FuzzTokenize.
func FuzzTokenize(f *testing.F) {
	tok, err := Default()
	if err != nil {
		f.Fatal(err)
	}
	f.Add("a photo of a dog.", 77)
	f.Add("cafÃ© &amp;amp; ﬁne ＦＵＬＬ İstanbul ΟΔΟΣ", 16)
	f.Fuzz(func(t *testing.T, text string, ctx int) {
		if len(text) > 4096 {
			return // keep each run fast; long inputs add nothing new
		}
		ctx = 2 + abs(ctx)%100
		ids := tok.Encode(text)
		if again := tok.Encode(text); !slices.Equal(ids, again) {
			t.Fatalf("Encode(%q) not deterministic: %v then %v", text, ids, again)
		}
		for _, id := range ids {
			if id < 0 || int(id) >= tok.VocabSize() {
				t.Fatalf("Encode(%q): id %d outside the vocabulary", text, id)
			}
		}
		rows, err := tok.Tokenize([]string{text}, ctx, true)
		if err != nil {
			t.Fatalf("Tokenize(%q, %d, true): %v", text, ctx, err)
		}
		row := rows[0]
		n := min(len(ids)+2, ctx)
		if len(row) != ctx || row[0] != SOT || row[n-1] != EOT {
			t.Fatalf("Tokenize(%q, %d): bad row %v", text, ctx, row)
		}
		for i, id := range row {
			switch {
			case id < 0 || int(id) >= tok.VocabSize():
				t.Fatalf("Tokenize(%q): id %d outside the vocabulary", text, id)
			case i >= n && id != 0:
				t.Fatalf("Tokenize(%q, %d): padding not zero: %v", text, ctx, row)
			case i > 0 && i < n-1 && id != ids[i-1]:
				t.Fatalf("Tokenize(%q, %d): row %v does not hold the ids %v", text, ctx, row, ids)
			}
		}
		_, err = tok.Tokenize([]string{text}, ctx, false)
		var tl *TooLongError
		if fits := len(ids)+2 <= ctx; fits != (err == nil) || !fits && !errors.As(err, &tl) {
			t.Fatalf("Tokenize(%q, %d, false): %d ids, error %v", text, ctx, len(ids), err)
		}
		if d := tok.Decode(row); !utf8.ValidString(d) {
			t.Fatalf("Decode gives invalid UTF-8 %q", d)
		}
	})
}

func abs(x int) int {
	if x < 0 {
		if x == -x { // math.MinInt
			return 0
		}
		return -x
	}
	return x
}
