package clip_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
)

// TestConcurrentEncode: many goroutines on one loaded Model — images at two sizes, with and without
// architecture surgery, and texts — give bit-for-bit the results of sequential calls, including
// while the executables for a new shape are being compiled (the first calls race on the cache).
func TestConcurrentEncode(t *testing.T) {
	ts, _ := tiny(t)
	m, err := clip.NewModel(ts, nil) // a fresh model: its executable cache starts empty
	if err != nil {
		t.Fatal(err)
	}
	type job struct {
		size  int
		opt   clip.ImageOptions
		texts []string
	}
	jobs := []job{
		{size: 224, opt: clip.SurgeryOptions()},
		{size: 160, opt: clip.SurgeryOptions()},
		{size: 224, opt: clip.ImageOptions{Method: clip.MethodRaw}},
		{texts: []string{"a photo of a dog.", "a cat"}},
		{texts: []string{"", "person+bench", "a very long description of a small red car parked on the street"}},
	}
	pixels := map[int][]float32{}
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{224, 160} {
		p := make([]float32, 3*n*n)
		for i := range p {
			p[i] = float32(r.NormFloat64())
		}
		pixels[n] = p
	}
	run := func(j job) (*clip.Features, error) {
		if j.texts != nil {
			return m.EncodeText(j.texts)
		}
		return m.EncodeImage(pixels[j.size], 1, j.size, j.size, j.opt)
	}

	const rounds = 4
	got := make([]*clip.Features, rounds*len(jobs))
	errs := make([]error, len(got))
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got[i], errs[i] = run(jobs[i%len(jobs)])
		}(i)
	}
	wg.Wait()

	for k, j := range jobs { // sequential reference, now with warm caches
		want, err := run(j)
		if err != nil {
			t.Fatal(err)
		}
		for i := k; i < len(got); i += len(jobs) {
			if errs[i] != nil {
				t.Fatalf("goroutine %d: %v", i, errs[i])
			}
			if d := diff(got[i], want); d != "" {
				t.Errorf("goroutine %d (job %d): %s", i, k, d)
			}
		}
	}
	// Sanity: the jobs really differ (a model returning one constant would pass the above).
	a, _ := run(jobs[0])
	b, _ := run(jobs[2])
	if diff(a, b) == "" {
		t.Error("surgery and plain encodings are identical")
	}
}

func diff(a, b *clip.Features) string {
	if fmt.Sprint(a.Shape) != fmt.Sprint(b.Shape) {
		return fmt.Sprintf("shape %v vs %v", a.Shape, b.Shape)
	}
	for i := range a.Data {
		if math.Float32bits(a.Data[i]) != math.Float32bits(b.Data[i]) {
			return fmt.Sprintf("value %d: %v vs %v", i, a.Data[i], b.Data[i])
		}
	}
	return ""
}
