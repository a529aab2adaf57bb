package sam

import (
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

var (
	tinyOnce  sync.Once
	tinyModel *Model
	tinyErr   error
)

// loadTiny loads the golden tiny model once per test binary (it is read-only).
func loadTiny(t testing.TB) *Model {
	t.Helper()
	path := goldens.Path(t, "sam", "sam_tiny.safetensors")
	tinyOnce.Do(func() { tinyModel, tinyErr = LoadFile(path, LoadOptions{}) })
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyModel
}

// goldenRGB loads <image>/image_rgb.npy, the uint8 RGB array upstream's set_image received.
func goldenRGB(t *testing.T, image string) *imageprep.RGB {
	t.Helper()
	a := goldens.Load(t, "sam/"+image+"/image_rgb.npy")
	img, err := imageprep.FromArray(a.Shape[0], a.Shape[1], a.Shape[2], a.U8)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestTargetSize(t *testing.T) {
	for _, c := range []struct{ h, w, nh, nw int }{
		{375, 500, 768, 1024}, {333, 250, 1024, 769}, {1024, 1024, 1024, 1024}, {1, 3, 341, 1024}, {2000, 10, 1024, 5},
	} {
		if nh, nw := TargetSize(c.h, c.w, 1024); nh != c.nh || nw != c.nw {
			t.Errorf("TargetSize(%d, %d) = %d×%d, want %d×%d", c.h, c.w, nh, nw, c.nh, c.nw)
		}
	}
}

// The crop's resize is stored: Pillow's BILINEAR must be reproduced bit for bit.
func TestResizeLongestSideCropExact(t *testing.T) {
	want := goldens.Load(t, "sam/crop/resized_uint8.npy")
	got, err := ResizeLongestSide(goldenRGB(t, "crop"), 1024)
	if err != nil {
		t.Fatal(err)
	}
	if got.H != want.Shape[0] || got.W != want.Shape[1] {
		t.Fatalf("resized to %dx%d, want %dx%d", got.H, got.W, want.Shape[0], want.Shape[1])
	}
	if diff := countDiff(got.Pix, want.U8); diff != 0 {
		t.Fatalf("%d of %d resized bytes differ from Pillow", diff, len(want.U8))
	}
}

// Resize, normalisation and padding of the demo image must give demo/input.npy exactly.
func TestPreprocessDemoExact(t *testing.T) {
	want := goldens.Load(t, "sam/demo/input.npy")
	resized, err := ResizeLongestSide(goldenRGB(t, "demo"), 1024)
	if err != nil {
		t.Fatal(err)
	}
	if resized.H != 768 || resized.W != 1024 {
		t.Fatalf("resized to %dx%d, want 768x1024", resized.H, resized.W)
	}
	got, err := tinyConfig().Preprocess(resized)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want.F32) {
		t.Fatalf("%d values, want %d", len(got), len(want.F32))
	}
	diff := 0
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want.F32[i]) {
			diff++
		}
	}
	if diff != 0 {
		t.Fatalf("%d of %d input values differ from the reference", diff, len(got))
	}
}

