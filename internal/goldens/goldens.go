// Package goldens finds the reference outputs in ../shared/golden for the parity tests.
//
// The folder sits beside the repository in CI and on developers' machines, not on a user's: there the
// tests that need it skip with a message saying so. Under CI (CI=true) a missing folder is a failure,
// so that CI never passes by skipping the parity tests. CLIPSURGERY_GOLDEN overrides the location.
package goldens

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/npy"
)

// Dir returns the golden folder, or skips (fails under CI) when it is absent.
func Dir(t testing.TB) string {
	t.Helper()
	dir, ok := Find()
	if !ok {
		msg := "golden data not found: set CLIPSURGERY_GOLDEN or place shared/golden beside the repository (../shared/golden)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI must run the parity tests)")
		}
		t.Skip(msg)
	}
	return dir
}

// Find locates the golden folder without a test.
func Find() (string, bool) {
	if d := os.Getenv("CLIPSURGERY_GOLDEN"); d != "" {
		return d, isDir(d)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	// The first module root with ../shared/golden beside it: a nested module (tools/pipeline) has
	// none beside its own go.mod and finds the repository's.
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if g := filepath.Join(dir, "..", "shared", "golden"); isDir(g) {
				return g, true
			}
		}
		if filepath.Dir(dir) == dir {
			return "", false
		}
	}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// Path joins parts under the golden folder (skipping the test when it is absent).
func Path(t testing.TB, parts ...string) string {
	t.Helper()
	return filepath.Join(append([]string{Dir(t)}, parts...)...)
}

// Load reads one golden .npy file, failing the test when it cannot.
func Load(t testing.TB, rel string) *npy.Array {
	t.Helper()
	a, err := npy.ReadFile(Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// AssertClose fails unless got (with shape) matches the golden array elementwise within
// |got-want| <= atol + rtol*|want|, reporting the worst element. NaN never matches.
func AssertClose(t testing.TB, name string, got []float32, shape []int, want *npy.Array, atol, rtol float64) {
	t.Helper()
	if fmt.Sprint(shape) != fmt.Sprint(want.Shape) {
		t.Errorf("%s: shape %v, golden %v", name, shape, want.Shape)
		return
	}
	if len(got) != len(want.F32) {
		t.Errorf("%s: %d values, golden %d", name, len(got), len(want.F32))
		return
	}
	worst, worstAt, bad := 0.0, -1, 0
	for i, g := range got {
		w := float64(want.F32[i])
		d := math.Abs(float64(g) - w)
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		if d > atol+rtol*math.Abs(w) {
			bad++
		}
		if d > worst || worstAt < 0 {
			worst, worstAt = d, i
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values off (atol %g, rtol %g); worst |diff| %.3g at %d (got %g, golden %g)",
			name, bad, len(got), atol, rtol, worst, worstAt, got[worstAt], want.F32[worstAt])
		return
	}
	t.Logf("%s: max |diff| %.3g over %d values", name, worst, len(got))
}
