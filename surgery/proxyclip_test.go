package surgery

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	dino "github.com/clipsurgery/clipsurgery/gomlx_dino"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/npy"
)

// dinoTestdata holds the tiny DINO checkpoints and the ProxyCLIP goldens (testdata/dino/README.md).
const dinoTestdata = "../testdata/dino"

// goldenTol is the CLIP goldens' tolerance (atol = rtol).
const goldenTol = 1e-5

var (
	vfmMu    sync.Mutex
	testVFMs = map[string]VFM{}
)

// goldenVFM loads one of the goldens' VFMs once: "dino_v1", "dinov2_reg" (testdata/dino, 2 heads)
// or "sam_tiny" (the shared golden's tiny SAM).
func goldenVFM(t *testing.T, name string) VFM {
	t.Helper()
	vfmMu.Lock()
	defer vfmMu.Unlock()
	if v, ok := testVFMs[name]; ok {
		return v
	}
	var v VFM
	var err error
	switch name {
	case "sam_tiny":
		v, err = LoadVFM(context.Background(), goldens.Path(t, "sam", "sam_tiny.pth"), VFMLoadOptions{})
	default:
		var m *dino.Model
		file := map[string]string{"dino_v1": "dino_v1_tiny.pth", "dinov2_reg": "dinov2_reg_tiny.pth"}[name]
		m, err = dino.LoadFile(filepath.Join(dinoTestdata, "models", file), dino.LoadOptions{Heads: 2})
		v = DINOVFM(m)
	}
	if err != nil {
		t.Fatal(err)
	}
	testVFMs[name] = v
	return v
}

// TestProxyCLIPGolden: each VFM as ProxyCLIP's forward_feature runs it (DINO, DINOv2 with
// registers, SAM's encoder at 1024 px) on a 112-px window, CLIP's proxy attention on its features,
// and the logits against the golden's query features, on the VFM's grid and bilinearly resized to
// the window (every 4th pixel), at the golden tolerance.
func TestProxyCLIPGolden(t *testing.T) {
	cases := goldens.ProxyCLIPCases(t, dinoTestdata)
	m := goldenExplainer(t, "vit16").Model()
	text := readDINOGolden(t, "proxyclip/text.npy")
	for _, name := range []string{"dino_v1", "dinov2_reg", "sam_tiny"} {
		t.Run(name, func(t *testing.T) {
			g := cases[name]
			rgb := patternRGB(g.Side)
			vfm := goldenVFM(t, name)
			if grid, err := vfm.Grid(g.Side); err != nil || grid != g.Grid {
				t.Fatalf("grid %d, %v; golden %d", grid, err, g.Grid)
			}
			proxy, err := vfm.PatchFeatures(imageprep.Unit(rgb), rgb.H, rgb.W)
			if err != nil {
				t.Fatal(err)
			}
			f, err := m.EncodeImage(imageprep.Normalize(rgb), 1, g.Side, g.Side,
				clip.ImageOptions{Method: clip.MethodProxyCLIP, Proxy: proxy, ProxyBeta: g.Beta, ProxyGamma: g.Gamma})
			if err != nil {
				t.Fatal(err)
			}
			img := Normalize(FeatureMatrix(f))
			logits := RawSimilarity(img, Matrix{Rows: text.Shape[0], Cols: text.Shape[1], Data: text.F32})
			n, k := g.Grid*g.Grid, text.Shape[0]
			grid := logits.Data[k:] // token 0 is the class token, which ProxyCLIP has not
			want := readDINOGolden(t, "proxyclip/"+name+"_grid_logits.npy")
			goldens.AssertClose(t, "grid logits", grid, want.Shape, want, goldenTol, goldenTol)
			var every4 []float32
			for c := range k {
				plane := make([]float32, n)
				for i := range n {
					plane[i] = grid[i*k+c]
				}
				full, err := ResizeBilinear(plane, g.Grid, g.Grid, g.Side, g.Side)
				if err != nil {
					t.Fatal(err)
				}
				for y := 0; y < g.Side; y += 4 {
					for x := 0; x < g.Side; x += 4 {
						every4 = append(every4, full[y*g.Side+x])
					}
				}
			}
			want = readDINOGolden(t, "proxyclip/"+name+"_logits_every4.npy")
			goldens.AssertClose(t, "logits at every 4th pixel", every4, want.Shape, want, goldenTol, goldenTol)
		})
	}
}

