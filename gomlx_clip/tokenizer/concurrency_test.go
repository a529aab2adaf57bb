package tokenizer

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// TestConcurrentTokenize: many goroutines share one tokenizer with a cold cache, each going
// through the prompts in its own order; every row must still be the golden one. Run with -race.
func TestConcurrentTokenize(t *testing.T) {
	texts, want := goldenRows(t, "tokenizer/prompt_ensemble_strings.json", "tokenizer/prompt_ensemble_ids.int32.npy")
	tok, err := fromMergesData(defaultVocabGz) // fresh: empty cache
	if err != nil {
		t.Fatal(err)
	}
	const workers = 8
	step := len(texts) / 4
	if testing.Short() || raceEnabled {
		step = len(texts) / 10 // the race detector is slow; a share of the rows is enough
	}
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range step {
				i := (w*977 + k*31) % len(texts) // a different walk per worker
				rows, err := tok.Tokenize(texts[i:i+1], DefaultContextLength, true)
				if err != nil || !slices.Equal(rows[0], want[i]) {
					errs <- texts[i]
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("concurrent tokenize differs for %q", e)
	}
}

// TestEnsembleSpeed: the 5015 prompt-ensemble texts, cache cold, well under 100 ms.
func TestEnsembleSpeed(t *testing.T) {
	texts, _ := goldenRows(t, "tokenizer/prompt_ensemble_strings.json", "tokenizer/prompt_ensemble_ids.int32.npy")
	tok, err := fromMergesData(defaultVocabGz)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := tok.Tokenize(texts, DefaultContextLength, true); err != nil {
		t.Fatal(err)
	}
	cold := time.Since(start)
	start = time.Now()
	if _, err := tok.Tokenize(texts, DefaultContextLength, true); err != nil {
		t.Fatal(err)
	}
	warm := time.Since(start)
	t.Logf("5015 prompts: %v with a cold cache, %v warm", cold, warm)
	if !raceEnabled && cold > 100*time.Millisecond {
		t.Errorf("tokenizing the ensemble took %v, want < 100ms", cold)
	}
}

func BenchmarkEnsemble(b *testing.B) {
	texts, _ := goldenRows(b, "tokenizer/prompt_ensemble_strings.json", "tokenizer/prompt_ensemble_ids.int32.npy")
	tok := mustDefault(b)
	for b.Loop() {
		if _, err := tok.Tokenize(texts, DefaultContextLength, true); err != nil {
			b.Fatal(err)
		}
	}
}
