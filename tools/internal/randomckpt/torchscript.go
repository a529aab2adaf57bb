package randomckpt

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/clipsurgery/clipsurgery/internal/safefile"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/gomlx/compute/dtypes/float16"
)

// A TorchScript archive as torch.jit.save writes the released OpenAI CLIP .pt files, for
// benchmarking the .pt loader at full size: a zip of <stem>/data.pkl (a tree of __torch__ module
// objects whose attributes are the parameters), constants.pkl, version, byteorder and one
// stored (uncompressed) record per storage under <stem>/data/, its data 64-byte aligned. The code/
// folder of a real archive is left out: the reader never looks at it.

// halfInOpenAI tells the parameters clip.model.convert_weights turns to float16 in the released
// files: Conv/Linear weights and biases, the attention projections, text_projection and
// visual.proj. Embeddings and LayerNorms stay float32.
func halfInOpenAI(name string) bool {
	return strings.HasSuffix(name, "conv1.weight") || strings.Contains(name, ".attn.") ||
		strings.Contains(name, ".mlp.") || name == "visual.proj" || name == "text_projection"
}

// writeTorchScript writes tensors (float32 or int64 host data) as a TorchScript archive whose
// root module is the class __torch__.<root> (e.g. "clip.model"), the float tensors for which
// half is true as float16. Like weights.WriteSafetensors it writes a temporary file and renames it.
func writeTorchScript(path, root string, tensors []*weights.Tensor, half func(name string) bool) error {
	fail := func(err error) error { return fmt.Errorf("writing %s: %w", path, err) }
	stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	pkl, storages, err := modulePickle(tensors, root, half)
	if err != nil {
		return fail(err)
	}
	if err := safefile.WriteAtomic(path, func(out io.Writer) error { return writeArchive(out, stem, pkl, storages) }); err != nil {
		return fail(err)
	}
	return nil
}