func readDINOGolden(t *testing.T, rel string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile(filepath.Join(dinoTestdata, rel))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// patternRGB is gen_goldens.py's pattern_rgb(side, side): (31y + 17x + 7c) mod 256.
func patternRGB(side int) *imageprep.RGB {
	pix := make([]uint8, 0, side*side*3)
	for y := range side {
		for x := range side {
			for c := range 3 {
				pix = append(pix, uint8((31*y+17*x+7*c)%256))
			}
		}
	}
	return &imageprep.RGB{W: side, H: side, Pix: pix}
}

// TestProxyCLIPExplain: ProxyCLIP through Explain and PixelSimilarity, whole image and sliding
// windows: maps at the image's size from the VFM's grid; and the options it refuses.
func TestProxyCLIPExplain(t *testing.T) {
	e := goldenExplainer(t, "vit16")
	vfm := goldenVFM(t, "dinov2_reg")
	img := demoPixels(t)
	opt := Options{Method: clip.MethodProxyCLIP, VFM: vfm, Size: 112, Labels: []string{"person", "bench", "tree"},
		Templates: []string{"a photo of a {}."}}
	res, err := e.ExplainPixels(img, []string{"person", "bench"}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Method != clip.MethodProxyCLIP || res.FeatureSurgery || res.Similarity.Rows != 1+8*8 || len(res.Targets) != 2 ||
		len(res.Targets[0].Map) != demoH*demoW {
		t.Fatalf("method %s, feature surgery %v, similarity %d rows, %d targets", res.Method, res.FeatureSurgery, res.Similarity.Rows,
			len(res.Targets))
	}
	slide := opt
	slide.Slide = true
	res2, err := e.ExplainPixels(img, []string{"person"}, slide)
	if err != nil || res2.Windows < 2 || len(res2.Targets[0].Map) != demoH*demoW {
		t.Fatalf("sliding windows: %v, %+v", err, res2)
	}
	sharper := opt
	sharper.ProxyGamma = 10
	res3, err := e.ExplainPixels(img, []string{"person", "bench"}, sharper)
	if err != nil || maxAbsDiff(res3.Similarity.Data, res.Similarity.Data) == 0 {
		t.Fatalf("γ 10 gives the same similarity as γ 3 (%v)", err)
	}
	planes, _, err := e.PixelSimilarity(context.Background(), img, opt)
	if err != nil || len(planes) != 3 || len(planes[0]) != demoH*demoW {
		t.Fatalf("PixelSimilarity: %v", err)
	}

	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{Method: clip.MethodProxyCLIP, Size: 112}, "proxyclip needs a vision foundation model"},
		{Options{Method: clip.MethodSCLIP, VFM: vfm, Size: 112}, "reads none"},
		{Options{Method: clip.MethodProxyCLIP, VFM: vfm, Size: 128}, "not a multiple of the VFM dinov2(width 16"},
		{Options{Method: clip.MethodProxyCLIP, VFM: goldenVFM(t, "dino_v1"), Size: 1024}, "exceeds 4096 tokens"},
		{Options{Method: clip.MethodProxyCLIP, VFM: vfm, Size: 112, ProxyBeta: math.Inf(1)}, "beta +Inf"},
	} {
		_, err := e.ExplainPixels(img, []string{"person"}, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: err %v, want one line with %q", c.opt, err, c.want)
		}
	}
}

// TestLoadVFM: names and files of both kinds resolve to the right model; a CLIP checkpoint given
// as the VFM is one line saying so.
func TestLoadVFM(t *testing.T) {
	v, err := LoadVFM(context.Background(), filepath.Join(dinoTestdata, "models", "dinov2_tiny_hf"), VFMLoadOptions{})
	if err != nil || !strings.HasPrefix(v.Name(), "dinov2(width 16") {
		t.Fatalf("DINOv2 folder: %v, %v", v, err)
	}
	if v := goldenVFM(t, "sam_tiny"); !strings.HasPrefix(v.Name(), "sam ") {
		t.Errorf("SAM file: %s", v.Name())
	}
	_, err = LoadVFM(context.Background(), goldens.Path(t, "models", "vit16.openai.safetensors"), VFMLoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "CLIP checkpoint") || strings.Contains(err.Error(), "\n") {
		t.Errorf("CLIP as VFM: %v", err)
	}
	if _, err := LoadVFM(context.Background(), "dinov9-b14", VFMLoadOptions{}); err == nil || !strings.Contains(err.Error(), "dinov2-b14") {
		t.Errorf("unknown name: %v", err)
	}
}
