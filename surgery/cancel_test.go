package surgery

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
)

// doneAfter is a context that reports itself cancelled from its n-th Err call on: a deterministic
// way to cancel inside a long step (here: between the prompt ensemble's encoder calls).
type doneAfter struct {
	context.Context
	n, calls atomic.Int64
}

func (c *doneAfter) Err() error {
	if c.calls.Add(1) >= c.n.Load() {
		return context.Canceled
	}
	return nil
}

func (c *doneAfter) Done() <-chan struct{} { return nil }

// ExplainPixelsContext and TextFeaturesContext stop with the context's error: before any work
// when it is already done, and between encoder calls of the prompt ensemble when it is cancelled
// during it. A cancelled encoding is not cached.
func TestExplainCancel(t *testing.T) {
	// Its own, empty text cache: the prompts below must go through the encoder, whatever earlier
	// tests stored.
	cache, err := clip.OpenTextCache(clip.TextCacheOptions{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewExplainerWith(goldenExplainer(t, "vit16").Model(), ExplainerOptions{TextCache: cache})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.ExplainPixelsContext(cancelled, demoPixels(t), []string{"dog"}, Options{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled before: err %v", err)
	}
	texts := []string{"a cancelled label set", "of two labels"}
	for _, n := range []int64{1, 2} { // before the first encoder call, between two of them
		ctx := &doneAfter{Context: context.Background()}
		ctx.n.Store(n)
		_, err := e.TextFeaturesContext(ctx, texts, nil)
		t.Logf("cancelled at check %d of the context: %v", ctx.calls.Load(), err)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled after %d checks: err %v", n, err)
		}
	}
	done := make(chan error, 1)
	go func() { _, err := e.TextFeaturesContext(context.Background(), texts, nil); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after cancelled encodings: %v", err)
		}
	case <-time.After(5 * time.Minute):
		t.Fatal("a cancelled encoding left its cache entry blocking")
	}
}
