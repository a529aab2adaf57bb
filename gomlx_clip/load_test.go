package clip

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// serveFixture serves file under the URL path of the registry entry name and makes Load see that
// entry with the fixture's SHA-256 (the real digest is of the real checkpoint) and no promised
// architecture (the tiny model is not ViT-B/16). The hub copy is out of reach ($HF_ENDPOINT of
// goldens.RunWithPrivateCache refuses connections), so the reference's URL serves. It returns the
// server and a request counter.
func serveFixture(t *testing.T, name, file string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	real, err := registry.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(real.URL, "https://openaipublic.azureedge.net")
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		w.Write(data)
	}))
	t.Cleanup(srv.Close)
	old := lookupModel
	lookupModel = func(n string) (registry.Model, error) {
		m, err := old(n)
		if err == nil && n == name {
			m.SHA256 = hex.EncodeToString(sum[:])
		}
		return m, err
	}
	t.Cleanup(func() { lookupModel = old })
	noReleasedConfig(t)
	return srv, &hits
}

// noReleasedConfig lets a tiny fixture pass under a reference name for the rest of the test.
func noReleasedConfig(t *testing.T) {
	old := releasedConfigOf
	releasedConfigOf = func(string) (Config, bool) { return Config{}, false }
	t.Cleanup(func() { releasedConfigOf = old })
}

// maxRelDiff is max |a-b| / (1 + |b|): the jit file's float16 weights shift features by ~1e-3.
func maxRelDiff(a, b []float32) float64 {
	worst := 0.0
	for i := range a {
		d := math.Abs(float64(a[i])-float64(b[i])) / (1 + math.Abs(float64(b[i])))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		worst = max(worst, d)
	}
	return worst
}

func TestLoadRegistryNameDownloadsThenCaches(t *testing.T) { // not parallel: replaces lookupModel
	jit := goldens.Path(t, "models", "vit16.openai.jit.pt")
	srv, hits := serveFixture(t, "CS-ViT-B/16", jit)
	cache := t.TempDir()
	var progress strings.Builder
	opt := LoadOptions{CacheDir: cache, BaseURL: srv.URL, Progress: &progress}
	m, err := Load(context.Background(), "CS-ViT-B/16", opt)
	if err != nil {
		t.Fatal(err)
	}
	if size := m.Config.ImageResolution; size != 224 || m.Method != MethodSurgery || hits.Load() != 1 {
		t.Fatalf("size %d method %q downloads %d; want 224 surgery 1", m.Config.ImageResolution, m.Method, hits.Load())
	}
	if _, err := os.Stat(filepath.Join(cache, "ViT-B-16.pt")); err != nil {
		t.Errorf("checkpoint not cached under its reference name: %v", err)
	}
	// The float16 weights of the jit file are the golden weights rounded: tokens close, not equal.
	f := encodeGoldenImage(t, m, 224, SurgeryOptions())
	want := goldens.Load(t, "vit16/surgery/demo_224/image_features_raw.f32.npy")
	if d := maxRelDiff(f.Data, want.F32); d > 5e-3 {
		t.Errorf("jit (float16) model: image tokens off by %.3g (relative), want < 5e-3", d)
	} else {
		t.Logf("jit (float16) model vs golden: max rel diff %.3g", d)
	}

	// Second load: verified cache, no network (offline), and the plain name gives Surgery false.
	m2, err := Load(context.Background(), "CS-ViT-B/16", LoadOptions{CacheDir: cache, Offline: true})
	if err != nil || m2.Method != MethodSurgery {
		t.Fatalf("cached load: %v", err)
	}
	if hits.Load() != 1 {
		t.Errorf("cached load downloaded again (%d requests)", hits.Load())
	}
}

