// Package weights reads model checkpoints in pure Go: safetensors files and the two PyTorch zip
// containers (torch.save state dicts and TorchScript archives). Nothing in a checkpoint is executed:
// the pickles are interpreted by a restricted unpickler that only rebuilds tensors and plain objects.
//
// Every tensor is returned in one of two host forms, float32 (F32) or int64 (I64), because that is
// what the models consume; the stored dtype is kept in Tensor.DType. Read converts everything;
// Open checks the file the same way but leaves float data in it, for loaders that read each
// tensor straight into its destination (Tensor.ReadF32).
package weights

import (
	"bytes"
	"fmt"
	"io"
	"sort"

	"github.com/clipsurgery/clipsurgery/internal/safefile"
)

// Tensor is one named array of a checkpoint, row-major (C order).
type Tensor struct {
	Name  string
	Shape []int
	DType string    // dtype as stored: "F32","F16","BF16","F64","I64","I32", ...
	F32   []float32 // float data converted to float32 (F16/BF16 exactly widened, F64 narrowed)
	I64   []int64   // integer data (I64/I32/I16/I8/U8/BOOL widened)

	src *source // where the float data still is, for a tensor from Open (see Lazy)
}

// Numel is the product of the shape (1 for a scalar).
func (t *Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Checkpoint is the set of tensors of one file.
type Checkpoint struct {
	Tensors  map[string]*Tensor
	Metadata map[string]string // safetensors __metadata__ (empty for torch files)
	Format   string            // "safetensors", "torchscript", "torch.save"
	Path     string

	closer io.Closer // the file a Checkpoint from Open reads its lazy tensors from
}

// Names returns the tensor names in sorted order, so that callers iterate deterministically.
func (c *Checkpoint) Names() []string {
	names := make([]string, 0, len(c.Tensors))
	for n := range c.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// zipMagic starts every zip local file header; both PyTorch containers are zips, safetensors
// files start with a little-endian header length instead (its high bytes are zero, so never "PK").
var zipMagic = []byte("PK\x03\x04")

// Read loads a checkpoint of any supported format, deciding by content rather than by extension
// (released checkpoints use .pt, .pth, .bin and .safetensors inconsistently). Every tensor's
// data is converted; Open leaves float data in the file instead.
func Read(path string) (*Checkpoint, error) {
	return loadAll(Open(path))
}

// isZip sniffs a checkpoint's format: both PyTorch containers are zips, safetensors files start
// with their header length.
func isZip(path string) (bool, error) {
	f, _, err := safefile.Open(path) // a FIFO or device is refused, never read (it could block)
	if err != nil {
		return false, fmt.Errorf("weights: %w", err)
	}
	head := make([]byte, 4)
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil {
		return false, fmt.Errorf("weights: %s: too short for a checkpoint: %w", path, err)
	}
	// torch.save before PyTorch 1.6 wrote a bare pickle starting with PROTO 2 and the magic
	// number as LONG1; as a safetensors length these bytes would be ~177 MB, over the limit anyway.
	if bytes.Equal(head, []byte{0x80, 0x02, 0x8a, 0x0a}) {
		return false, fmt.Errorf("weights: %s: legacy (pre-1.6) torch.save format is not supported; re-save it with a current PyTorch", path)
	}
	return bytes.Equal(head, zipMagic), nil
}
