package xlabackend

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// writeFile creates dir/name with data and returns its path.
func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sharedLibrary returns a system ELF shared library that is not a PJRT plugin ("" if none).
func sharedLibrary() string {
	for _, pattern := range []string{"/lib/*-linux-gnu/libm.so.6", "/usr/lib/*-linux-gnu/libm.so.6", "/lib64/libm.so.6"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return m[0]
		}
	}
	return ""
}

// Every bad choice of backend fails at once with one line that names the value and the fix,
// and with the sentinel for errors.Is; in a build without the xla tag every XLA choice says so.
func TestNewRefusesBadChoices(t *testing.T) {
	empty := t.TempDir() // a plugin directory without plugins
	bad := t.TempDir()   // a plugin directory whose "cpu" plugin is an empty file
	writeFile(t, bad, "pjrt_c_api_cpu_plugin.so", "")
	emptyFile := writeFile(t, t.TempDir(), "pjrt_c_api_cpu_plugin.so", "")
	textFile := writeFile(t, t.TempDir(), "plugin.so", "not a library\n")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	xla := func(linked error) error { // the error an XLA choice gives in this build
		if !Linked {
			return ErrNotLinked
		}
		return linked
	}
	cases := []struct {
		name, config, pluginPath string // pluginPath: PJRT_PLUGIN_LIBRARY_PATH
		want                     error
		mention                  []string // what the line must name
	}{
		{"unknown name", "tpu9:fast", empty, ErrUnknownBackend, []string{`"tpu9"`, `"go"`, "xla:cpu"}},
		{"unknown name, no config", "gpu", empty, ErrUnknownBackend, []string{`"gpu"`}},
		{"xla cpu, no plugin", "xla:cpu", empty, xla(ErrNoPlugin), []string{`"cpu"`, "pjrt_installer", "-plugin=cpu", PluginPathEnv}},
		{"xla alone, no plugin", "xla", empty, xla(ErrNoPlugin), []string{`"cpu"`, "pjrt_installer"}},
		{"alias, no plugin", "stablehlo:cpu", empty, xla(ErrNoPlugin), []string{"pjrt_installer"}},
		{"plugin file missing", "xla:/nonexistent/pjrt_c_api_cpu_plugin.so", empty, xla(ErrNoPlugin),
			[]string{"/nonexistent/pjrt_c_api_cpu_plugin.so", "does not exist", "pjrt_installer"}},
		{"plugin path is a directory", "xla:" + empty, empty, xla(ErrBadPlugin), []string{empty, "not a regular file"}},
		{"plugin is an empty file", "xla:" + emptyFile, empty, xla(ErrBadPlugin), []string{emptyFile, "not a shared library"}},
		{"plugin is a text file", "xla:" + textFile, empty, xla(ErrBadPlugin), []string{textFile, "not a shared library"}},
		{"plugin is an executable", "xla:" + self, empty, xla(ErrBadPlugin), []string{self}},
		{"found plugin is an empty file", "xla:cpu", bad, xla(ErrBadPlugin),
			[]string{filepath.Join(bad, "pjrt_c_api_cpu_plugin.so"), "remove or reinstall it"}},
	}
	if lib := sharedLibrary(); lib != "" {
		cases = append(cases, struct {
			name, config, pluginPath string
			want                     error
			mention                  []string
		}{"plugin is another library", "xla:" + lib, empty, xla(ErrBadPlugin), []string{lib, "GetPjrtApi"}})
	}
	if !HasNVIDIAGPU() {
		cases = append(cases, struct {
			name, config, pluginPath string
			want                     error
			mention                  []string
		}{"cuda without a GPU", "xla:cuda", empty, xla(ErrNoGPU), []string{`"cuda"`, "xla:cpu"}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(PluginPathEnv, c.pluginPath)
			b, err := New(c.config)
			if err == nil {
				b.Finalize()
				t.Fatalf("New(%q) succeeded", c.config)
			}
			msg := err.Error()
			t.Log(msg)
			if !errors.Is(err, c.want) {
				t.Errorf("New(%q) = %q, want errors.Is %q", c.config, msg, c.want)
			}
			if strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			mention := c.mention
			if !Linked && IsXLA(c.config) {
				mention = []string{"-tags xla"}
			}
			for _, m := range mention {
				if !strings.Contains(msg, m) {
					t.Errorf("error %q does not mention %q", msg, m)
				}
			}
		})
	}
}

