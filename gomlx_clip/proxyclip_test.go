package clip

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/npy"
)

// proxyGoldens is the ProxyCLIP part of testdata/dino: the authors' forward_feature on the shared
// tiny CLIP (vit16) with tiny DINO VFMs, whose features it records (testdata/dino/README.md).
const proxyGoldens = "../testdata/dino"

func readProxyNpy(t *testing.T, name string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile(filepath.Join(proxyGoldens, "proxyclip", name))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// proxyWindow is gen_goldens.py's pattern_rgb(side, side), CLIP-normalised.
func proxyWindow(t *testing.T, side int) []float32 {
	t.Helper()
	pix := make([]uint8, 0, side*side*3)
	for y := range side {
		for x := range side {
			for c := range 3 {
				pix = append(pix, uint8((31*y+17*x+7*c)%256))
			}
		}
	}
	rgb, err := imageprep.FromArray(side, side, 3, pix)
	if err != nil {
		t.Fatal(err)
	}
	return imageprep.Normalize(rgb)
}

// TestProxyCLIPMatchesAuthors: the image features and the cosine logits of ProxyCLIP's last block
// on the VFM features the authors' run recorded (DINO v1 patch 8: a 14×14 grid from CLIP's 7×7;
// DINOv2 with registers: 8×8), at the golden tolerance.
func TestProxyCLIPMatchesAuthors(t *testing.T) {
	cases := goldens.ProxyCLIPCases(t, proxyGoldens)
	m := loadGoldenModel(t, "vit16")
	text := readProxyNpy(t, "text.npy")
	for _, name := range []string{"dino_v1", "dinov2_reg"} {
		t.Run(name, func(t *testing.T) {
			g := cases[name]
			vfm := readProxyNpy(t, name+"_vfm_features.npy")
			if g.Grid == 0 || vfm.Shape[0] != g.Grid || vfm.Shape[1] != g.Grid {
				t.Fatalf("manifest %+v, VFM features %v", g, vfm.Shape)
			}
			proxy := &Features{Shape: append([]int{1}, vfm.Shape...), Data: vfm.F32}
			f, err := m.EncodeImage(proxyWindow(t, g.Side), 1, g.Side, g.Side,
				ImageOptions{Method: MethodProxyCLIP, Proxy: proxy, ProxyBeta: g.Beta, ProxyGamma: g.Gamma})
			if err != nil {
				t.Fatal(err)
			}
			n, e := 1+g.Grid*g.Grid, m.Config.EmbedDim
			if f.Shape[1] != n || f.Shape[2] != e {
				t.Fatalf("tokens %v, want [1 %d %d]", f.Shape, n, e)
			}
			patches := f.Data[e:] // the class row is ours, not ProxyCLIP's
			if name == "dinov2_reg" {
				want := readProxyNpy(t, name+"_features.npy")
				goldens.AssertClose(t, "features", patches, want.Shape, want, atol, rtol)
			}
			want := readProxyNpy(t, name+"_grid_logits.npy")
			goldens.AssertClose(t, "logits", cosineLogits(patches, e, text), want.Shape, want, atol, rtol)
		})
	}
}

// cosineLogits is L2-normalised features @ textᵀ, [N, K].
func cosineLogits(feats []float32, e int, text *npy.Array) []float32 {
	k := text.Shape[0]
	var out []float32
	for r := 0; r < len(feats)/e; r++ {
		row := feats[r*e : (r+1)*e]
		var n float64
		for _, v := range row {
			n += float64(v) * float64(v)
		}
		n = math.Sqrt(n)
		for j := range k {
			var dot float64
			for c, v := range row {
				dot += float64(v) * float64(text.F32[j*e+c])
			}
			out = append(out, float32(dot/n))
		}
	}
	return out
}

// TestProxyCLIPInputs: ProxyCLIP without features, features for another method, a mismatched
// batch, a malformed or oversized grid, and bad β/γ are one-line errors.
func TestProxyCLIPInputs(t *testing.T) {
	m := loadGoldenModel(t, "vit16")
	pix := proxyWindow(t, 112)
	grid := func(b, h, w, c int) *Features {
		return &Features{Shape: []int{b, h, w, c}, Data: make([]float32, b*h*w*c)}
	}
	for _, c := range []struct {
		opt  ImageOptions
		want string
	}{
		{ImageOptions{Method: MethodProxyCLIP}, "needs a vision foundation model's patch features"},
		{ImageOptions{Method: MethodSCLIP, Proxy: grid(1, 7, 7, 4)}, "reads no VFM features"},
		{ImageOptions{Method: MethodProxyCLIP, Proxy: grid(2, 7, 7, 4)}, "2 VFM feature maps for a batch of 1"},
		{ImageOptions{Method: MethodProxyCLIP, Proxy: &Features{Shape: []int{1, 7, 7}, Data: make([]float32, 49)}}, "want [batch, H, W, channels]"},
		{ImageOptions{Method: MethodProxyCLIP, Proxy: &Features{Shape: []int{1, 7, 7, 2}, Data: make([]float32, 5)}}, "hold 5 values"},
		{ImageOptions{Method: MethodProxyCLIP, Proxy: grid(1, 65, 64, 1)}, "exceeds 4096 tokens"},
		{ImageOptions{Method: MethodProxyCLIP, Proxy: grid(1, 7, 7, 4), ProxyGamma: math.NaN()}, "gamma NaN"},
		{ImageOptions{Method: MethodProxyCLIP, Proxy: grid(1, 7, 7, 4), ProxyBeta: -1}, "beta -1"},
	} {
		_, err := m.EncodeImage(pix, 1, 112, 112, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: err %v, want one line with %q", c.opt.Proxy, err, c.want)
		}
	}
	// Any grid, square or not and unrelated to CLIP's, gives tokens on it.
	f, err := m.EncodeImage(pix, 1, 112, 112, ImageOptions{Method: MethodProxyCLIP, Proxy: testProxy(1, 5, 9, 3)})
	if err != nil || f.Shape[1] != 1+45 {
		t.Fatalf("5×9 grid: %v, %v", f, err)
	}
	checkFinite(t, f.Data)
}

// testProxy is a deterministic VFM feature map [b, h, w, c] with varied directions.
func testProxy(b, h, w, c int) *Features {
	f := &Features{Shape: []int{b, h, w, c}, Data: make([]float32, b*h*w*c)}
	for i := range f.Data {
		f.Data[i] = float32(math.Sin(float64(i)*0.7) + 0.3*math.Cos(float64(i/c)*0.2))
	}
	return f
}