func TestLoadPlainNameIsNotSurgery(t *testing.T) {
	jit := goldens.Path(t, "models", "vit16.openai.jit.pt")
	srv, _ := serveFixture(t, "ViT-B/16", jit)
	m, err := Load(context.Background(), "ViT-B/16", LoadOptions{CacheDir: t.TempDir(), BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if m.Method == MethodSurgery {
		t.Error("ViT-B/16 loaded with Method surgery; only CS- names set it")
	}
}

func TestLoadRealDigestRejectsOtherBytes(t *testing.T) {
	// Without the test hook the registry's real SHA-256 applies: the fixture must be refused and the
	// cache left without a file under the final name.
	data, err := os.ReadFile(goldens.Path(t, "models", "vit16.openai.jit.pt"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) }))
	defer srv.Close()
	cache := t.TempDir()
	_, err = Load(context.Background(), "ViT-B/16", LoadOptions{CacheDir: cache, BaseURL: srv.URL})
	if !errors.Is(err, registry.ErrChecksum) {
		t.Fatalf("want a checksum error, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(cache, "ViT-B-16.pt")); err == nil {
		t.Error("a checkpoint with the wrong digest was left in the cache")
	}
}

func TestLoadOfflineMissing(t *testing.T) {
	_, err := Load(context.Background(), "CS-RN50", LoadOptions{CacheDir: t.TempDir(), Offline: true})
	if !errors.Is(err, registry.ErrOffline) || !strings.Contains(err.Error(), "RN50.pt") {
		t.Fatalf("want an offline error naming the file, got %v", err)
	}
}

func TestLoadUnknownName(t *testing.T) {
	for _, name := range []string{"ViT-B/17", "cs-vit-b/16", ""} {
		_, err := Load(context.Background(), name, LoadOptions{CacheDir: t.TempDir(), Offline: true})
		if err == nil {
			t.Fatalf("%q accepted", name)
		}
		if name != "" && !strings.Contains(err.Error(), "CS-ViT-B/16") {
			t.Errorf("%q: error does not list the valid names: %v", name, err)
		}
	}
	_, err := Load(context.Background(), "/nonexistent/model.pt", LoadOptions{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestLoadFiles(t *testing.T) {
	cases := []struct {
		file    string
		naming  Naming
		exact   bool
		goldenF string
	}{
		{"vit16.openai.safetensors", NamingOpenAI, true, "vit16/surgery/demo_224/image_features_raw.f32.npy"},
		{"vit16.hf.safetensors", NamingHF, true, "vit16/surgery/demo_224/image_features_raw.f32.npy"},
		{"vit16.openai.jit.pt", NamingOpenAI, false, "vit16/surgery/demo_224/image_features_raw.f32.npy"},
		// Image tower only: the text tower comes from the "text_tower_from" metadata.
		{"rn.openai.safetensors", NamingOpenAI, true, "rn/surgery/demo_224/image_features_raw.f32.npy"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			m, err := Load(context.Background(), goldens.Path(t, "models", c.file), LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			size := m.Config.ImageResolution
			if size != 224 || m.Method != MethodSurgery || m.Naming != c.naming {
				t.Fatalf("size %d method %q naming %s", size, m.Method, m.Naming)
			}
			f := encodeGoldenImage(t, m, size, SurgeryOptions())
			want := goldens.Load(t, c.goldenF)
			if c.exact {
				goldens.AssertClose(t, c.file, f.Data, f.Shape, want, atol, rtol)
			} else if d := maxRelDiff(f.Data, want.F32); d > 5e-3 {
				t.Errorf("image tokens off by %.3g (relative)", d)
			}
			if _, ok := m.Weight("token_embedding.weight"); !ok {
				t.Error("no text tower")
			}
		})
	}
}

func TestLoadVisualOnlyNeedsTextTower(t *testing.T) {
	ck, err := weights.ReadSafetensors(goldens.Path(t, "models", "rn.openai.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var list []*weights.Tensor
	for _, n := range ck.Names() {
		list = append(list, ck.Tensors[n])
	}
	bare := filepath.Join(t.TempDir(), "rn_visual.safetensors")
	if err := weights.WriteSafetensors(bare, list, nil); err != nil { // no text_tower_from metadata
		t.Fatal(err)
	}
	if _, err := Load(context.Background(), bare, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "text tower") {
		t.Fatalf("visual-only file without a text tower: %v", err)
	}
	m, err := Load(context.Background(), bare, LoadOptions{TextTower: goldens.Path(t, "models", "vit16.hf.safetensors")})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := loadGoldenModel(t, "vit16").Weight("token_embedding.weight")
	got, _ := m.Weight("token_embedding.weight")
	if len(got) != len(want) || maxRelDiff(got, want) != 0 {
		t.Error("text tower taken from the HF file differs from vit16's")
	}
}

func TestLoadCorruptFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "broken.safetensors")
	if err := os.WriteFile(p, []byte("\x10\x00\x00\x00\x00\x00\x00\x00{not json at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(context.Background(), p, LoadOptions{}); err == nil {
		t.Fatal("corrupt checkpoint accepted")
	}
}

// TestLoadScalarsMustAgree: TorchScript-style input_resolution / context_length / vocab_size scalars
// are checked against the shapes (here a safetensors file carrying a wrong input_resolution).
func TestLoadScalarsMustAgree(t *testing.T) {
	ck, err := weights.ReadSafetensors(goldens.Path(t, "models", "vit16.openai.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(res int64) string {
		list := []*weights.Tensor{{Name: "input_resolution", Shape: []int{}, DType: "I64", I64: []int64{res}}}
		for _, n := range ck.Names() {
			list = append(list, ck.Tensors[n])
		}
		p := filepath.Join(t.TempDir(), "vit16_res.safetensors")
		if err := weights.WriteSafetensors(p, list, nil); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if m, err := Load(context.Background(), write(224), LoadOptions{}); err != nil || m.Config.ImageResolution != 224 {
		t.Fatalf("agreeing scalar: %v", err)
	}
	if _, err := Load(context.Background(), write(336), LoadOptions{}); err == nil || !strings.Contains(err.Error(), "input_resolution 336") {
		t.Fatalf("disagreeing scalar: %v", err)
	}
}

// TestLoadFileMatchesHostTensors: LoadFile reads the weights straight from the file into the
// backend (weights.Open); every weight equals, bit for bit, the model built from host tensors
// (weights.Read + NewModel), for safetensors in both namings and the float16 TorchScript file.
func TestLoadFileMatchesHostTensors(t *testing.T) {
	for _, file := range []string{"vit16.openai.safetensors", "vit16.hf.safetensors", "vit16.openai.jit.pt"} {
		t.Run(file, func(t *testing.T) {
			path := goldens.Path(t, "models", file)
			got, err := LoadFile(path, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ck, err := weights.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			want, err := NewModel(ck.Tensors, got.Backend())
			if err != nil {
				t.Fatal(err)
			}
			names := want.weights.Names()
			if strings.Join(got.weights.Names(), ",") != strings.Join(names, ",") {
				t.Fatalf("weight names differ")
			}
			for _, name := range names {
				g, _ := got.Weight(name)
				w, _ := want.Weight(name)
				if len(g) != len(w) {
					t.Fatalf("%s: %d vs %d values", name, len(g), len(w))
				}
				for i := range g {
					if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
						t.Fatalf("%s[%d]: %v from the file, %v from host tensors", name, i, g[i], w[i])
					}
				}
			}
		})
	}
}
