package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
	"github.com/clipsurgery/clipsurgery/tools/internal/explaincli"
)

// runGuarded is runCLI with a guard against hangs (a FIFO opened for reading blocks forever).
func runGuarded(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	type result struct {
		out, errOut string
		err         error
	}
	done := make(chan result, 1)
	go func() {
		var o, e bytes.Buffer
		err := run(context.Background(), args, &o, &e)
		done <- result{o.String(), e.String(), err}
	}()
	select {
	case r := <-done:
		return r.out, r.errOut, r.err
	case <-time.After(2 * time.Minute):
		t.Fatalf("clipsurgery %v did not return", args)
	}
	return
}

// npyU8 is a .npy header claiming a uint8 array of the given shape text, followed by data.
func npyU8(shape string, data []byte) []byte {
	h := "{'descr': '|u1', 'fortran_order': False, 'shape': (" + shape + "), }\n"
	out := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), byte(len(h)>>8))
	return append(append(out, h...), data...)
}

// Hostile and careless input to the command: each case is refused with a one-line error naming
// the problem, before the model loads (the -weights file of most cases is a truncated checkpoint,
// so reaching the load would fail with a different message), without blocking, and nothing is
// written.
func TestCLIHostileInput(t *testing.T) {
	dir := t.TempDir()
	src := demoPNG(t, dir)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badW := write("cut.safetensors", []byte("\x10\x00\x00\x00\x00\x00\x00\x00{}"))
	fifo := filepath.Join(dir, "pipe.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	fifoLabels := filepath.Join(dir, "labels.fifo")
	syscall.Mkfifo(fifoLabels, 0o644)
	zero := filepath.Join(dir, "zero.npy")
	os.Symlink("/dev/zero", zero)
	bigLabels := write("big.txt", bytes.Repeat([]byte("dog\n"), cli.MaxListFileBytes/4+1))
	var many strings.Builder
	for i := range 5000 {
		many.WriteString("label" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "\n")
	}
	manyLabels := write("many.txt", []byte(many.String()))
	npyBomb := write("bomb.npy", npyU8("4294967296, 4294967296, 3", []byte{1, 2, 3}))
	npyHuge := write("huge.npy", npyU8("20000, 20000", nil))
	sparse := filepath.Join(dir, "sparse.npy")
	os.WriteFile(sparse, npyU8("10, 10", nil), 0o644)
	os.Truncate(sparse, imageprep.DefaultMaxFileBytes+1)
	badPNG := write("broken.png", []byte("\x89PNG\r\n\x1a\nnope"))
	outFile := write("out-is-a-file", []byte("x"))
	collide := t.TempDir()
	for _, n := range []string{"x.jpg", "x.png", "x_jpg.png"} {
		data, _ := os.ReadFile(src)
		os.WriteFile(filepath.Join(collide, n), data, 0o644)
	}

	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"-size 2^32", []string{"-image", src, "-text", "dog", "-size", "4294967296"}, []string{"-size 4294967296"}},
		{"-threshold 0 as float32", []string{"-image", src, "-text", "dog", "-threshold", "1e-50"}, []string{"-threshold", "float32"}},
		{"-labels @FIFO", []string{"-image", src, "-text", "dog", "-labels", "@" + fifoLabels}, []string{"labels.fifo", "not a regular file"}},
		{"-labels @/dev/zero", []string{"-image", src, "-text", "dog", "-labels", "@/dev/zero"}, []string{"/dev/zero", "not a regular file"}},
		{"-labels file over the limit", []string{"-image", src, "-text", "dog", "-labels", "@" + bigLabels}, []string{"big.txt", "above the limit"}},
		{"5000 labels", []string{"-image", src, "-text", "labela", "-labels", "@" + manyLabels}, []string{"5000 labels", "limit of 4096"}},
		{"image is a FIFO", []string{"-image", fifo, "-text", "dog"}, []string{"pipe.png", "not a regular file"}},
		{".npy linked to /dev/zero", []string{"-image", zero, "-text", "dog"}, []string{"zero.npy", "not a regular file"}},
		{".npy shape overflows", []string{"-image", npyBomb, "-text", "dog"}, []string{"bomb.npy", "more elements"}},
		{".npy over MaxPixels", []string{"-image", npyHuge, "-text", "dog"}, []string{"huge.npy"}},
		{".npy over MaxFileBytes", []string{"-image", sparse, "-text", "dog"}, []string{"sparse.npy", "above the limit"}},
		{"bad image before the model", []string{"-image", badPNG, "-text", "dog"}, []string{"broken.png"}},
		{"unknown target before the model", []string{"-image", src, "-text", "unicorn"}, []string{"unicorn", "not in the label set"}},
		{"unwritable out before the model", []string{"-image", src, "-text", "dog", "-out", outFile}, []string{"output folder"}},
		{"targets a b, a_b", []string{"-image", src, "-text", "a b,a_b", "-single"}, []string{`"a b"`, `"a_b"`, "a_b.png"}},
		{"targets a/b, a b", []string{"-image", src, "-text", "a/b", "-text", "a b", "-single"}, []string{`"a/b"`, `"a b"`}},
		{"target spelling the SAM name", []string{"-image", src, "-text", "dog,dog sam", "-single", "-sam", badW}, []string{`"dog"`, `"dog sam"`, "_sam.png"}},
		{"files x.jpg, x.png, x_jpg.png", []string{"-image", collide, "-text", "dog"}, []string{"x.jpg", "x_jpg.png", "x_jpg_dog.png"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			args := append(c.args, "-weights", badW)
			if !strings.Contains(strings.Join(args, " "), "-out ") {
				args = append(args, "-out", out)
			}
			_, _, err := runGuarded(t, args...)
			if err == nil {
				t.Fatal("no error")
			}
			msg := cli.OneLine(err.Error())
			for _, want := range c.want {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not say %q", msg, want)
				}
			}
			if strings.Contains(msg, "cut.safetensors") {
				t.Errorf("the model was loaded before the cheap check: %q", msg)
			}
			if len(msg) > 1000 {
				t.Errorf("message is not one short line (%d bytes): %q", len(msg), msg)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("%d files written on error", len(entries))
			}
			t.Logf("%.300s", msg)
		})
	}
}

