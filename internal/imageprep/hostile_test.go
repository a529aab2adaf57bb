package imageprep_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/safefile"
)

// DecodeFile refuses what it must not read: a file over MaxFileBytes from its size alone (a sparse
// file of MaxFileBytes+1 bytes, nothing of it read), and non-regular files without blocking.
func TestDecodeFileBounded(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.png")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(smallPNG(t))
	if err := f.Truncate(imageprep.DefaultMaxFileBytes + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fifo := filepath.Join(dir, "pipe.jpg")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	dev := filepath.Join(dir, "zero.png")
	if err := os.Symlink("/dev/zero", dev); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path string
		want       error
	}{
		{"sparse file over MaxFileBytes", big, imageprep.ErrTooLarge},
		{"FIFO", fifo, safefile.ErrNotRegular},
		{"link to /dev/zero", dev, safefile.ErrNotRegular},
	} {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			done := make(chan error, 1)
			go func() { _, err := imageprep.DecodeFile(c.path); done <- err }()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("DecodeFile blocked")
			}
			runtime.ReadMemStats(&after)
			if !errors.Is(err, c.want) || strings.Count(err.Error(), c.path) != 1 {
				t.Fatalf("err %v, want %v naming the path once", err, c.want)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Errorf("%d bytes allocated before refusing", n)
			}
		})
	}
}

// PixelsFromArray applies MaxPixels, and a shape whose product overflows is refused, not wrapped.
func TestPixelsFromArrayBounded(t *testing.T) {
	for _, c := range []struct {
		name    string
		h, w, c int
	}{
		{"above MaxPixels", 20000, 20000, 1},
		{"product overflows", 1 << 32, 1 << 32, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := imageprep.PixelsFromArray(c.h, c.w, c.c, make([]byte, 16))
			if !errors.Is(err, imageprep.ErrTooLarge) {
				t.Fatalf("err %v, want ErrTooLarge", err)
			}
		})
	}
}

// Limits values bound DecodeFile like the defaults do, from the file's size.
func TestLimitsDecodeFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "small.png")
	data := smallPNG(t)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (imageprep.Limits{MaxFileBytes: int64(len(data))}).DecodeFile(p); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	_, err := imageprep.Limits{MaxFileBytes: int64(len(data)) - 1}.DecodeFile(p)
	if !errors.Is(err, imageprep.ErrTooLarge) || !strings.Contains(err.Error(), "MaxFileBytes") {
		t.Fatalf("over the limit: %v", err)
	}
	_, err = imageprep.Limits{MaxPixels: 1}.DecodeFile(p)
	if !errors.Is(err, imageprep.ErrTooLarge) || !strings.Contains(err.Error(), "MaxPixels") {
		t.Fatalf("over MaxPixels: %v", err)
	}
}
