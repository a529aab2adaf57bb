package evaluate

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// A preset's images evaluated one at a time and merged (through MarshalState) give Run's report,
// the preset included; reports of another preset or of none do not merge.
func TestEvaluatorMergeProtocol(t *testing.T) {
	ex := tinyExplainer(t)
	ds := voc21Benchmark(t)
	p, err := LookupProtocol("sclip", "voc21")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Protocol: &p, WindowBatch: 2}
	rep, err := Run(context.Background(), ex, ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := reportJSON(t, rep)
	ev, err := NewEvaluator(ex, ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := ev.Empty()
	for i := len(ev.Items()) - 1; i >= 0; i-- { // the other order
		r, err := ev.Image(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		var back Report
		if err := back.UnmarshalState(b); err != nil {
			t.Fatal(err)
		}
		if err := got.Merge(&back); err != nil {
			t.Fatal(err)
		}
	}
	got.Finish()
	if got.Protocol == nil || got.Protocol.Peer != p.Peer || got.Evaluated != 2 {
		t.Fatalf("merged: protocol %v, %d evaluated", got.Protocol, got.Evaluated)
	}
	if g := reportJSON(t, got); !bytes.Equal(g, want) {
		t.Fatalf("merged report differs from Run's:\n%s\nwant\n%s", g, want)
	}
	other := ev.Empty()
	q := p
	q.ProbThd += 0.1
	other.Protocol = &q
	if err := ev.Empty().Merge(other); !errors.Is(err, ErrMerge) {
		t.Errorf("merging another preset: %v, want ErrMerge", err)
	}
	other.Protocol = nil
	if err := ev.Empty().Merge(other); !errors.Is(err, ErrMerge) {
		t.Errorf("merging a report without a preset: %v, want ErrMerge", err)
	}
}
