package clip

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/weights"
)

// The CLIPA options (pool_type "avg", final_ln_after_pool, no_ln_pre) on the gelu weights: the
// pooled feature and the tokens follow open_clip's VisionTransformer._pool, recomputed here in
// float64 from the last block's output (itself checked against the goldens in TestOpenCLIPParity).
func TestOpenCLIPPoolingOptions(t *testing.T) {
	input := goldens.Load(t, "openclip/preprocess/shortest_bicubic_224/chelsea.openai.f32.npy").F32
	for _, finalLN := range []bool{false, true} {
		dir := variantFolder(t, "gelu", "open_clip_model.safetensors", OpenCLIPConfigName, func(c map[string]any) {
			v := at(c, "model_cfg", "vision_cfg")
			v["pool_type"], v["final_ln_after_pool"] = "avg", finalLN
		})
		m, err := LoadFile(dir, LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if m.Config.Pool != PoolAverage || m.Config.FinalLNAfterPool != finalLN {
			t.Fatalf("config read wrong: %+v", m.Config)
		}
		last := runImageGraph(t, m, "last", input, VisionBlocksGraph).Data // [1, 197, 128]
		w, e, n := m.Config.VisionWidth, m.Config.EmbedDim, 196
		lnW, _ := m.Weight("visual.ln_post.weight")
		lnB, _ := m.Weight("visual.ln_post.bias")
		proj, _ := m.Weight("visual.proj")
		ln := func(x []float64) []float64 {
			var mean, v float64
			for _, a := range x {
				mean += a / float64(w)
			}
			for _, a := range x {
				v += (a - mean) * (a - mean) / float64(w)
			}
			out := make([]float64, w)
			for i, a := range x {
				out[i] = (a-mean)/math.Sqrt(v+1e-5)*float64(lnW[i]) + float64(lnB[i])
			}
			return out
		}
		token := func(i int) []float64 {
			out := make([]float64, w)
			for j := range out {
				out[j] = float64(last[i*w+j])
			}
			return out
		}
		pooled := make([]float64, w)
		tokens := make([]float32, 0, n*w)
		for i := 1; i <= n; i++ {
			x := token(i)
			if !finalLN {
				x = ln(x)
			}
			for j, a := range x {
				pooled[j] += a / float64(n)
				tokens = append(tokens, float32(a))
			}
		}
		if finalLN {
			pooled = ln(pooled)
		}
		want := make([]float32, e)
		for k := range want {
			var s float64
			for j := range pooled {
				s += pooled[j] * float64(proj[j*e+k])
			}
			want[k] = float32(s)
		}
		got, err := m.EncodeImagePooled(input, 1, 224, 224)
		if err != nil {
			t.Fatal(err)
		}
		assertNear(t, "avg pooled (final LN "+map[bool]string{false: "before", true: "after"}[finalLN]+")", got.Data, want, 1e-5)
		toks := runImageGraph(t, m, "tokens", input, PatchTokensGraph)
		assertNear(t, "tokens", toks.Data, tokens, 1e-5)
	}
}

// no_ln_pre: weights without visual.ln_pre load with the option, and only with it.
func TestOpenCLIPNoLnPre(t *testing.T) {
	src := goldens.Path(t, "openclip", "models", "gelu")
	ck, err := weights.Read(filepath.Join(src, "open_clip_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []*weights.Tensor
	for name, x := range ck.Tensors {
		if name != "visual.ln_pre.weight" && name != "visual.ln_pre.bias" {
			x.Name = name
			kept = append(kept, x)
		}
	}
	dir := variantFolder(t, "gelu", "", OpenCLIPConfigName, func(c map[string]any) { at(c, "model_cfg", "vision_cfg")["no_ln_pre"] = true })
	if err := weights.WriteSafetensors(filepath.Join(dir, "open_clip_model.safetensors"), kept, nil); err != nil {
		t.Fatal(err)
	}
	m, err := LoadFile(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Config.NoLnPre {
		t.Fatal("no_ln_pre not read")
	}
	input := goldens.Load(t, "openclip/preprocess/shortest_bicubic_224/chelsea.openai.f32.npy").F32
	if _, err := m.EncodeImage(input, 1, 224, 224, SurgeryOptions()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, OpenCLIPConfigName)); err != nil {
		t.Fatal(err)
	}
	_, err = LoadFile(dir, LoadOptions{ConfigFile: filepath.Join(src, OpenCLIPConfigName)})
	wantOneLineError(t, "ln_pre missing without no_ln_pre", err, "visual.ln_pre.weight")
}

func assertNear(t *testing.T, name string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	worst := 0.0
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d > tol*(1+math.Abs(float64(want[i]))) || math.IsNaN(d) {
			t.Fatalf("%s: value %d is %v, want %v", name, i, got[i], want[i])
		}
		worst = max(worst, d)
	}
	t.Logf("%s: max |diff| %.3g", name, worst)
}

// A ModifiedResNet described by open_clip's config (vision_cfg.layers a list; heads =
// width·32/head_width) loads and gives the reference's numbers: the golden rn model in a folder
// with such a config, its text tower beside it.
func TestOpenCLIPResNetConfig(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"rn.openai.safetensors", "vit16.openai.safetensors"} {
		if err := os.Symlink(goldens.Path(t, "models", f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	write := func(layers string) {
		cfg := `{"model_cfg": {"embed_dim": 64, "quick_gelu": true,
			"vision_cfg": {"image_size": 224, "layers": ` + layers + `, "width": 16, "patch_size": null},
			"text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 3}}}`
		if err := os.WriteFile(filepath.Join(dir, OpenCLIPConfigName), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("[1, 1, 1, 1]")
	m, err := LoadFile(filepath.Join(dir, "rn.openai.safetensors"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Layout != LayoutOpenCLIP || m.Config.Vision != ResNet || m.Config.VisionHeads != 8 || m.Config.TextTower().Act != ActQuickGELU {
		t.Fatalf("layout %s, config %+v", m.Layout, m.Config)
	}
	f := encodeGoldenImage(t, m, 224, ImageOptions{Method: MethodRaw})
	goldens.AssertClose(t, "image_features_raw", f.Data, f.Shape, goldens.Load(t, "rn/clip/demo_224/image_features_raw.f32.npy"), atol, rtol)
	write("[1, 2, 1, 1]")
	_, err = LoadFile(filepath.Join(dir, "rn.openai.safetensors"), LoadOptions{})
	wantOneLineError(t, "stage count contradicts", err, "model_cfg.vision_cfg.layers[1] 2 contradicts the weights")
}
