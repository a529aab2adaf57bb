package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Non-regular files are refused without blocking, and sizes are checked before reading.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.txt")
	if err := os.WriteFile(small, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "pipe.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	zeroLink := filepath.Join(dir, "zero.npy")
	if err := os.Symlink("/dev/zero", zeroLink); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		path  string
		limit int64
		want  error
	}{
		{"regular within the limit", small, 5, nil},
		{"regular over the limit", small, 4, ErrTooLarge},
		{"FIFO", fifo, 1 << 20, ErrNotRegular},
		{"link to /dev/zero", zeroLink, 1 << 20, ErrNotRegular},
		{"folder", dir, 1 << 20, ErrNotRegular},
	} {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				data, err := ReadFile(c.path, c.limit)
				if err == nil && string(data) != "hello" {
					err = errors.New("wrong data " + string(data))
				}
				done <- err
			}()
			select {
			case err := <-done:
				if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
					t.Fatalf("err %v, want %v", err, c.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("ReadFile blocked")
			}
		})
	}
}
