package weights

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"
)

// ParseTorch reads a PyTorch zip checkpoint from r (size bytes): a torch.save state dict (the
// released SAM .pth files) or a TorchScript archive (the released OpenAI CLIP .pt files). Read and
// Open take either from a file, deciding by content.
func ParseTorch(r io.ReaderAt, size int64) (*Checkpoint, error) {
	return parseTorch(r, size, "torch data", false)
}

// maxPickle bounds data.pkl: it only describes tensors, about 120 bytes each in the tiny golden
// TorchScript CLIP (17.6 KB for 149 tensors), so well under 1 MB for SAM ViT-H; 16 MB is a wide
// margin.
const maxPickle = 16 << 20

// parseTorch checks a PyTorch zip and converts its tensors; with lazy, float tensors of stored
// (uncompressed) records in row-major order are left in r (see Open).
func parseTorch(r io.ReaderAt, size int64, src string, lazy bool) (*Checkpoint, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("weights: %s: torch: "+format, append([]any{src}, a...)...)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fail("not a readable zip archive: %v", err)
	}
	// The archive is "<name>/data.pkl" + "<name>/data/<key>"; <name> is the file's stem at save
	// time, so find it rather than guess it.
	files := map[string]*zip.File{}
	prefix, isScript := "", false
	for _, f := range zr.File {
		if _, dup := files[f.Name]; dup {
			return nil, fail("two zip records named %.200q", f.Name)
		}
		// A local header outside the file (a damaged or crafted central directory) is found here
		// with a message, not later as a "negative offset" from whichever record is read first.
		if _, err := f.DataOffset(); err != nil {
			return nil, fail("zip record %.200q: its data lies outside the %d-byte file (damaged archive): %v", f.Name, size, err)
		}
		files[f.Name] = f
		dir, base := path.Split(f.Name)
		if base == "data.pkl" && strings.Count(dir, "/") <= 1 {
			if prefix != "" {
				return nil, fail("several data.pkl records (%sdata.pkl and %s)", prefix, f.Name)
			}
			prefix = dir
			if prefix == "" {
				prefix = "." // remember "found at the root" distinctly from "not found"
			}
		}
	}
	if prefix == "" {
		return nil, fail("no data.pkl record: not a PyTorch checkpoint")
	}
	if prefix == "." {
		prefix = ""
	}
	if _, ok := files[prefix+"constants.pkl"]; ok {
		isScript = true // TorchScript archives also carry code/ and constants.pkl
	}
	if f, ok := files[prefix+"byteorder"]; ok {
		b, err := readEntry(f, 16)
		if err != nil {
			return nil, fail("byteorder: %v", err)
		}
		if string(b) != "little" {
			return nil, fail("byteorder %q is not supported (only little-endian)", b)
		}
	}
	pkl, err := readEntry(files[prefix+"data.pkl"], maxPickle)
	if err != nil {
		return nil, fail("%sdata.pkl: %v", prefix, err)
	}
	root, err := unpickle(pkl, torchPersistentLoad)
	if err != nil {
		return nil, fail("%sdata.pkl: %v", prefix, err)
	}
	if _, ok := root.(*pyObject); ok {
		isScript = true
	}
	refs, err := collectTensors(root)
	if err != nil {
		return nil, fail("%sdata.pkl: %v", prefix, err)
	}

	c := &Checkpoint{Tensors: map[string]*Tensor{}, Metadata: map[string]string{}, Format: "torch.save"}
	if isScript {
		c.Format = "torchscript"
	}
	// Check every tensor against its storage before converting any, bounding the total the
	// same way as for safetensors (tensors may share a storage, but not absurdly often).
	var total int64
	// Compressed storages are inflated once, up to the furthest byte any of their views reads,
	// and shared by all the views (a storage with thousands of views was inflated thousands of
	// times); what is held inflated counts towards the same budget.
	inflate := map[string]int64{}
	for _, nr := range refs {
		tr := nr.ref
		info := dtypes[tr.storage.dtype]
		f := files[prefix+"data/"+tr.storage.key]
		if f == nil {
			return nil, fail("tensor %q: storage record data/%.100s is missing", nr.name, tr.storage.key)
		}
		if tr.storage.numel > math.MaxInt64/int64(info.size) || f.UncompressedSize64 < uint64(tr.storage.numel*int64(info.size)) {
			return nil, fail("tensor %q: storage data/%.100s has %d bytes, shorter than its %d %s elements",
				nr.name, tr.storage.key, f.UncompressedSize64, tr.storage.numel, tr.storage.dtype)
		}
		if end := tr.extent(); end > tr.storage.numel {
			return nil, fail("tensor %q: storage data/%.100s holds %d elements, but offset %d, size %v, stride %v need %d",
				nr.name, tr.storage.key, tr.storage.numel, tr.offset, tr.shape, tr.stride, end)
		}
		// Views with zero strides read fewer elements than they hold; gathers of sparse
		// strides read more: count whichever is larger.
		limit := limitBytes(size)
		need := max(tr.numel, tr.extent()-tr.offset)
		if need > limit/int64(info.size) || total+need*int64(info.size) > limit {
			return nil, fail("tensor %q: tensors need more than 4× the %d-byte archive in total", nr.name, size)
		}
		total += need * int64(info.size)
		if f.Method != zip.Store {
			inflate[tr.storage.key] = max(inflate[tr.storage.key], tr.extent()*int64(info.size))
		}
	}
	var inflated int64
	for _, n := range inflate {
		if inflated += n; inflated > limitBytes(size) {
			return nil, fail("compressed storages inflate to more than 4× the %d-byte archive", size)
		}
	}
	buf := make([]byte, chunkBytes)
	storages := map[string][]byte{}
	for _, nr := range refs {
		key := nr.ref.storage.key
		f := files[prefix+"data/"+key]
		data, base := r, int64(0)
		if f.Method == zip.Store {
			off, err := f.DataOffset()
			if err != nil {
				return nil, fail("tensor %q: storage data/%.100s: %v", nr.name, key, err)
			}
			if f.CompressedSize64 != f.UncompressedSize64 {
				return nil, fail("tensor %q: storage data/%.100s: corrupt zip record (stored sizes differ)", nr.name, key)
			}
			if off > size || f.UncompressedSize64 > uint64(size-off) {
				return nil, fail("tensor %q: storage data/%.100s: its %d bytes extend past the %d-byte file (truncated file?)",
					nr.name, key, f.UncompressedSize64, size)
			}
			base = off
		} else {
			b, ok := storages[key]
			if !ok {
				var err error
				if b, err = inflatePrefix(f, inflate[key]); err != nil {
					return nil, fail("tensor %q: storage data/%.100s: %v", nr.name, key, err)
				}
				storages[key] = b
			}
			data = bytes.NewReader(b)
		}
		if info := dtypes[nr.ref.storage.dtype]; info.float && f.Method == zip.Store && nr.ref.contiguous() {
			t := &Tensor{Name: nr.name, Shape: nr.ref.shape, DType: nr.ref.storage.dtype, src: &source{r: r,
				off:   base + nr.ref.offset*int64(info.size),
				where: fmt.Sprintf("weights: %s: torch: tensor %q: storage data/%.100s", src, nr.name, key)}}
			if !lazy {
				if err := t.Load(); err != nil {
					return nil, err
				}
			}
			c.Tensors[nr.name] = t
			continue
		}
		t, err := loadTensor(data, base, nr.name, nr.ref, buf)
		if err != nil {
			return nil, fail("tensor %q: storage data/%.100s: %v", nr.name, nr.ref.storage.key, err)
		}
		c.Tensors[nr.name] = t
	}
	return c, nil
}

