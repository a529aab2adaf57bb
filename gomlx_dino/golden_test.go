package dino

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/npy"
)

// testdata is the DINO golden folder (testdata/dino/README.md): the authors' code on tiny random
// checkpoints in the released layouts.
const testdata = "../testdata/dino"

// Tolerance of the parity tests: the CLIP goldens'.
const atol, rtol = 1e-5, 1e-5

type goldenModel struct {
	Family    string
	Patch     int
	Heads     int
	Registers int
	Width     int
	Depth     int
	Native    int
	Files     []string
}

type goldenCase struct {
	Model string
	Batch int
	H, W  int
	Shape []int
}

type manifest struct {
	Models map[string]goldenModel
	Cases  map[string]goldenCase
}

func readManifest(t testing.TB) manifest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testdata, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Models) == 0 || len(m.Cases) == 0 {
		t.Fatal("empty golden manifest")
	}
	return m
}

// patternImages is gen_goldens.py's pattern_images: ((31y + 17x + 7c + 13b) mod 97)/48 − 1.
func patternImages(batch, h, w int) []float32 {
	out := make([]float32, 0, batch*3*h*w)
	for b := range batch {
		for c := range 3 {
			for y := range h {
				for x := range w {
					out = append(out, float32((31*y+17*x+7*c+13*b)%97)/48-1)
				}
			}
		}
	}
	return out
}

// loadGolden loads one golden checkpoint file (a .pth with the tiny models' 2 heads, or a Hugging
// Face folder whose config.json says so), once per test binary.
var (
	goldenMu     sync.Mutex
	goldenModels = map[string]*Model{}
)

func loadGolden(t testing.TB, file string, heads int) *Model {
	t.Helper()
	goldenMu.Lock()
	defer goldenMu.Unlock()
	if m, ok := goldenModels[file]; ok {
		return m
	}
	opt := LoadOptions{}
	if strings.HasSuffix(file, ".pth") {
		opt.Heads = heads // not in a .pth; the tiny models' heads are 8 wide, not the releases' 64
	}
	m, err := LoadFile(filepath.Join(testdata, "models", file), opt)
	if err != nil {
		t.Fatal(err)
	}
	goldenModels[file] = m
	return m
}

// TestGoldenTokens: every golden case of every checkpoint file of its model (the .pth and the
// Hugging Face copy give the same tokens) at the native size, at 224 and at a non-square,
// non-native size in a batch of 2 — class, register and patch tokens after the final norm.
func TestGoldenTokens(t *testing.T) {
	man := readManifest(t)
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range man.Cases {
			if !yield(k) {
				return
			}
		}
	})
	for _, name := range names {
		c := man.Cases[name]
		gm := man.Models[c.Model]
		want, err := npy.ReadFile(filepath.Join(testdata, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range gm.Files {
			t.Run(name+"/"+file, func(t *testing.T) {
				m := loadGolden(t, file, gm.Heads)
				if string(m.Config.Family) != gm.Family || m.Config.Registers != gm.Registers || m.Config.NativeGrid != gm.Native {
					t.Fatalf("config %s, golden model %+v", m.Config, gm)
				}
				f, err := m.EncodeImage(patternImages(c.Batch, c.H, c.W), c.Batch, c.H, c.W)
				if err != nil {
					t.Fatal(err)
				}
				goldens.AssertClose(t, name, f.Data, f.Shape, want, atol, rtol)
			})
		}
	}
}

// TestPatchFeaturesSplit: PatchFeatures cuts EncodeImage's tokens into class, registers and
// patches (the golden's rows), with the grid.
func TestPatchFeaturesSplit(t *testing.T) {
	m := loadGolden(t, "dinov2_reg_tiny.pth", 2)
	want, err := npy.ReadFile(filepath.Join(testdata, "dinov2_reg", "tokens_2x70x126.npy"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.PatchFeatures(patternImages(2, 70, 126), 2, 70, 126)
	if err != nil {
		t.Fatal(err)
	}
	if tok.GridH != 5 || tok.GridW != 9 || !slices.Equal(tok.Class.Shape, []int{2, 16}) ||
		!slices.Equal(tok.Registers.Shape, []int{2, 4, 16}) || !slices.Equal(tok.Patches.Shape, []int{2, 45, 16}) {
		t.Fatalf("shapes: grid %dx%d, class %v, registers %v, patches %v", tok.GridH, tok.GridW, tok.Class.Shape,
			tok.Registers.Shape, tok.Patches.Shape)
	}
	n := want.Shape[1]
	row := func(b, i int) []float32 { return want.F32[(b*n+i)*16 : (b*n+i+1)*16] }
	var cls, regs, patches []float32
	for b := range 2 {
		cls = append(cls, row(b, 0)...)
		for i := 1; i < 5; i++ {
			regs = append(regs, row(b, i)...)
		}
		for i := 5; i < n; i++ {
			patches = append(patches, row(b, i)...)
		}
	}
	for _, p := range []struct {
		name      string
		got, want []float32
	}{{"class", tok.Class.Data, cls}, {"registers", tok.Registers.Data, regs}, {"patches", tok.Patches.Data, patches}} {
		goldens.AssertClose(t, p.name, p.got, []int{len(p.got)}, &npy.Array{Shape: []int{len(p.want)}, F32: p.want}, atol, rtol)
	}
}
