package evaluate

import (
	"math"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"

	"github.com/clipsurgery/clipsurgery/surgery"
)

// bilinearOracle is F.interpolate(mode='bilinear', align_corners=False) written from its
// definition in float64: source coordinate (d+0.5)·in/out − 0.5 clamped at 0, linear weights.
func bilinearOracle(grid []float32, side, h, w int) []float64 {
	tap := func(d, in, out int) (int, int, float64) {
		src := max((float64(d)+0.5)*float64(in)/float64(out)-0.5, 0)
		i0 := int(src)
		i1 := min(i0+1, in-1)
		return i0, i1, src - float64(i0)
	}
	out := make([]float64, h*w)
	for y := range h {
		y0, y1, ly := tap(y, side, h)
		for x := range w {
			x0, x1, lx := tap(x, side, w)
			g := func(r, c int) float64 { return float64(grid[r*side+c]) }
			out[y*w+x] = (1-ly)*((1-lx)*g(y0, x0)+lx*g(y0, x1)) + ly*((1-lx)*g(y1, x0)+lx*g(y1, x1))
		}
	}
	return out
}

// Predict against an oracle from the equations: resize every name's logits, best name per class,
// first class of maximum score. A class with two names exercises the reduction.
func TestPredictOracle(t *testing.T) {
	ex := tinyExplainer(t)
	dir := t.TempDir()
	if err := WriteSynthetic(dir, LayoutGeneric, 2); err != nil {
		t.Fatal(err)
	}
	ds, err := Open(dir, DatasetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	classes := []Class{{Names: []string{"background", "grey wall"}}, {Names: []string{"red circle"}},
		{Names: []string{"green square", "green box"}}, {Names: []string{"blue triangle"}}}
	pix, _, err := LoadItem(ds.Items[1], len(classes))
	if err != nil {
		t.Fatal(err)
	}
	mo := ModelOptions{Templates: testTemplates}
	for _, method := range []clip.Method{clip.MethodSurgery, clip.MethodRaw} {
		p, err := Predict(ex, pix, classes, method, mo, Scoring{})
		if err != nil {
			t.Fatal(err)
		}
		names, nameClass := queries(classes)
		res, err := ex.ExplainPixels(pix, names[:1], surgery.Options{Labels: names, Templates: testTemplates, Method: method})
		if err != nil {
			t.Fatal(err)
		}
		side := int(math.Sqrt(float64(res.Similarity.Rows - 1)))
		score := make([][]float64, len(classes))
		for c := range score {
			score[c] = make([]float64, p.H*p.W)
			for i := range score[c] {
				score[c][i] = math.Inf(-1)
			}
		}
		for q, c := range nameClass {
			m := bilinearOracle(res.Similarity.Column(q)[1:], side, p.H, p.W)
			for i, v := range m {
				score[c][i] = max(score[c][i], v)
			}
		}
		mismatch, classesSeen := 0, map[uint8]bool{}
		for i := range p.Pred {
			best, second := 0, -1
			for c := 1; c < len(classes); c++ {
				if score[c][i] > score[best][i] {
					best, second = c, best
				} else if second < 0 || score[c][i] > score[second][i] {
					second = c
				}
			}
			classesSeen[p.Pred[i]] = true
			if int(p.Pred[i]) != best && score[best][i]-score[second][i] > 1e-5 {
				mismatch++
			}
		}
		if mismatch > 0 {
			t.Errorf("%s: %d of %d pixels differ from the oracle beyond float32 ties", method, mismatch, len(p.Pred))
		}
		if p.Sim.Cols != len(classes) || p.Sim.Rows != res.Similarity.Rows {
			t.Fatalf("class token scores %d×%d", p.Sim.Rows, p.Sim.Cols)
		}
		for r := range p.Sim.Rows { // best name per token
			want := max(res.Similarity.At(r, 3), res.Similarity.At(r, 4)) // names 3, 4 are class 2
			if p.Sim.At(r, 2) != want {
				t.Fatalf("token %d: class score %v, best name %v", r, p.Sim.At(r, 2), want)
			}
		}
		t.Logf("%s: predicted classes %v", method, classesSeen)
	}
}