// readEntry reads a whole (small) zip record, refusing records larger than limit.
func readEntry(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("record of %d bytes is larger than %d", f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1)) // the zip reader checks size and CRC at EOF
	if err != nil {
		return nil, err
	}
	return b, nil
}

// extent is one past the last storage element the tensor touches (its offset if it is empty),
// saturating at MaxInt64 so hostile strides cannot wrap around.
func (t *tensorRef) extent() int64 {
	if t.numel == 0 {
		return t.offset
	}
	end := t.offset
	for i, d := range t.shape {
		if s := t.stride[i]; s != 0 && int64(d-1) > (math.MaxInt64-1-end)/s {
			return math.MaxInt64
		}
		end += int64(d-1) * t.stride[i]
	}
	return end + 1
}

// contiguous reports row-major strides (ignoring dimensions of size 1, whose stride is arbitrary).
func (t *tensorRef) contiguous() bool {
	want := int64(1)
	for i := len(t.shape) - 1; i >= 0; i-- {
		if t.shape[i] != 1 && t.stride[i] != want {
			return false
		}
		want *= int64(t.shape[i])
	}
	return true
}

// limitBytes is how many bytes the tensors of an archive of size bytes may need in total.
func limitBytes(size int64) int64 { return 4*size + chunkBytes }

