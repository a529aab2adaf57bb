package sam

import (
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/bilinear"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/weights"
)

// End to end from the stored RGB arrays: SetImage (part of the image encoder's parity) then
// Predict for every prompt set of the image, against the stored predict outputs.
func TestPredictFromRGBGolden(t *testing.T) {
	m := loadTiny(t)
	for _, image := range []string{"demo", "crop"} {
		p := NewPredictor(m)
		if err := p.SetImage(goldenRGB(t, image)); err != nil {
			t.Fatal(err)
		}
		for _, g := range goldenPromptSets {
			if g.image != image {
				continue
			}
			t.Run(g.String(), func(t *testing.T) {
				pr := g.prompt(t)
				res, err := p.Predict(pr.Points, pr.Box, pr.MaskInput, pr.Multimask)
				if err != nil {
					t.Fatal(err)
				}
				checkPrediction(t, g, res)
			})
		}
	}
}

// Bad prompts come back as errors naming the problem, before anything runs.
func TestPredictBadInput(t *testing.T) {
	m := loadTiny(t)
	p := NewPredictor(m)
	one := []Point{{X: 10, Y: 10, Label: 1}}
	if _, err := p.Predict(one, nil, nil, true); !errors.Is(err, ErrNoImage) {
		t.Errorf("predict before SetImage: %v, want ErrNoImage", err)
	}
	p.SetEmbedding(goldenEmbedding(t, "demo")) // 375×500
	s := m.Config.MaskInputSize()
	for _, c := range []struct {
		name   string
		points []Point
		box    *[4]float64
		mask   []float32
		want   string
	}{
		{"no prompt", nil, nil, nil, "no prompt"},
		{"mask only", nil, nil, make([]float32, s*s), "no prompt"},
		{"x outside", []Point{{X: 501, Y: 10, Label: 1}}, nil, nil, "outside the 500×375 image"},
		{"y negative", []Point{{X: 10, Y: -1, Label: 1}}, nil, nil, "outside"},
		{"NaN point", []Point{{X: math.NaN(), Y: 1, Label: 1}}, nil, nil, "outside"},
		{"label 2", []Point{{X: 10, Y: 10, Label: 2}}, nil, nil, "label 2"},
		{"label -2", []Point{{X: 10, Y: 10, Label: -2}}, nil, nil, "label -2"},
		{"box outside", nil, &[4]float64{0, 0, 600, 10}, nil, "box corner"},
		{"box reversed", nil, &[4]float64{50, 50, 10, 60}, nil, "x0 ≤ x1"},
		{"mask size", one, nil, make([]float32, 64*64), "mask input has 4096 values, want 256×256"},
		{"mask NaN", one, nil, append(make([]float32, s*s-1), float32(math.NaN())), "is NaN"},
	} {
		_, err := p.Predict(c.points, c.box, c.mask, true)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}

	// A malformed embedding is an error too, not a panic inside the graph.
	bad := goldenEmbedding(t, "demo")
	bad.Features = &Features{Shape: []int{1, 256, 32, 32}, Data: make([]float32, 256*32*32)}
	if _, err := m.PredictEmbedding(bad, Prompt{Points: one}); err == nil || !strings.Contains(err.Error(), "image embedding of shape") {
		t.Errorf("wrong embedding shape: %v", err)
	}
	if _, err := m.PredictEmbedding(nil, Prompt{Points: one}); !errors.Is(err, ErrNoImage) {
		t.Errorf("nil embedding: %v", err)
	}

	// The lower-level entry points check their inputs too.
	if _, err := m.EmbedPrompt(nil, nil); err == nil || !strings.Contains(err.Error(), "sparse tokens") {
		t.Errorf("EmbedPrompt(nil): %v", err)
	}
	tok := &SparseTokens{Coords: []float32{1, 2}, Labels: []int32{1}}
	if _, err := m.EmbedPrompt(tok, make([]float32, 7)); err == nil || !strings.Contains(err.Error(), "mask input has 7 values") {
		t.Errorf("EmbedPrompt with a short mask: %v", err)
	}
	if _, err := m.DecodeMasks(goldenEmbedding(t, "demo").Features, nil); err == nil {
		t.Error("DecodeMasks without prompt embeddings")
	}
	if _, err := PostprocessMasks(make([]float32, 10), 256, 1024, [2]int{768, 1024}, [2]int{375, 500}); err == nil {
		t.Error("PostprocessMasks accepted 10 logits")
	}
	if _, err := PostprocessMasks(make([]float32, 4), 2, 1024, [2]int{768, 2000}, [2]int{375, 500}); err == nil {
		t.Error("PostprocessMasks accepted an input larger than the model's")
	}
}

