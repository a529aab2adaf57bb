package weights

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/safefile"
)

// A FIFO named as a checkpoint is refused at once: reading it would block until a writer came.
func TestFIFOCheckpointIsRefused(t *testing.T) {
	for _, name := range []string{"ckpt.safetensors", "ckpt.pt"} {
		fifo := filepath.Join(t.TempDir(), name)
		if err := syscall.Mkfifo(fifo, 0o644); err != nil {
			t.Skip("no FIFOs here:", err)
		}
		if _, err := Read(fifo); !errors.Is(err, safefile.ErrNotRegular) {
			t.Errorf("Read(%s): err %v, want ErrNotRegular", name, err)
		}
		if _, err := Open(fifo); !errors.Is(err, safefile.ErrNotRegular) {
			t.Errorf("Open(%s): err %v, want ErrNotRegular", name, err)
		}
	}
}
