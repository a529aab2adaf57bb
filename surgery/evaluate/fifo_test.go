package evaluate

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/safefile"
)

// A FIFO named as a class file, a mask or a split list is refused at once: opening it for reading
// would block until a writer came.
func TestFIFOsAreRefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	if _, err := ReadClassFile(fifo); !errors.Is(err, safefile.ErrNotRegular) {
		t.Errorf("class file: err %v, want ErrNotRegular", err)
	}
	if _, err := ReadMask(fifo, 21); !errors.Is(err, safefile.ErrNotRegular) {
		t.Errorf("mask: err %v, want ErrNotRegular", err)
	}
	voc := filepath.Join(dir, "voc")
	if err := WriteSynthetic(voc, LayoutVOC, 2); err != nil {
		t.Fatal(err)
	}
	split := filepath.Join(voc, "ImageSets", "Segmentation", "fifo.txt")
	if err := syscall.Mkfifo(split, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(voc, DatasetOptions{Layout: LayoutVOC, Split: "fifo"}); !errors.Is(err, safefile.ErrNotRegular) {
		t.Errorf("split list: err %v, want ErrNotRegular", err)
	}
}
