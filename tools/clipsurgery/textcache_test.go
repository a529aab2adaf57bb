package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
)

// -templates: custom templates reach the ensemble (other maps than the default's), and bad ones
// are one-line errors with nothing written.
func TestCLITemplates(t *testing.T) {
	dir := t.TempDir()
	src := demoPNG(t, dir)
	w := tinyWeights(t)
	cache := t.TempDir()
	tmplFile := filepath.Join(dir, "templates.txt")
	os.WriteFile(tmplFile, []byte("# mine\na photo of a {}.\n\na {}, seen from afar.\n"), 0o644)
	maps := map[string][]float32{}
	for name, args := range map[string][]string{
		"default": nil,
		"list":    {"-templates", "a photo of a {}.,a {} seen from afar."},
		"file":    {"-templates", "@" + tmplFile},
	} {
		out := t.TempDir()
		all := append([]string{"-image", src, "-text", "bench", "-weights", w, "-cache", cache, "-npy", "-json", "-out", out}, args...)
		if _, _, err := runCLI(t, all...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		maps[name] = readNpy(t, filepath.Join(out, "demo_bench.npy"))
		// The .npy and .json outputs get the PNG's permissions.
		png, _ := os.Stat(filepath.Join(out, "demo_bench.png"))
		for _, f := range []string{"demo_bench.npy", "demo_points.json"} {
			st, err := os.Stat(filepath.Join(out, f))
			if err != nil || st.Mode().Perm() != png.Mode().Perm() {
				t.Errorf("%s: %s mode %v, the PNG's %v (%v)", name, f, st.Mode().Perm(), png.Mode().Perm(), err)
			}
		}
	}
	if same(maps["default"], maps["list"]) || same(maps["list"], maps["file"]) {
		t.Error("-templates does not change the map (default, list and file templates should all differ)")
	}

	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, []byte("# nothing\n\n"), 0o644)
	for _, c := range []struct{ name, v, want string }{
		{"no placeholder", "a photo of a {}.,a photo", `template "a photo" has no {}`},
		{"empty list", " , ", "no templates"},
		{"empty file", "@" + empty, "holds no templates"},
		{"missing file", "@" + filepath.Join(dir, "nope.txt"), "-templates"},
	} {
		out := t.TempDir()
		_, _, err := runCLI(t, "-image", src, "-text", "bench", "-weights", w, "-templates", c.v, "-out", out)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(cli.OneLine(err.Error()), "\n") {
			t.Errorf("%s: error %v, want one line containing %q", c.name, err, c.want)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("%s: %d files written on error", c.name, len(entries))
		}
	}
}

func same(a, b []float32) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// The text cache: filled by a run, the same maps from it, shown and cleared by the cache commands,
// left alone by -no-text-cache.
func TestCLITextCache(t *testing.T) {
	dir := t.TempDir()
	src := demoPNG(t, dir)
	w := tinyWeights(t)
	cache := t.TempDir()
	run := func(extra ...string) []float32 {
		out := t.TempDir()
		args := append([]string{"-image", src, "-text", "bench", "-labels", "person,bench,grass", "-weights", w,
			"-cache", cache, "-npy", "-out", out}, extra...)
		if _, stderr, err := runCLI(t, args...); err != nil || stderr != "" {
			t.Fatalf("%v %q", err, stderr)
		}
		return readNpy(t, filepath.Join(out, "demo_bench.npy"))
	}
	info := func(extra ...string) string {
		stdout, _, err := runCLI(t, append([]string{"-cache", cache}, extra...)...)
		if err != nil {
			t.Fatal(err)
		}
		return stdout
	}
	uncached := run("-no-text-cache")
	if out := info("-text-cache-info"); !strings.Contains(out, ": 0 prompt embeddings") {
		t.Fatalf("-no-text-cache stored embeddings: %s", out)
	}
	cold := run()
	want := 3 * len(clip.DefaultTemplates())
	if out := info("-text-cache-info"); !strings.Contains(out, filepath.Join(cache, clip.TextCacheSubdir)) ||
		!strings.Contains(out, ": "+strconv.Itoa(want)+" prompt embeddings") {
		t.Fatalf("after one run: %s, want %d embeddings", out, want)
	}
	warm := run()
	if !same(uncached, cold) || !same(cold, warm) {
		t.Fatal("maps from the cache differ from computed ones")
	}
	t.Setenv(clip.EnvTextCache, "0")
	if out := info("-text-cache-clear"); !strings.Contains(out, ": 0 prompt embeddings") || !strings.Contains(out, "off") {
		t.Fatalf("after -text-cache-clear: %s", out)
	}
	run()
	if out := info("-text-cache-info"); !strings.Contains(out, ": 0 prompt embeddings") {
		t.Fatalf("%s=0 stored embeddings: %s", clip.EnvTextCache, out)
	}
}
