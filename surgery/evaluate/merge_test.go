package evaluate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
)

// Sums of values of very different magnitudes, added in other orders, give one exactSum; plain
// float64 addition gives several (the reason exactSum exists).
func TestExactSumOrderFree(t *testing.T) {
	vals := []float64{1e16, 1, -1e16, 1e-3, 3.5, -2.25e-10, 0.1, 0.2, 0.3, -0.6, 7e300, -7e300, math.SmallestNonzeroFloat64}
	var want exactSum
	for _, v := range vals {
		want.add(v)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	plain := map[float64]bool{}
	for range 50 {
		rng.Shuffle(len(vals), func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
		// Two halves summed apart, then merged, as two workers would.
		var a, b exactSum
		p := 0.0
		for i, v := range vals {
			if i%2 == 0 {
				a.add(v)
			} else {
				b.add(v)
			}
			p += v
		}
		plain[p] = true
		b.merge(a)
		if b.value() != want.value() {
			t.Fatalf("merged sum %v, want %v", b.value(), want.value())
		}
	}
	if exact := 1 + 1e-3 + 3.5 - 2.25e-10 + 0.1 + 0.2 + 0.3 - 0.6; math.Abs(want.value()-exact) > 1e-15 {
		t.Errorf("sum %v, want about %v", want.value(), exact)
	}
	if len(plain) < 2 {
		t.Errorf("plain float64 sums all equal (%v): the test values do not exercise rounding", plain)
	}
	text, err := want.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var back exactSum
	if err := back.UnmarshalText(text); err != nil || back.f.Cmp(want.f) != 0 {
		t.Errorf("text round trip %s: %v, %v", text, back.value(), err)
	}
}

// Images evaluated one at a time (Evaluator.Image), shipped as bytes (MarshalState) and merged in
// any order give Run's report: the same JSON but for the timings.
func TestEvaluatorMergeEqualsRun(t *testing.T) {
	ex := tinyExplainer(t)
	dir := t.TempDir()
	if err := WriteSynthetic(dir, LayoutVOC, 5); err != nil {
		t.Fatal(err)
	}
	// One image that cannot be decoded: a counted skip in both.
	if err := os.WriteFile(filepath.Join(dir, "JPEGImages", "synth_002.jpg"), []byte("not a jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(dir, DatasetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Methods: []clip.Method{clip.MethodSurgery, clip.MethodRaw}, Model: ModelOptions{Templates: testTemplates}}
	rep, err := Run(context.Background(), ex, ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := reportJSON(t, rep)
	ev, err := NewEvaluator(ex, ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var parts [][]byte
	for i := range ev.Items() {
		r, err := ev.Image(context.Background(), i)
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, b)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 4 {
		rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		// Two partial accumulators, as two workers' bundles, merged at the end.
		acc := [2]*Report{ev.Empty(), ev.Empty()}
		for i, b := range parts {
			var r Report
			if err := r.UnmarshalState(b); err != nil {
				t.Fatal(err)
			}
			if err := acc[i%2].Merge(&r); err != nil {
				t.Fatal(err)
			}
		}
		if err := acc[trial%2].Merge(acc[1-trial%2]); err != nil {
			t.Fatal(err)
		}
		got := acc[trial%2]
		got.Finish()
		if got.Evaluated != 4 || got.SkipCount != 1 || got.Skips[0].ID != "synth_002" {
			t.Fatalf("merged: %d evaluated, %d skipped %v", got.Evaluated, got.SkipCount, got.Skips)
		}
		if g := reportJSON(t, got); !bytes.Equal(g, want) {
			t.Fatalf("trial %d: merged report differs from Run's:\n%s\nwant\n%s", trial, g, want)
		}
	}
	other := ev.Empty()
	other.Methods = other.Methods[:1]
	if err := ev.Empty().Merge(other); !errors.Is(err, ErrMerge) {
		t.Errorf("merging reports of other methods: %v, want ErrMerge", err)
	}
	if err := new(Report).UnmarshalState([]byte(`{"classes":[{"Names":["a"]}],"methods":[{"method":"raw","areas":{"Intersect":[1,2]}}]}`)); err == nil {
		t.Error("a state whose sizes disagree was accepted")
	}
}

// reportJSON is the report's JSON without the timings.
func reportJSON(t *testing.T, r *Report) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "seconds")
	delete(m, "text_seconds")
	for _, x := range m["methods"].([]any) {
		delete(x.(map[string]any), "seconds")
		delete(x.(map[string]any), "images_per_second")
	}
	out, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}
