package goldens

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// ProxyCLIPCase is one ProxyCLIP golden of testdata/dino (its README): the window side, the VFM's
// grid and the segmentor's β and γ.
type ProxyCLIPCase struct {
	Side, Grid  int
	Beta, Gamma float64
}

// ProxyCLIPCases reads the ProxyCLIP goldens listed in the manifest of the DINO golden folder dir
// (testdata/dino, in the repository: never skipped), by VFM ("dino_v1", "dinov2_reg", "sam_tiny").
func ProxyCLIPCases(t testing.TB, dir string) map[string]ProxyCLIPCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var man struct{ Proxyclip map[string]ProxyCLIPCase }
	if err := json.Unmarshal(raw, &man); err != nil {
		t.Fatal(err)
	}
	if len(man.Proxyclip) == 0 {
		t.Fatalf("%s/manifest.json lists no ProxyCLIP case", dir)
	}
	return man.Proxyclip
}
