package clip

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/npy"
)

func sameBits(t *testing.T, what string, got, want *Features) {
	t.Helper()
	if len(got.Data) != len(want.Data) {
		t.Fatalf("%s: %d values, want %d", what, len(got.Data), len(want.Data))
	}
	for i := range got.Data {
		if got.Data[i] != want.Data[i] {
			t.Fatalf("%s: value %d is %v, computing gives %v", what, i, got.Data[i], want.Data[i])
		}
	}
}

// The cache gives the features computing gives, bit for bit: cold (filling it), warm (reading
// every row), from another model handle of the same file, and through a damaged entry.
func TestTextCacheBitIdentical(t *testing.T) {
	m, err := LoadFile(goldens.Path(t, "models", "vit16.openai.safetensors"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	classes := []string{"person", "bench", "shoes", ""}
	templates := DefaultTemplates()[:20]
	want, err := m.EncodeTextWithPromptEnsemble(classes, templates)
	if err != nil {
		t.Fatal(err)
	}
	var warn bytes.Buffer
	c, err := OpenTextCache(TextCacheOptions{Root: t.TempDir(), Warn: &warn})
	if err != nil {
		t.Fatal(err)
	}
	cold, err := m.EncodeTextWithPromptEnsembleCached(context.Background(), classes, templates, c)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "cold cache", cold, want)
	st, _ := c.Stats()
	if st.Entries != len(classes)*len(templates) {
		t.Fatalf("%d entries stored, want one per prompt (%d)", st.Entries, len(classes)*len(templates))
	}

	// A fresh model of the same file: the digest comes from the remembered file identity.
	m2, err := LoadFile(goldens.Path(t, "models", "vit16.openai.safetensors"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if w, ok := c.store.FileDigest(m2.sources); !ok || w != m.hashTextTower() {
		t.Fatal("the weights' digest was not remembered for the file")
	}
	if m2.TextWeightsDigest(c) != m.TextWeightsDigest(nil) {
		t.Fatal("the digest from the remembered weights' digest differs from the one computed")
	}
	warm, err := m2.EncodeTextWithPromptEnsembleCached(context.Background(), classes, templates, c)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "warm cache", warm, want)

	// Damage some entries so that using them would be far off: they are recomputed, never used.
	// The recomputed rows come from a smaller packing than the first encoding, which may move
	// their last bits (as encoding a different class list does without a cache): hence a tolerance.
	files, _ := filepath.Glob(filepath.Join(c.Dir(), "v1", "*", "*.emb"))
	for i, f := range files[:6] {
		b, _ := os.ReadFile(f)
		if i%2 == 0 {
			b = b[:len(b)/2]
		} else {
			for j := 44 + 3; j < len(b)-4; j += 4 {
				b[j] ^= 0x40 // the exponent of every value
			}
		}
		os.WriteFile(f, b, 0o644)
	}
	again, err := m2.EncodeTextWithPromptEnsembleCached(context.Background(), classes, templates, c)
	if err != nil {
		t.Fatal(err)
	}
	goldens.AssertClose(t, "after damaged entries", again.Data, again.Shape, &npy.Array{Shape: want.Shape, F32: want.Data}, 1e-6, 0)
	if st, _ := c.Stats(); st.Entries != len(classes)*len(templates) {
		t.Fatalf("%d entries after recomputing damaged ones, want %d", st.Entries, len(classes)*len(templates))
	}
	rewritten, err := m2.EncodeTextWithPromptEnsembleCached(context.Background(), classes, templates, c)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "rewritten entries", rewritten, again)
	if warn.Len() != 0 {
		t.Fatalf("unexpected warning: %s", warn.String())
	}
}

// A class list met in parts: rows read from the cache and rows encoded now assemble to the
// ensemble of the rows, within the tolerance the golden parity allows (an encoding's packing can
// move the last bits of a row; the cache keeps the first encoding's).
func TestTextCachePartialHits(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	c, err := OpenTextCache(TextCacheOptions{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	templates := DefaultTemplates()[:12]
	if _, err := m.EncodeTextWithPromptEnsembleCached(context.Background(), []string{"bench", "dog"}, templates, c); err != nil {
		t.Fatal(err)
	}
	classes := []string{"person", "bench", "shoes", "dog"}
	got, err := m.EncodeTextWithPromptEnsembleCached(context.Background(), classes, append([]string{"a {} at night."}, templates...), c)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.EncodeTextWithPromptEnsemble(classes, append([]string{"a {} at night."}, templates...))
	if err != nil {
		t.Fatal(err)
	}
	goldens.AssertClose(t, "partly cached ensemble", got.Data, got.Shape, &npy.Array{Shape: want.Shape, F32: want.Data}, 1e-6, 0)
	if st, _ := c.Stats(); st.Entries != 4*13 {
		t.Fatalf("%d entries, want %d: every prompt once", st.Entries, 4*13)
	}
}

// A cache folder that cannot be written: one warning, the right features.
func TestTextCacheUnwritable(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	parent := filepath.Join(t.TempDir(), "file")
	os.WriteFile(parent, nil, 0o644)
	var warn bytes.Buffer
	c, err := OpenTextCache(TextCacheOptions{Root: parent, Warn: &warn})
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.EncodeTextWithPromptEnsemble([]string{"bench"}, DefaultTemplates()[:4])
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		got, err := m.EncodeTextWithPromptEnsembleCached(context.Background(), []string{"bench"}, DefaultTemplates()[:4], c)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "unwritable cache", got, want)
	}
	if strings.Count(warn.String(), "warning:") != 1 {
		t.Fatalf("want one warning, got %q", warn.String())
	}
}

func TestTextCacheDisabledByEnv(t *testing.T) {
	for v, off := range map[string]bool{"0": true, "off": true, "false": true, "1": false, "": false} {
		t.Setenv(EnvTextCache, v)
		if TextCacheDisabled() != off || (DefaultTextCache(t.TempDir(), nil) == nil) != off {
			t.Errorf("%s=%q: disabled=%v, want %v", EnvTextCache, v, TextCacheDisabled(), off)
		}
	}
}

// The digest is remembered for the file as it was when read: a file changed after loading (a new
// download in its place) is never matched with the old weights' digest.
func TestTextWeightsDigestFileChangedAfterLoad(t *testing.T) {
	data, err := os.ReadFile(goldens.Path(t, "models", "vit16.openai.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "w.safetensors")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := OpenTextCache(TextCacheOptions{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	m1, err := LoadFile(f, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(f, later, later); err != nil { // replaced after the load, before the digest
		t.Fatal(err)
	}
	m1.TextWeightsDigest(c)
	m2, err := LoadFile(f, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.store.FileDigest(m2.sources); ok {
		t.Fatal("the changed file matched the digest remembered for its former contents")
	}
	if _, ok := c.store.FileDigest(m1.sources); !ok {
		t.Fatal("the digest was not remembered for the file as loaded")
	}
}
