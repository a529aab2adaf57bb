package surgery

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
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
	e := goldenExplainer(t, "vit16")
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
