package embedcache

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// vec is the value the tests store under key i: distinct per key and per position.
func vec(i, n int) []float32 {
	v := make([]float32, n)
	for j := range v {
		v[j] = float32(i)*1000 + float32(j) + 0.25
	}
	return v
}

func key(i int) Key { return KeyOf([]byte("test"), []byte(strconv.Itoa(i))) }

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPutGetRoundTrip(t *testing.T) {
	c := Open(t.TempDir(), Options{})
	if _, ok := c.Get(key(1)); ok {
		t.Fatal("empty cache returned an entry")
	}
	c.Put(key(1), vec(1, 64))
	got, ok := c.Get(key(1))
	if !ok || !equal(got, vec(1, 64)) {
		t.Fatalf("got %v %v, want the stored vector", ok, got[:min(3, len(got))])
	}
	if _, ok := c.Get(key(2)); ok {
		t.Fatal("another key returned an entry")
	}
	// A second handle (another process) sees it too.
	if got, ok := Open(c.Dir(), Options{}).Get(key(1)); !ok || !equal(got, vec(1, 64)) {
		t.Fatal("a new handle does not see the stored entry")
	}
	st, err := c.Stats()
	if err != nil || st.Entries != 1 || st.Bytes != int64(headerLen+4*64+trailLen) {
		t.Fatalf("stats %+v %v, want 1 entry of %d bytes", st, err, headerLen+4*64+trailLen)
	}
	if err := c.Clear(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(key(1)); ok {
		t.Fatal("entry survived Clear")
	}
}

func TestKeyOfIsUnambiguous(t *testing.T) {
	if KeyOf([]byte("ab"), []byte("c")) == KeyOf([]byte("a"), []byte("bc")) {
		t.Fatal("length prefixes missing: different part lists collide")
	}
}

// Every way a file can be damaged is a miss, and the damaged file is removed so a Put replaces it.
func TestDamagedEntriesAreMisses(t *testing.T) {
	good := encode(key(7), float32Bytes(vec(7, 16)))
	damage := map[string]func([]byte) []byte{
		"truncated":      func(b []byte) []byte { return b[:len(b)-5] },
		"empty":          func(b []byte) []byte { return nil },
		"flipped value":  func(b []byte) []byte { b[headerLen+3] ^= 0x10; return b },
		"flipped crc":    func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
		"wrong magic":    func(b []byte) []byte { b[0] = 'X'; return b },
		"other key":      func(b []byte) []byte { return encode(key(8), float32Bytes(vec(7, 16))) },
		"extra bytes":    func(b []byte) []byte { return append(b, 0, 0, 0, 0) },
		"odd value size": func(b []byte) []byte { return encode(key(7), []byte{1, 2, 3}) },
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			c := Open(t.TempDir(), Options{})
			p := c.entryPath(key(7))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, f(bytes.Clone(good)), 0o644); err != nil {
				t.Fatal(err)
			}
			if v, ok := c.Get(key(7)); ok {
				t.Fatalf("damaged entry used: %v", v[:min(3, len(v))])
			}
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Fatalf("damaged entry not removed: %v", err)
			}
			c.Put(key(7), vec(7, 16))
			if v, ok := c.Get(key(7)); !ok || !equal(v, vec(7, 16)) {
				t.Fatal("rewritten entry not read back")
			}
		})
	}
}

// A folder that cannot be created (its parent is a file: fails for root too): one warning for
// many writes, never a failure, every read a miss.
func TestUncreatableFolderWarnsOnce(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(parent, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var warn bytes.Buffer
	c := Open(filepath.Join(parent, "cache"), Options{Warn: &warn})
	for i := 0; i < 5; i++ {
		c.Put(key(i), vec(i, 8))
	}
	c.RememberFileDigest([][]byte{[]byte("id")}, key(9))
	if n := strings.Count(warn.String(), "warning:"); n != 1 || !strings.Contains(warn.String(), "cannot be written") {
		t.Fatalf("want one warning, got %d: %q", n, warn.String())
	}
	if _, ok := c.Get(key(1)); ok {
		t.Fatal("entry in a folder that was never written")
	}
	if err := c.Trim(); err != nil {
		t.Fatal(err)
	}
}

// A read-only folder holding an entry: served, nothing written, one warning.
func TestReadOnlyFolderServesAndWarnsOnce(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only folders (TestUncreatableFolderWarnsOnce covers the warning)")
	}
	dir := t.TempDir()
	seed := Open(dir, Options{})
	seed.Put(key(1), vec(1, 8))
	sub := filepath.Dir(seed.entryPath(key(1)))
	for _, d := range []string{dir, filepath.Join(dir, version), sub} {
		if err := os.Chmod(d, 0o555); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(d, 0o755)
	}
	var warn bytes.Buffer
	ro := Open(dir, Options{Warn: &warn})
	if v, ok := ro.Get(key(1)); !ok || !equal(v, vec(1, 8)) {
		t.Fatal("read-only cache does not serve its entry")
	}
	ro.Put(key(2), vec(2, 8))
	ro.Put(key(3), vec(3, 8))
	if n := strings.Count(warn.String(), "warning:"); n != 1 {
		t.Fatalf("want one warning, got %q", warn.String())
	}
}