// An image error names the path once (it was "X: X: imageprep: …").
func TestCLIImageErrorNamesPathOnce(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "broken.png")
	os.WriteFile(p, []byte("\x89PNG\r\n\x1a\nnope"), 0o644)
	_, err := explaincli.ReadImage(p)
	if err == nil || strings.Count(err.Error(), p) != 1 {
		t.Fatalf("error %v does not name %s exactly once", err, p)
	}
}

// A FIFO with an image extension in a folder is skipped with a message, not opened: the other
// images are explained.
func TestCLIFolderSkipsFIFO(t *testing.T) {
	in, out := t.TempDir(), t.TempDir()
	demoPNG(t, in)
	if err := syscall.Mkfifo(filepath.Join(in, "pipe.jpg"), 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	stdout, stderr, err := runGuarded(t, "-image", in, "-text", "dog", "-weights", tinyWeights(t), "-out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "pipe.jpg") || !strings.Contains(stderr, "not a regular file") {
		t.Errorf("stderr does not report the skipped FIFO: %q", stderr)
	}
	if !strings.Contains(stdout, "demo_dog.png") {
		t.Errorf("stdout %q", stdout)
	}
}

// Temporary files a killed run left for this run's outputs are removed; other files are kept.
func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{".demo_dog.png.clipsurgery-tmp123", ".other.png.clipsurgery-tmp9", "demo_dog.png.clipsurgery-tmp1", ".demo_dog.png.clipsurgery-tmpX"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	removeStaleTemps(dir, map[string]string{"demo_dog.png": "target"})
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if strings.Join(left, " ") != ".demo_dog.png.clipsurgery-tmpX .other.png.clipsurgery-tmp9 demo_dog.png.clipsurgery-tmp1" {
		t.Fatalf("left %v", left)
	}
}
