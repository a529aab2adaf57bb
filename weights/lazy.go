package weights

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"unsafe"

	"github.com/clipsurgery/clipsurgery/internal/safefile"
)

// Lazy tensors let a loader read a checkpoint's float data straight into its own buffers (for a
// model: the backend's exactly sized weight buffers), so loading holds no second copy of the
// weights and converts each element once.

// source locates the stored elements of a lazy float tensor: contiguous, little-endian, of the
// tensor's DType, from byte off of r.
type source struct {
	r     io.ReaderAt
	off   int64
	where string // error prefix naming file and tensor, as the eager readers word it
}

// Open reads a checkpoint's structure with every check Read makes, but leaves the data of its
// float tensors in the file: such tensors have F32 == nil and Lazy() true until read with ReadF32
// or Load. Integer tensors (a few scalars in practice) and views the direct path does not cover
// (compressed or strided torch storages) are converted at once, as by Read. The file stays open
// until Close; the Checkpoint must not be used to read after that.
func Open(path string) (*Checkpoint, error) {
	zip, err := isZip(path)
	if err != nil {
		return nil, err
	}
	if zip {
		return openFile(path, parseTorch)
	}
	return openFile(path, parseSafetensors)
}

// Close closes the file of a Checkpoint from Open (a no-op for others). Lazy tensors not read
// by then can no longer be read.
func (c *Checkpoint) Close() error {
	if c.closer == nil {
		return nil
	}
	err := c.closer.Close()
	c.closer = nil
	return err
}

// openFile opens path and hands it to parse as a ReaderAt in lazy mode; the file stays open in
// the returned Checkpoint.
func openFile(path string, parse parser) (*Checkpoint, error) {
	f, st, err := safefile.Open(path) // regular files only: a FIFO would block the reads
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	c, err := parse(f, st.Size(), path, true)
	if err != nil {
		f.Close()
		return nil, err
	}
	c.Path, c.closer = path, f
	return c, nil
}

// parser is the signature of the format parsers; with lazy, float tensors are left in r.
type parser func(r io.ReaderAt, size int64, src string, lazy bool) (*Checkpoint, error)

// loadAll reads every lazy tensor of an opened checkpoint and closes it: Read is Open + loadAll.
func loadAll(c *Checkpoint, err error) (*Checkpoint, error) {
	if err != nil {
		return nil, err
	}
	defer c.Close()
	for _, name := range c.Names() {
		if err := c.Tensors[name].Load(); err != nil {
			return nil, err
		}
	}
	if err := c.Close(); err != nil {
		return nil, fmt.Errorf("weights: %s: %w", c.Path, err)
	}
	return c, nil
}

// Lazy reports whether the tensor's float data is still in the file (see Open).
func (t *Tensor) Lazy() bool { return t.src != nil }

// Load reads a lazy tensor's data into F32; it does nothing for a tensor that is not lazy. It
// changes the tensor, so it must not run concurrently with other uses of it.
func (t *Tensor) Load() error {
	if t.src == nil {
		return nil
	}
	data := make([]float32, t.Numel())
	if err := t.src.read(t.DType, data, 0); err != nil {
		return err
	}
	t.F32, t.src = data, nil
	return nil
}

// ReadF32 fills dst with the float elements [at, at+len(dst)) of the tensor, row-major: from the
// file for a lazy tensor (without keeping them), else from F32. Concurrent calls are safe.
func (t *Tensor) ReadF32(dst []float32, at int) error {
	if n := t.Numel(); at < 0 || at > n || len(dst) > n-at {
		return fmt.Errorf("weights: tensor %q: elements [%d, %d) outside its %d", t.Name, at, at+len(dst), n)
	}
	if t.src != nil {
		return t.src.read(t.DType, dst, at)
	}
	if t.F32 == nil {
		return fmt.Errorf("weights: tensor %q has no float data (dtype %s, or released)", t.Name, t.DType)
	}
	copy(dst, t.F32[at:])
	return nil
}

// nativeLE: float32 bytes in memory are the file's little-endian bytes, so F32 data can be read
// into the destination as is.
var nativeLE = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// convertBytes is the staging buffer for converted dtypes: small enough to stay in cache.
const convertBytes = 256 << 10

var convertBufs = sync.Pool{New: func() any { b := make([]byte, convertBytes); return &b }}

// read converts the elements [at, at+len(dst)) of the stored data into dst.
func (s *source) read(dtype string, dst []float32, at int) error {
	if len(dst) == 0 {
		return nil
	}
	info, ok := dtypes[dtype]
	if !ok || !info.float {
		return fmt.Errorf("%s: dtype %s is not a float type", s.where, dtype)
	}
	off := s.off + int64(at)*int64(info.size)
	if dtype == "F32" && nativeLE {
		b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), 4*len(dst))
		return s.readAt(b, off)
	}
	bp := convertBufs.Get().(*[]byte)
	defer convertBufs.Put(bp)
	step := len(*bp) / info.size
	for i := 0; i < len(dst); i += step {
		k := min(step, len(dst)-i)
		b := (*bp)[:k*info.size]
		if err := s.readAt(b, off+int64(i*info.size)); err != nil {
			return err
		}
		if err := convertFloats(dtype, dst[i:i+k], b); err != nil {
			return fmt.Errorf("%s: %v", s.where, err)
		}
	}
	return nil
}

func (s *source) readAt(b []byte, off int64) error {
	if _, err := s.r.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the header promised these bytes: the file shrank
		}
		return fmt.Errorf("%s: reading data: %v", s.where, err)
	}
	return nil
}
