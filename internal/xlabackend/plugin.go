package xlabackend

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

// PluginPathEnv is go-xla's variable naming the directories (":"-separated) searched for PJRT
// plugins; when set, only those are searched.
const PluginPathEnv = "PJRT_PLUGIN_LIBRARY_PATH"

// pluginFileName extracts a plugin's name from its file name, as go-xla's pjrt package names
// them: pjrt_c_api_NAME_plugin.so (the installer's layout) or pjrt[-_]plugin[-_]NAME.so.
var pluginFileName = []*regexp.Regexp{
	regexp.MustCompile(`^pjrt_c_api_(.+)_plugin\.(so|dylib|dll)$`),
	regexp.MustCompile(`^pjrt[-_]plugin[-_](.+)\.(so|dylib|dll)$`),
}

// PluginName returns the plugin name a file name stands for ("" if it is not a plugin's name).
func PluginName(file string) string {
	for _, re := range pluginFileName {
		if m := re.FindStringSubmatch(filepath.Base(file)); m != nil {
			return m[1]
		}
	}
	return ""
}

// SearchDirs are the directories searched for PJRT plugins, in go-xla's order: those of
// PJRT_PLUGIN_LIBRARY_PATH when it is set; otherwise the installer's per-user and system
// directories (and their nvidia/ subdirectories, where the CUDA plugin goes), gopjrt's old ones,
// LD_LIBRARY_PATH, and the directories of /etc/ld.so.conf.
func SearchDirs() []string {
	if env, ok := os.LookupEnv(PluginPathEnv); ok {
		var dirs []string
		for _, d := range strings.Split(env, ":") {
			if d != "" {
				dirs = append(dirs, d)
			}
		}
		return dirs
	}
	var dirs []string
	if home, err := os.UserHomeDir(); err == nil {
		local := filepath.Join(home, ".local", "lib", "go-xla")
		if runtime.GOOS == "darwin" {
			local = filepath.Join(home, "Library", "Application Support", "go-xla")
		}
		dirs = append(dirs, local, filepath.Join(local, "nvidia"), filepath.Join(home, ".local", "lib", "gomlx", "pjrt"))
	}
	dirs = append(dirs, "/usr/local/lib/go-xla", "/usr/local/lib/go-xla/nvidia", "/usr/local/lib/gomlx/pjrt")
	for _, d := range strings.Split(os.Getenv("LD_LIBRARY_PATH"), ":") {
		if filepath.IsAbs(d) {
			dirs = append(dirs, d)
		}
	}
	return ldSoConfDirs(dirs, "/etc/ld.so.conf", 0)
}

// ldSoConfDirs appends the directories listed in an ld.so.conf file, following its includes
// (depth-limited, so an include cycle ends).
func ldSoConfDirs(dirs []string, file string, depth int) []string {
	f, err := os.Open(file)
	if err != nil || depth > 8 {
		return dirs
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if rest, ok := strings.CutPrefix(line, "include"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			pattern := strings.TrimSpace(rest)
			if !filepath.IsAbs(pattern) {
				pattern = filepath.Join(filepath.Dir(file), pattern)
			}
			matches, _ := filepath.Glob(pattern)
			for _, m := range matches {
				dirs = ldSoConfDirs(dirs, m, depth+1)
			}
		} else if filepath.IsAbs(line) {
			dirs = append(dirs, line)
		}
	}
	return dirs
}

// FindPlugin returns the path of the PJRT plugin called name ("cpu", "cuda", …; a versioned
// file such as pjrt_c_api_cpu_v0.114.0_plugin.so also answers to "cpu") in dirs, in order. An
// exactly named plugin wins over a versioned one. Files are only listed, not opened.
func FindPlugin(name string, dirs []string) (string, bool) {
	versioned := ""
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			switch n := PluginName(e.Name()); {
			case n == name:
				return filepath.Join(dir, e.Name()), true
			case versioned == "" && strings.HasPrefix(n, name+"_v"):
				versioned = filepath.Join(dir, e.Name())
			}
		}
	}
	return versioned, versioned != ""
}

// pjrtEntryPoint is the symbol every PJRT plugin exports (go-xla's pjrt.GetPJRTApiFunctionName).
const pjrtEntryPoint = "GetPjrtApi"

// elfMachine is the ELF machine of this process's architecture, for the architectures that
// PJRT plugins are built for.
var elfMachine = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// CheckPlugin tells whether path can be a PJRT plugin for this process without loading it: an
// existing regular file and, where plugins are ELF files (Linux), a shared library of this
// machine's architecture that exports GetPjrtApi. Loading a file that fails these checks would
// make go-xla fail later with a dlopen message, or (when found by searching) panic.
func CheckPlugin(path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s does not exist", ErrNoPlugin, path)
	case err != nil:
		return fmt.Errorf("%w: %v", ErrBadPlugin, err)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%w: %s is not a regular file", ErrBadPlugin, path)
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" {
		return nil // Mach-O / PE: left to the loader
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %s is not a shared library (%v)", ErrBadPlugin, path, err)
	}
	defer f.Close()
	if f.Type != elf.ET_DYN {
		return fmt.Errorf("%w: %s is an ELF %s, not a shared library", ErrBadPlugin, path, f.Type)
	}
	if want, ok := elfMachine[runtime.GOARCH]; ok && f.Machine != want {
		return fmt.Errorf("%w: %s is built for %s, this machine is %s", ErrBadPlugin, path, f.Machine, runtime.GOARCH)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return fmt.Errorf("%w: %s has no readable dynamic symbols (%v)", ErrBadPlugin, path, err)
	}
	for _, s := range syms {
		if s.Name == pjrtEntryPoint && s.Section != elf.SHN_UNDEF {
			return nil
		}
	}
	return fmt.Errorf("%w: %s does not export %s, so it is not a PJRT plugin", ErrBadPlugin, path, pjrtEntryPoint)
}

// IsCUDAName reports whether a plugin name or path stands for NVIDIA's CUDA plugin (go-xla's
// rule: it contains "cuda" or "nvidia", any case).
func IsCUDAName(name string) bool {
	u := strings.ToUpper(name)
	return strings.Contains(u, "CUDA") || strings.Contains(u, "NVIDIA")
}

// HasNVIDIAGPU reports whether an NVIDIA GPU's device files (/dev/nvidia*) exist, the first of
// the checks go-xla makes before it uses a CUDA plugin. (go-xla then also runs nvidia-smi; a
// machine with the driver loaded has the device files.)
func HasNVIDIAGPU() bool {
	m, _ := filepath.Glob("/dev/nvidia*")
	return len(m) > 0
}