// Trim removes the least recently used entries down to 90% of MaxBytes, and only after writes.
func TestTrimEvictsOldestFirst(t *testing.T) {
	size := int64(headerLen + 4*32 + trailLen)
	c := Open(t.TempDir(), Options{MaxBytes: 10 * size})
	old := time.Now().Add(-48 * time.Hour)
	for i := 0; i < 15; i++ {
		c.Put(key(i), vec(i, 32))
		at := old.Add(time.Duration(i) * time.Minute) // key 0 oldest
		os.Chtimes(c.entryPath(key(i)), at, at)
	}
	if _, ok := c.Get(key(2)); !ok { // a read refreshes key 2: it must survive
		t.Fatal("missing entry")
	}
	if err := c.Trim(); err != nil {
		t.Fatal(err)
	}
	st, _ := c.Stats()
	if st.Entries != 9 {
		t.Fatalf("%d entries after Trim, want 9 (90%% of 10)", st.Entries)
	}
	for i, want := range map[int]bool{0: false, 1: false, 2: true, 3: false, 6: false, 7: true, 14: true} {
		if _, ok := c.Get(key(i)); ok != want {
			t.Errorf("key %d present=%v, want %v", i, ok, want)
		}
	}
	// No writes since: Trim does nothing even over the cap.
	small := Open(c.Dir(), Options{MaxBytes: size})
	if err := small.Trim(); err != nil {
		t.Fatal(err)
	}
	if st2, _ := c.Stats(); st2.Entries != 9 {
		t.Fatalf("Trim without writes removed entries: %d", st2.Entries)
	}
}

func TestFileDigestFollowsFileIdentity(t *testing.T) {
	c := Open(t.TempDir(), Options{})
	f := filepath.Join(t.TempDir(), "w.bin")
	os.WriteFile(f, []byte("weights"), 0o644)
	identity := func() [][]byte {
		id, ok := FileIdentity(f)
		if !ok {
			t.Fatal("no identity for an existing file")
		}
		return [][]byte{id}
	}
	d := KeyOf([]byte("digest"))
	if _, ok := c.FileDigest(identity()); ok {
		t.Fatal("digest before remembering")
	}
	c.RememberFileDigest(identity(), d)
	if got, ok := c.FileDigest(identity()); !ok || got != d {
		t.Fatal("remembered digest not found")
	}
	if _, ok := c.FileDigest(append(identity(), identity()...)); ok {
		t.Fatal("another file list shares the digest")
	}
	later := time.Now().Add(time.Hour)
	os.Chtimes(f, later, later)
	if _, ok := c.FileDigest(identity()); ok {
		t.Fatal("digest survived a changed modification time")
	}
	c.RememberFileDigest(identity(), d)
	os.WriteFile(f, []byte("weights, rewritten"), 0o644)
	os.Chtimes(f, later, later)
	if _, ok := c.FileDigest(identity()); ok {
		t.Fatal("digest survived a changed size")
	}
	if _, ok := FileIdentity(filepath.Join(t.TempDir(), "missing")); ok {
		t.Fatal("identity for a missing file")
	}
	if _, ok := c.FileDigest(nil); ok {
		t.Fatal("digest for no files")
	}
}

const childEnv = "EMBEDCACHE_TEST_CHILD" // "dir,worker": run as a writer process

// TestMain lets the test binary act as one of several writer processes.
func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		dir, w, _ := strings.Cut(v, ",")
		n, _ := strconv.Atoi(w)
		if err := fill(dir, n); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const nKeys, dim = 200, 512

// fill writes and reads back every key, starting at a worker-dependent key so that writers of
// one key overlap; any wrong value read is an error.
func fill(dir string, worker int) error {
	c := Open(dir, Options{MaxBytes: 1 << 40})
	for j := 0; j < nKeys; j++ {
		i := (j + worker*37) % nKeys
		if v, ok := c.Get(key(i)); ok && !equal(v, vec(i, dim)) {
			return fmt.Errorf("worker %d: key %d holds a wrong value", worker, i)
		}
		c.Put(key(i), vec(i, dim))
		if v, ok := c.Get(key(i)); !ok || !equal(v, vec(i, dim)) {
			return fmt.Errorf("worker %d: key %d not read back right after writing (ok=%v)", worker, i, ok)
		}
	}
	return nil
}

// Several processes (and goroutines with handles of their own) fill one folder at once: every
// read sees a whole, right entry, and the folder ends with exactly one right entry per key.
func TestConcurrentProcessesNeverTear(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const procs, goroutines = 4, 4
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for p := 0; p < procs; p++ {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%d", childEnv, dir, p))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, &out)
	}
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			if err := fill(dir, procs+g); err != nil {
				t.Error(err)
			}
		}(g)
	}
	wg.Wait()
	for p, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("writer process %d: %v: %s", p, err, outs[p])
		}
	}
	c := Open(dir, Options{})
	for i := 0; i < nKeys; i++ {
		if v, ok := c.Get(key(i)); !ok || !equal(v, vec(i, dim)) {
			t.Fatalf("key %d: ok=%v, wrong or missing after concurrent filling", i, ok)
		}
	}
	if st, _ := c.Stats(); st.Entries != nKeys {
		t.Fatalf("%d entries, want %d (leftover temporary files or duplicates)", st.Entries, nKeys)
	}
}

// BenchmarkPutGet5015 stores and reads back the demo's 5015 prompt embeddings (ViT-B: 512 floats).
func BenchmarkPutGet5015(b *testing.B) {
	for range b.N {
		c := Open(b.TempDir(), Options{})
		t0 := time.Now()
		for i := range 5015 {
			c.Put(key(i), vec(i, 512))
		}
		t1 := time.Now()
		for i := range 5015 {
			if _, ok := c.Get(key(i)); !ok {
				b.Fatal("miss")
			}
		}
		b.ReportMetric(t1.Sub(t0).Seconds(), "put_s")
		b.ReportMetric(time.Since(t1).Seconds(), "get_s")
	}
}