// Label −1 points and the edges of the image are accepted (upstream allows both); a box alone
// is a valid prompt.
func TestPredictEdgeCases(t *testing.T) {
	m := loadTiny(t)
	p := NewPredictor(m)
	p.SetEmbedding(goldenEmbedding(t, "crop")) // 333×250
	for _, c := range []struct {
		name   string
		points []Point
		box    *[4]float64
	}{
		{"ignored point", []Point{{X: 10, Y: 10, Label: 1}, {X: 249.5, Y: 333, Label: -1}}, nil},
		{"corner point", []Point{{X: 0, Y: 0, Label: 0}}, nil},
		{"box only", nil, &[4]float64{0, 0, 250, 333}},
	} {
		res, err := p.Predict(c.points, c.box, nil, false)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(res.Masks) != 1 || len(res.Masks[0]) != 333*250 || len(res.LowResLogits[0]) != 256*256 {
			t.Errorf("%s: %d masks of %d pixels", c.name, len(res.Masks), len(res.Masks[0]))
		}
	}
}

// The tokens' layout follows upstream: +0.5, a pad token without a box, corners with a box.
func TestLayoutSparseTokens(t *testing.T) {
	orig, input := [2]int{375, 500}, [2]int{768, 1024}
	tok, err := LayoutSparseTokens([]Point{{X: 222, Y: 176, Label: 1}}, nil, orig, input)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{float32(222*2.048) + 0.5, float32(176*2.048) + 0.5, 0, 0}
	if len(tok.Coords) != 4 || tok.Coords[0] != want[0] || tok.Coords[1] != want[1] || tok.Coords[2] != 0 || tok.Coords[3] != 0 {
		t.Errorf("coords %v, want %v", tok.Coords, want)
	}
	if got := tok.Labels; len(got) != 2 || got[0] != 1 || got[1] != -1 {
		t.Errorf("labels %v, want [1 -1]", got)
	}
	tok, err = LayoutSparseTokens([]Point{{X: 222, Y: 176, Label: 0}}, &[4]float64{1, 2, 3, 4}, orig, input)
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Labels; len(got) != 3 || got[0] != 0 || got[1] != 2 || got[2] != 3 {
		t.Errorf("labels with box %v, want [0 2 3]", got)
	}
	if tok.Coords[2] != float32(2.048)+0.5 || tok.Coords[3] != float32(4.096)+0.5 {
		t.Errorf("box top-left token %v, want (2.548, 4.596)", tok.Coords[2:4])
	}
}