// writeArchive writes the zip records of a TorchScript archive named stem: data.pkl, constants,
// version, byteorder and the storages, each storage's data 64-byte aligned as torch stores them.
func writeArchive(out io.Writer, stem string, pkl []byte, storages []func() []byte) error {
	cw := &countingWriter{w: out}
	zw := zip.NewWriter(cw)
	add := func(name string, data []byte, align int) error {
		if err := zw.Flush(); err != nil { // so that cw.n is where the next header starts
			return err
		}
		name = stem + "/" + name
		fh := &zip.FileHeader{Name: name, Method: zip.Store, CRC32: crc32.ChecksumIEEE(data),
			CompressedSize64: uint64(len(data)), UncompressedSize64: uint64(len(data))}
		if align > 0 { // pad with an extra field, as torch does, so the data starts aligned
			const localHeader = 30
			pad := (align - int(cw.n+localHeader+int64(len(name))+4)%align) % align
			fh.Extra = binary.LittleEndian.AppendUint16(binary.LittleEndian.AppendUint16(nil, 0x4246), uint16(pad))
			fh.Extra = append(fh.Extra, make([]byte, pad)...)
		}
		w, err := zw.CreateRaw(fh)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	if err := add("data.pkl", pkl, 0); err != nil {
		return err
	}
	if err := add("constants.pkl", []byte{0x80, 2, ')', '.'}, 0); err != nil { // an empty tuple
		return err
	}
	if err := add("version", []byte("3\n"), 0); err != nil {
		return err
	}
	if err := add("byteorder", []byte("little"), 0); err != nil {
		return err
	}
	for i, data := range storages {
		if err := add("data/"+strconv.Itoa(i), data(), 64); err != nil {
			return err
		}
	}
	return zw.Close()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// module is one node of the module tree: its tensors and submodules by attribute name.
type module struct {
	children map[string]*module
	tensor   int // index+1 of the tensor at this node, 0 for a module
}

// modulePickle builds data.pkl for tensors (one storage each, keys "0", "1", ... in order) under
// a root module of class __torch__.<rootClass>, and returns it with a function per storage that
// produces its bytes.
func modulePickle(tensors []*weights.Tensor, rootClass string, half func(name string) bool) ([]byte, []func() []byte, error) {
	root := &module{children: map[string]*module{}}
	for i, t := range tensors {
		node := root
		parts := strings.Split(t.Name, ".")
		for j, p := range parts {
			child := node.children[p]
			if child == nil {
				child = &module{children: map[string]*module{}}
				node.children[p] = child
			}
			if j == len(parts)-1 {
				if child.tensor != 0 || len(child.children) > 0 {
					return nil, nil, fmt.Errorf("tensor %q clashes with another name", t.Name)
				}
				child.tensor = i + 1
			} else if child.tensor != 0 {
				return nil, nil, fmt.Errorf("tensor %q clashes with another name", t.Name)
			}
			node = child
		}
	}
	p := &pickler{}
	p.op(0x80, 2)
	storages := make([]func() []byte, len(tensors))
	var emit func(m *module, path string)
	emit = func(m *module, path string) {
		if m.tensor != 0 {
			i := m.tensor - 1
			t := tensors[i]
			typ, data := storageOf(t, half(t.Name))
			storages[i] = data
			p.tensor(typ, strconv.Itoa(i), t.Numel(), t.Shape)
			return
		}
		p.global("__torch__."+path, "Module").op(')', 0x81, '}', '(') // NEWOBJ, then its __dict__
		for _, k := range slices.Sorted(maps.Keys(m.children)) {
			p.str(k)
			emit(m.children[k], strings.TrimPrefix(path+"."+k, "."))
		}
		p.op('u', 'b') // SETITEMS, BUILD
	}
	emit(root, rootClass)
	p.op('.')
	return p.Bytes(), storages, nil
}

// storageOf returns a tensor's torch storage type and a function producing its bytes.
func storageOf(t *weights.Tensor, half bool) (string, func() []byte) {
	if t.F32 == nil {
		return "LongStorage", func() []byte {
			b := make([]byte, 0, 8*len(t.I64))
			for _, v := range t.I64 {
				b = binary.LittleEndian.AppendUint64(b, uint64(v))
			}
			return b
		}
	}
	if half {
		return "HalfStorage", func() []byte {
			b := make([]byte, 0, 2*len(t.F32))
			for _, v := range t.F32 {
				b = binary.LittleEndian.AppendUint16(b, uint16(float16.FromFloat32(v)))
			}
			return b
		}
	}
	return "FloatStorage", func() []byte {
		b := make([]byte, 0, 4*len(t.F32))
		for _, v := range t.F32 {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
		return b
	}
}

// pickler writes protocol-2 pickle opcodes.
type pickler struct{ bytes.Buffer }

func (p *pickler) op(b ...byte) *pickler { p.Write(b); return p }

func (p *pickler) str(s string) *pickler {
	p.WriteByte('X') // BINUNICODE
	p.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(s))))
	p.WriteString(s)
	return p
}

func (p *pickler) global(module, name string) *pickler {
	fmt.Fprintf(p, "c%s\n%s\n", module, name)
	return p
}

func (p *pickler) int(v int) *pickler {
	if v < 0 || v > math.MaxInt32 {
		panic(fmt.Sprintf("pickler: %d out of BININT range", v))
	}
	p.WriteByte('J') // BININT
	p.Write(binary.LittleEndian.AppendUint32(nil, uint32(v)))
	return p
}

// tensor writes _rebuild_tensor_v2(('storage', torch.<typ>, key, 'cpu', numel), 0, shape,
// row-major strides, False, OrderedDict()).
func (p *pickler) tensor(typ, key string, numel int, shape []int) {
	p.global("torch._utils", "_rebuild_tensor_v2").op('(')
	p.op('(').str("storage").global("torch", typ).str(key).str("cpu").int(numel).op('t', 'Q')
	p.int(0).op('(')
	for _, d := range shape {
		p.int(d)
	}
	p.op('t', '(')
	stride := 1
	strides := make([]int, len(shape))
	for i := len(shape) - 1; i >= 0; i-- {
		strides[i] = stride
		stride *= shape[i]
	}
	for _, s := range strides {
		p.int(s)
	}
	p.op('t', 0x89).global("collections", "OrderedDict").op(')', 'R', 't', 'R')
}