func TestNewGoBackend(t *testing.T) {
	for _, config := range []string{"", "go", "go:ops_sequential,creation_order"} {
		b, err := New(config)
		if err != nil {
			t.Fatalf("New(%q): %v", config, err)
		}
		if !IsGoBackend(b) {
			t.Errorf("New(%q) = %s, not the go backend", config, b)
		}
		b.Finalize()
	}
	if _, err := New("go:no_such_option"); err == nil || !strings.Contains(err.Error(), "no_such_option") {
		t.Errorf(`New("go:no_such_option") = %v, want an error naming the option`, err)
	}
	if IsGoBackend(nil) {
		t.Error("IsGoBackend(nil) = true")
	}
}

func TestFindPlugin(t *testing.T) {
	first, second := t.TempDir(), t.TempDir()
	writeFile(t, first, "pjrt_c_api_cpu_v0.114.0_plugin.so", "")
	writeFile(t, first, "libfoo.so", "")
	cpu := writeFile(t, second, "pjrt_c_api_cpu_plugin.so", "")
	cuda := writeFile(t, second, "pjrt-plugin-cuda.so", "")
	dirs := []string{filepath.Join(first, "absent"), first, second}
	for _, c := range []struct {
		name, want string
	}{
		{"cpu", cpu}, // the exact name wins over an earlier versioned file
		{"cuda", cuda},
		{"rocm", ""},
	} {
		got, ok := FindPlugin(c.name, dirs)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("FindPlugin(%q) = %q, %v; want %q", c.name, got, ok, c.want)
		}
	}
	if got, _ := FindPlugin("cpu", dirs[:2]); got != filepath.Join(first, "pjrt_c_api_cpu_v0.114.0_plugin.so") {
		t.Errorf("versioned plugin not found: %q", got)
	}
}

func TestSearchDirs(t *testing.T) {
	t.Setenv(PluginPathEnv, "/a::/b")
	if got := SearchDirs(); strings.Join(got, ",") != "/a,/b" {
		t.Errorf("SearchDirs() = %q with %s=/a::/b", got, PluginPathEnv)
	}
	os.Unsetenv(PluginPathEnv) // t.Setenv restores it
	t.Setenv("LD_LIBRARY_PATH", "/opt/x:relative")
	got := SearchDirs()
	if len(got) < 4 || !strings.HasSuffix(got[0], filepath.Join(".local", "lib", "go-xla")) {
		t.Errorf("SearchDirs() = %q, want the per-user go-xla directory first", got)
	}
	if !contains(got, "/usr/local/lib/go-xla") || !contains(got, "/opt/x") || contains(got, "relative") {
		t.Errorf("SearchDirs() = %q", got)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// fakePlugin compiles a shared library exporting GetPjrtApi that returns NULL: it passes
// CheckPlugin, and creating a backend with it must fail with an error, not crash.
func fakePlugin(t *testing.T, dir string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("fake plugin is built for Linux")
	}
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: cannot build a fake plugin")
	}
	src := writeFile(t, dir, "fake.c", "void *GetPjrtApi(void) { return 0; }\n")
	out := filepath.Join(dir, "pjrt_c_api_fake_plugin.so")
	if b, err := exec.Command(cc, "-shared", "-fPIC", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v: %s", err, b)
	}
	return out
}

func TestFakePlugin(t *testing.T) {
	dir := t.TempDir()
	path := fakePlugin(t, dir)
	if err := CheckPlugin(path); err != nil {
		t.Fatalf("CheckPlugin(fake plugin) = %v", err)
	}
	t.Setenv(PluginPathEnv, dir)
	if Linked { // the plugin is resolved to its path; float32 products stay float32 unless asked
		for config, want := range map[string]string{
			"xla:fake":                  "xla:" + path + ",notf32",
			"stablehlo:" + path:         "stablehlo:" + path + ",notf32",
			"xla:fake,tf32":             "xla:" + path + ",tf32",
			"xla:fake,preallocate=true": "xla:" + path + ",preallocate=true,notf32",
			"go:creation_order":         "go:creation_order",
		} {
			if got, err := Prepare(config); got != want || err != nil {
				t.Errorf("Prepare(%q) = %q, %v; want %q", config, got, err, want)
			}
		}
	}
	for _, config := range []string{"xla:fake", "xla:" + path} {
		b, err := New(config)
		if err == nil {
			b.Finalize()
			t.Fatalf("New(%q) with a plugin returning no API succeeded", config)
		}
		t.Log(err)
		if !Linked && !errors.Is(err, ErrNotLinked) {
			t.Errorf("New(%q) = %v, want ErrNotLinked", config, err)
		}
		if Linked && !strings.Contains(err.Error(), path) {
			t.Errorf("New(%q) = %v, want an error naming %s", config, err, path)
		}
		if strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("error is not one line: %q", err)
		}
	}
}