// Concurrent predictions of different prompt shapes on one predictor give the same results as
// sequential ones (the executables are shared and cached per token count).
func TestPredictConcurrent(t *testing.T) {
	m := loadTiny(t)
	p := NewPredictor(m)
	p.SetEmbedding(goldenEmbedding(t, "demo"))
	prompts := []Prompt{
		{Points: []Point{{X: 222, Y: 176, Label: 1}}, Multimask: true},
		{Points: []Point{{X: 250, Y: 187, Label: 1}, {X: 321, Y: 241, Label: 1}, {X: 464, Y: 26, Label: 0}}, Multimask: true},
		{Points: []Point{{X: 222, Y: 176, Label: 1}}, Box: &[4]float64{165, 70, 440, 340}},
	}
	want := make([]*Prediction, len(prompts))
	for i, pr := range prompts {
		var err error
		if want[i], err = p.Predict(pr.Points, pr.Box, nil, pr.Multimask); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4*len(prompts))
	for range 4 {
		for i, pr := range prompts {
			wg.Go(func() {
				got, err := p.Predict(pr.Points, pr.Box, nil, pr.Multimask)
				switch {
				case err != nil:
					errs <- err.Error()
				case !slices.Equal(got.Scores, want[i].Scores) || !slices.Equal(got.LowResLogits[0], want[i].LowResLogits[0]):
					errs <- "prompt results differ between concurrent and sequential runs"
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// The postprocess index math: identity size is the identity; 2× upsampling of a ramp
// reproduces torch's align_corners=False values (edges clamp, interior interpolates).
func TestBilinearTaps(t *testing.T) {
	same := bilinearApply([]float32{1, 2, 3, 4, 5, 6}, 3, bilinear.Taps(2, 2), bilinear.Taps(3, 3))
	if !slices.Equal(same, []float32{1, 2, 3, 4, 5, 6}) {
		t.Errorf("identity resize gave %v", same)
	}
	// torch.nn.functional.interpolate([[0, 1, 2, 3]], size=8, mode="linear") values.
	up := bilinearApply([]float32{0, 1, 2, 3}, 4, bilinear.Taps(1, 1), bilinear.Taps(4, 8))
	want := []float32{0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3}
	if !slices.Equal(up, want) {
		t.Errorf("2× ramp %v, want %v", up, want)
	}
}

// BenchmarkPredict is one multimask point prediction on a set image: prompt encoder, decoder
// and postprocessing to 375×500 (the executables are compiled before the timer starts).
func BenchmarkPredict(b *testing.B) {
	m := loadTiny(b)
	p := NewPredictor(m)
	p.SetEmbedding(goldenEmbedding(b, "demo"))
	pts := []Point{{X: 250, Y: 187, Label: 1}, {X: 321, Y: 241, Label: 1}, {X: 464, Y: 26, Label: 0}, {X: 35, Y: 348, Label: 0}}
	if _, err := p.Predict(pts, nil, nil, true); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := p.Predict(pts, nil, nil, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPostprocess is PostprocessMasks alone for one mask of the demo image.
func BenchmarkPostprocess(b *testing.B) {
	low := make([]float32, 256*256)
	for i := range low {
		low[i] = float32(i%97) - 48
	}
	for b.Loop() {
		if _, err := PostprocessMasks(low, 256, 1024, [2]int{768, 1024}, [2]int{375, 500}); err != nil {
			b.Fatal(err)
		}
	}
}

// The released models' decoder MLP is 2048 wide. The tiny checkpoint with its transformer MLPs
// zero-padded from 256 to 2048 hidden units is the same function (the extra units are
// ReLU(0) = 0 and have zero output weights), so it must reproduce the golden predictions while
// running the config inferred as mlp_dim 2048.
func TestDecoderMLPDim2048(t *testing.T) {
	ckpt, err := weights.Read(goldens.Path(t, "sam", "sam_tiny.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	const wide = 2048
	state := ckpt.Tensors
	for name, tn := range state {
		if !strings.HasPrefix(name, "mask_decoder.transformer.layers.") || !strings.Contains(name, ".mlp.") {
			continue
		}
		switch {
		case strings.HasSuffix(name, "lin1.weight"): // [hidden, in]: extra zero rows
			tn.F32 = append(tn.F32, make([]float32, (wide-tn.Shape[0])*tn.Shape[1])...)
			tn.Shape = []int{wide, tn.Shape[1]}
		case strings.HasSuffix(name, "lin1.bias"):
			tn.F32 = append(tn.F32, make([]float32, wide-tn.Shape[0])...)
			tn.Shape = []int{wide}
		case strings.HasSuffix(name, "lin2.weight"): // [out, hidden]: extra zero columns
			out, in := tn.Shape[0], tn.Shape[1]
			padded := make([]float32, out*wide)
			for r := range out {
				copy(padded[r*wide:], tn.F32[r*in:(r+1)*in])
			}
			tn.F32, tn.Shape = padded, []int{out, wide}
		}
	}
	m, err := NewModel(state, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.TransformerMLPDim != wide {
		t.Fatalf("inferred mlp_dim %d, want %d", m.Config.TransformerMLPDim, wide)
	}
	for _, g := range goldenPromptSets[:4] {
		t.Run(g.String(), func(t *testing.T) {
			res, err := m.PredictEmbedding(goldenEmbedding(t, g.image), g.prompt(t))
			if err != nil {
				t.Fatal(err)
			}
			checkPrediction(t, g, res)
		})
	}
}