func countDiff(a, b []uint8) int {
	if len(a) != len(b) {
		return max(len(a), len(b))
	}
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

// Every recorded intermediate of the demo image: patch embedding, the four blocks (windowed and
// global, with relative positions) and the neck's output.
func TestEncoderDemoIntermediates(t *testing.T) {
	m := loadTiny(t)
	in := goldens.Load(t, "sam/demo/input.npy")
	outs, err := m.EncodeImageDebug(in.F32, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 6 {
		t.Fatalf("%d intermediates, want 6", len(outs))
	}
	names := []string{"debug/patch_embed", "debug/block0", "debug/block1", "debug/block2", "debug/block3", "image_embedding"}
	for i, name := range names {
		goldens.AssertClose(t, name, outs[i].Data, outs[i].Shape, goldens.Load(t, "sam/demo/"+name+".npy"), 1e-4, 0)
	}
}

// SetImage from the stored uint8 arrays of both images, end to end.
func TestSetImageEmbeddings(t *testing.T) {
	m := loadTiny(t)
	for _, c := range []struct {
		image     string
		orig, inp [2]int
	}{{"demo", [2]int{375, 500}, [2]int{768, 1024}}, {"crop", [2]int{333, 250}, [2]int{1024, 769}}} {
		p := NewPredictor(m)
		if _, err := p.Embedding(); err != ErrNoImage {
			t.Fatalf("Embedding before SetImage: %v, want ErrNoImage", err)
		}
		if err := p.SetImage(goldenRGB(t, c.image)); err != nil {
			t.Fatal(err)
		}
		emb, err := p.Embedding()
		if err != nil {
			t.Fatal(err)
		}
		if emb.OriginalSize != c.orig || emb.InputSize != c.inp {
			t.Errorf("%s: sizes %v / %v, want %v / %v", c.image, emb.OriginalSize, emb.InputSize, c.orig, c.inp)
		}
		goldens.AssertClose(t, c.image+" image_embedding", emb.Features.Data, emb.Features.Shape,
			goldens.Load(t, "sam/"+c.image+"/image_embedding.npy"), 1e-4, 0)
	}
}

func TestEncodeBadInput(t *testing.T) {
	m := loadTiny(t)
	if _, err := m.EncodeImage(make([]float32, 10), 1); err == nil || !strings.Contains(err.Error(), "pixel values") {
		t.Errorf("short pixels: %v", err)
	}
	if _, err := m.EncodeImage(nil, 0); err == nil {
		t.Error("empty batch accepted")
	}
	if _, err := m.EmbedImage(nil); err == nil {
		t.Error("nil image accepted")
	}
	if _, err := m.EmbedImage(&imageprep.RGB{W: 4, H: 4, Pix: make([]uint8, 5)}); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("short image: %v", err)
	}
	if _, err := m.EmbedImage(&imageprep.RGB{W: 5000, H: 1, Pix: make([]uint8, 5000*3)}); err == nil || !strings.Contains(err.Error(), "would be") {
		t.Errorf("degenerate aspect ratio: %v", err)
	}
	if _, err := tinyConfig().Preprocess(&imageprep.RGB{W: 1025, H: 4, Pix: make([]uint8, 1025*4*3)}); err == nil {
		t.Error("Preprocess accepted an image wider than the input")
	}
}

// RelPosTable without interpolation is upstream's index rel_pos[i − j + S − 1]; with a table of
// another length it first resizes it linearly (align_corners=False). Both are checked against a
// direct loop over torch's formulas.
func TestRelPosTable(t *testing.T) {
	backend := loadTiny(t).Backend()
	const ch = 3
	for _, c := range []struct{ l, q, k int }{{9, 5, 5}, {7, 5, 5}, {15, 5, 5}, {13, 4, 7}} {
		rel := make([]float32, c.l*ch)
		for i := range rel {
			rel[i] = float32(math.Sin(float64(i)*0.7)) + float32(i)*0.01
		}
		got := runGraph(t, backend, func(g *Graph) *Node {
			return RelPosTable(Const(g, tensors.FromFlatDataAndDimensions(rel, c.l, ch)), c.q, c.k)
		})
		want := relPosLoop(rel, c.l, ch, c.q, c.k)
		for i := range want {
			if math.Abs(float64(got[i]-want[i])) > 1e-6 {
				t.Fatalf("l=%d q=%d k=%d: element %d = %g, want %g", c.l, c.q, c.k, i, got[i], want[i])
			}
		}
	}
}

// relPosLoop is get_rel_pos written out: F.interpolate(linear, align_corners=False) to
// 2·max(q,k)−1 rows when needed, then the relative-coordinate lookup.
func relPosLoop(rel []float32, l, ch, q, k int) []float32 {
	maxRel := 2*max(q, k) - 1
	resized := rel
	if l != maxRel {
		resized = make([]float32, maxRel*ch)
		for d := range maxRel {
			src := (float64(d)+0.5)*float64(l)/float64(maxRel) - 0.5
			if src < 0 {
				src = 0
			}
			i0 := int(math.Floor(src))
			i1 := min(i0+1, l-1)
			lam := src - float64(i0)
			for c := range ch {
				resized[d*ch+c] = float32((1-lam)*float64(rel[i0*ch+c]) + lam*float64(rel[i1*ch+c]))
			}
		}
	}
	out := make([]float32, 0, q*k*ch)
	for i := range q {
		for j := range k {
			qc := float64(i) * max(float64(k)/float64(q), 1)
			kc := float64(j) * max(float64(q)/float64(k), 1)
			idx := int(qc - kc + float64(k-1)*max(float64(q)/float64(k), 1))
			out = append(out, resized[idx*ch:(idx+1)*ch]...)
		}
	}
	return out
}

func runGraph(t *testing.T, backend interface{}, f func(g *Graph) *Node) []float32 {
	t.Helper()
	b := loadTiny(t).Backend()
	exec := MustNewExec(b, func(g *Graph) *Node { return f(g) })
	out, err := exec.Exec()
	if err != nil {
		t.Fatal(err)
	}
	data, err := tensors.CopyFlatData[float32](out[0])
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(data)
}

// One model, two predictors, two images at the same time: each embedding must match its own
// golden (the model's compiled executables are shared).
func TestSetImageConcurrent(t *testing.T) {
	m := loadTiny(t)
	images := []string{"demo", "crop"}
	embs := make([]*ImageEmbedding, len(images))
	errs := make([]error, len(images))
	var wg sync.WaitGroup
	for i, name := range images {
		img := goldenRGB(t, name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := NewPredictor(m)
			if errs[i] = p.SetImage(img); errs[i] == nil {
				embs[i], errs[i] = p.Embedding()
			}
		}()
	}
	wg.Wait()
	for i, name := range images {
		if errs[i] != nil {
			t.Fatalf("%s: %v", name, errs[i])
		}
		goldens.AssertClose(t, name+" concurrent image_embedding", embs[i].Features.Data, embs[i].Features.Shape,
			goldens.Load(t, "sam/"+name+"/image_embedding.npy"), 1e-4, 0)
	}
}