// inflatePrefix inflates the first n bytes of a compressed zip record.
func inflatePrefix(f *zip.File, n int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, err
	}
	return b, nil
}

// loadTensor converts a tensor's elements from its storage, whose element 0 is at byte base of
// src (the archive itself for the uncompressed records torch writes, else the inflated record).
func loadTensor(src io.ReaderAt, base int64, name string, tr *tensorRef, buf []byte) (*Tensor, error) {
	info := dtypes[tr.storage.dtype]
	start := base + tr.offset*int64(info.size)
	span := (tr.extent() - tr.offset) * int64(info.size)
	t := &Tensor{Name: name, Shape: tr.shape, DType: tr.storage.dtype}
	if tr.contiguous() {
		if err := readTensor(src, start, t, buf); err != nil {
			return nil, err
		}
		return t, nil
	}
	// General strides: convert the span the view covers, then gather it in row-major order.
	all := &Tensor{Shape: []int{int(span) / info.size}, DType: t.DType}
	if err := readTensor(src, start, all, buf); err != nil {
		return nil, err
	}
	idx := make([]int, len(tr.shape))
	if info.float {
		t.F32 = make([]float32, tr.numel)
	} else {
		t.I64 = make([]int64, tr.numel)
	}
	for i := int64(0); i < tr.numel; i++ {
		var at int64
		for d, k := range idx {
			at += int64(k) * tr.stride[d]
		}
		if info.float {
			t.F32[i] = all.F32[at]
		} else {
			t.I64[i] = all.I64[at]
		}
		for d := len(idx) - 1; d >= 0; d-- { // odometer increment
			if idx[d]++; idx[d] < tr.shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return t, nil
}

type namedRef struct {
	name string
	ref  *tensorRef
}

// Bounds on walking the unpickled tree: real module trees are a few levels deep and have at most
// a few thousand nodes; the bounds stop cycles and exponential sharing in hostile pickles.
const (
	maxTreeDepth = 64
	maxTreeNodes = 1 << 18
	maxNameLen   = 1024
)

// collectTensors flattens a state dict or a TorchScript module tree into dotted names: dict keys
// and module attributes become path components (Sequential children are already named "0", "1",
// ...), so a TorchScript CLIP yields exactly the names of its state_dict(). Values that are not
// tensors (training flags, hooks, None) are skipped. Names are returned sorted.
func collectTensors(root any) ([]namedRef, error) {
	var out []namedRef
	nodes := 0
	var walk func(v any, name string, depth int) error
	walk = func(v any, name string, depth int) error {
		if nodes++; nodes > maxTreeNodes {
			return errors.New("object tree too large")
		}
		if depth > maxTreeDepth {
			return fmt.Errorf("object tree deeper than %d at %.200q", maxTreeDepth, name)
		}
		if len(name) > maxNameLen {
			return fmt.Errorf("tensor name longer than %d bytes: %.100q…", maxNameLen, name)
		}
		join := func(k string) string {
			if name == "" {
				return k
			}
			return name + "." + k
		}
		switch x := v.(type) {
		case *tensorRef:
			if name == "" {
				return errors.New("a bare tensor has no name")
			}
			out = append(out, namedRef{name, x})
		case *pyObject:
			return walk(x.state, name, depth+1)
		case *pyDict:
			for i, k := range x.keys {
				var ks string
				switch k := k.(type) {
				case string:
					ks = k
				case int64:
					ks = strconv.FormatInt(k, 10)
				default:
					continue
				}
				if err := walk(x.vals[i], join(ks), depth+1); err != nil {
					return err
				}
			}
		case *pyList:
			for i, e := range x.items {
				if err := walk(e, join(strconv.Itoa(i)), depth+1); err != nil {
					return err
				}
			}
		case pyTuple:
			for i, e := range x {
				if err := walk(e, join(strconv.Itoa(i)), depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(root, "", 0); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].name < out[j].name })
	for i := 1; i < len(out); i++ {
		if out[i].name == out[i-1].name {
			return nil, fmt.Errorf("two tensors named %q", out[i].name)
		}
	}
	return out, nil
}
