package clip

import (
	"os"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/xlabackend"
	"github.com/gomlx/compute"
)

// xlaBackends returns an XLA backend for each PJRT plugin this machine can run ("cpu"; "cuda"
// with an NVIDIA GPU), or skips the test naming what it looked for: a binary built with
// -tags xla, plugin files in PJRT_PLUGIN_LIBRARY_PATH or go-xla's default directories. Not a
// CI failure: plugins are installed by users, CI here has none (README, Backends).
func xlaBackends(t *testing.T) map[string]compute.Backend {
	t.Helper()
	if !xlabackend.Linked {
		t.Skip("XLA parity: built without the xla tag (go test -tags xla)")
	}
	dirs := xlabackend.SearchDirs()
	plugins := []string{"cpu"}
	if xlabackend.HasNVIDIAGPU() {
		plugins = append(plugins, "cuda")
	}
	backends := map[string]compute.Backend{}
	for _, name := range plugins {
		if _, found := xlabackend.FindPlugin(name, dirs); !found {
			continue
		}
		b, err := xlabackend.New("xla:" + name)
		if err != nil {
			t.Fatalf("plugin %q found but unusable: %v", name, err)
		}
		t.Cleanup(b.Finalize)
		backends[name] = b
	}
	if len(backends) == 0 {
		_, set := os.LookupEnv(xlabackend.PluginPathEnv)
		t.Skipf("XLA parity: no PJRT plugin %q in %s (%s set: %v); see README, Backends, to install one",
			plugins, strings.Join(dirs, ":"), xlabackend.PluginPathEnv, set)
	}
	return backends
}

// The golden parity checks of the image and text encoders, on XLA, with the tolerances of the
// go backend's tests.
func TestXLAParity(t *testing.T) {
	for plugin, backend := range xlaBackends(t) {
		t.Run(plugin, func(t *testing.T) { checkParityOn(t, backend) })
	}
}

// checkParityOn runs the golden checks of both encoders on backend.
func checkParityOn(t *testing.T, backend compute.Backend) {
	for _, c := range []struct {
		model, golden string
		size          int
		opt           ImageOptions
	}{
		{"vit16", "vit16/clip/demo_224", 224, ImageOptions{}},
		{"vit16", "vit16/surgery/demo_512", 512, SurgeryOptions()},
		{"vit16.hf", "vit16/surgery/demo_512", 512, SurgeryOptions()},
		{"rn", "rn/clip/demo_224", 224, ImageOptions{}},
		{"rn", "rn/surgery/demo_512", 512, SurgeryOptions()},
	} {
		m := loadGoldenModelOn(t, c.model, backend)
		f := encodeGoldenImage(t, m, c.size, c.opt)
		goldens.AssertClose(t, c.model+" "+c.golden, f.Data, f.Shape, goldens.Load(t, c.golden+"/image_features_raw.f32.npy"), atol, rtol)
	}
	m := loadGoldenModelOn(t, "vit16", backend)
	raw, err := m.EncodeTokenRows(rowsOf(goldens.Load(t, "tokenizer/prompt_ensemble_ids.int32.npy")))
	if err != nil {
		t.Fatal(err)
	}
	goldens.AssertClose(t, "encode_text 59x85", raw.Data, []int{59, 85, 64}, goldens.Load(t, "text/encode_text_raw_all59x85.f32.npy"), atol, rtol)
}
