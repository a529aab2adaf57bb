package clip

import (
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/clipsurgery/clipsurgery/internal/backendbuf"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Model is a loaded CLIP: its config, its weights (on the backend) and the executables compiled
// for it, cached per options and input shape. It holds no other state: resolution, surgery
// depth and attention mode are arguments of each call. It is safe for concurrent use.
type Model struct {
	Config Config
	Naming Naming
	// Surgery is the default image mode, set by Load from the "CS-" prefix of a model name.
	Surgery bool

	backend compute.Backend
	names   []string          // canonical parameter names, sorted: the executables' first inputs
	params  []*tensors.Tensor // in the order of names
	host    map[string][]float32

	mu         sync.Mutex
	imageExecs map[ImageOptions]*Exec
	textExec   *Exec
	prefixExec *Exec // EncodeSharedPrefixGraph

	sources    [][]byte   // identities of the files LoadFile read (embedcache.FileIdentity), for TextWeightsDigest
	digestMu   sync.Mutex // guards textDigest
	textDigest *[32]byte  // TextWeightsDigest, once computed
}

// Features is a float32 array with its shape, row-major.
type Features struct {
	Shape []int
	Data  []float32
}

// NewModel builds a model from checkpoint tensors in OpenAI or Hugging Face naming. A nil
// backend means DefaultBackend(). The tensors are copied to the backend; ckpt is not changed.
func NewModel(ckpt map[string]*weights.Tensor, backend compute.Backend) (*Model, error) {
	return newModel(ckpt, backend, false)
}

// NewModelReleasing is NewModel for a caller that gives up ckpt: each tensor's F32 is set to nil
// once it is on the backend, and the garbage collector is run every releaseEvery bytes, so the
// memory of the released host copies is reused for the next backend buffers. The peak memory
// of loading then stays near one copy of the weights instead of two (ViT-B/16: ~0.6 GB, not 1.2).
func NewModelReleasing(ckpt map[string]*weights.Tensor, backend compute.Backend) (*Model, error) {
	return newModel(ckpt, backend, true)
}

// releaseEvery bounds the garbage of loading (released host copies, the backend's rounded
// buffers replaced by exact ones: see internal/backendbuf) left uncollected.
const releaseEvery = 64 << 20

func newModel(ckpt map[string]*weights.Tensor, backend compute.Backend, release bool) (*Model, error) {
	canon, naming, err := Canonicalize(ckpt)
	if err != nil {
		return nil, err
	}
	cfg, err := InferConfig(canon)
	if err != nil {
		return nil, err
	}
	if err := CheckTensors(cfg, canon); err != nil {
		return nil, err
	}
	if backend == nil {
		if backend, err = DefaultBackend(); err != nil {
			return nil, err
		}
	}
	m := &Model{Config: cfg, Naming: naming, backend: backend, imageExecs: map[ImageOptions]*Exec{},
		host: map[string][]float32{}}
	for name := range ExpectedShapes(cfg) {
		m.names = append(m.names, name)
	}
	sort.Strings(m.names)
	uses := map[*weights.Tensor]int{} // a tensor may stand under two names: release it after the last
	for _, name := range m.names {
		uses[canon[name]]++
	}
	pending := 0
	for _, name := range m.names {
		t := canon[name]
		if t.F32 == nil {
			return nil, fmt.Errorf("clip: tensor %q has no float32 data (already released?)", name)
		}
		if err := m.upload(name, t, release); err != nil {
			return nil, err
		}
		if backend.HasSharedBuffers() {
			pending += 4 * len(t.F32) // the backend's rounded buffer, replaced by an exact one
		}
		if uses[t]--; release && uses[t] == 0 {
			pending += 4 * len(t.F32)
			t.F32 = nil
		}
		if pending >= releaseEvery {
			runtime.GC() // weights hold no pointers: a cycle costs milliseconds
			pending = 0
		}
	}
	return m, nil
}

// upload puts one weight on the backend. On a backend with shared buffers (the go backend) the
// host view m.host[name] is the backend buffer itself, so the model holds one copy of its weights.
func (m *Model) upload(name string, t *weights.Tensor, release bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("clip: putting %q on the backend: %v", name, r)
		}
	}()
	shape := shapes.Make(dtypes.Float32, t.Shape...)
	if len(t.F32) != shape.Size() {
		return fmt.Errorf("clip: tensor %q has %d values for shape %v", name, len(t.F32), t.Shape)
	}
	src, dense := t.F32, IsDenseWeight(name)
	if dense {
		shape = shapes.Make(dtypes.Float32, t.Shape[1], t.Shape[0])
	}
	if !m.backend.HasSharedBuffers() {
		if dense {
			src = transposeMatrix(make([]float32, len(src)), src, t.Shape[0], t.Shape[1])
		}
		tt := tensors.FromFlatDataAndDimensions(src, shape.Dimensions...)
		if err := tt.ToDevice(m.backend, 0); err != nil {
			return err
		}
		if release && !dense { // the caller's slice is about to be dropped
			src = slices.Clone(src)
		}
		m.params, m.host[name] = append(m.params, tt), src
		return nil
	}
	buf, data, err := backendbuf.SharedFloat32(m.backend, shape.Dimensions...) // exact size, not bucketed
	if err != nil {
		return err
	}
	if dense {
		transposeMatrix(data, src, t.Shape[0], t.Shape[1])
	} else {
		copy(data, src)
	}
	tt, err := tensors.FromBuffer(buf)
	if err != nil {
		return err
	}
	m.params, m.host[name] = append(m.params, tt), data
	return nil
}

// Backend is the backend the model runs on.
func (m *Model) Backend() compute.Backend { return m.backend }

// Weight returns a canonical tensor's values in the checkpoint's layout (read-only), for tools
// and tests.
func (m *Model) Weight(name string) ([]float32, bool) {
	v, ok := m.host[name]
	if ok && IsDenseWeight(name) {
		var d []int
		if t := ExpectedShapes(m.Config)[name]; len(t) == 2 {
			d = t
		}
		return transposeMatrix(make([]float32, len(v)), v, d[1], d[0]), true // stored [in, out]
	}
	return v, ok
}

// denseWeight matches the weights that Linear / SplitQKV multiply with: stored [out, in] in the
// checkpoint (torch's nn.Linear), [in, out] on the backend.
var denseWeight = regexp.MustCompile(`(\.in_proj_weight|\.out_proj\.weight|\.c_fc\.weight|\.c_proj\.weight|attnpool\.[qkv]_proj\.weight)$`)

// IsDenseWeight tells whether the model keeps canonical tensor name transposed to [in, out]
// (see Params). Why: the go backend packs the right-hand matrix of a product for its SIMD
// kernel on every call; in the [in, out] layout that packing is an assembly routine, in torch's
// [out, in] layout it is a scalar gather that cost a quarter of the image encoder's time.
func IsDenseWeight(name string) bool { return denseWeight.MatchString(name) }

// transposeMatrix writes the [cols, rows] transpose of the row-major [rows, cols] matrix a into
// out and returns it.
func transposeMatrix(out, a []float32, rows, cols int) []float32 {
	const tile = 32 // cache-friendly blocks
	for i0 := 0; i0 < rows; i0 += tile {
		for j0 := 0; j0 < cols; j0 += tile {
			for i := i0; i < min(i0+tile, rows); i++ {
				for j := j0; j < min(j0+tile, cols); j++ {
					out[j*rows+i] = a[i*cols+j]
				}
			}
		}
	}
	return out
}

// paramsOf turns the executable's first inputs back into named parameters.
func (m *Model) paramsOf(inputs []*Node) Params {
	p := make(Params, len(m.names))
	for i, name := range m.names {
		p[name] = inputs[i]
	}
	return p
}

func (m *Model) run(exec *Exec, extra ...any) ([]*tensors.Tensor, error) {
	args := make([]any, 0, len(m.params)+len(extra))
	for _, t := range m.params {
		args = append(args, t)
	}
	return exec.Exec(append(args, extra...)...)
}

func (m *Model) imageExec(opt ImageOptions) *Exec {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.imageExecs[opt]; ok {
		return e
	}
	e := MustNewExec(m.backend, func(inputs []*Node) []*Node {
		n := len(m.names)
		return []*Node{EncodeImageGraph(m.Config, m.paramsOf(inputs[:n]), inputs[n], opt)}
	}).SetMaxCache(64)
	m.imageExecs[opt] = e
	return e
}

func (m *Model) textExecutable() *Exec {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.textExec == nil {
		m.textExec = MustNewExec(m.backend, func(inputs []*Node) []*Node {
			n := len(m.names)
			return []*Node{EncodeTextGraph(m.Config, m.paramsOf(inputs[:n]), inputs[n])}
		}).SetMaxCache(256)
	}
	return m.textExec
}

// MaxImageSide bounds the input side of EncodeImage. ViT attention memory grows with the fourth
// power of the side: at 1024 px ViT-B/16 already holds 4096x4096 scores per head. Raise it
// deliberately for larger inputs.
var MaxImageSide = 1024

// EncodeImage encodes normalized images [B, 3, H, W] (CHW per image, as imageprep.Normalize
// gives) into all tokens [B, 1+gh*gw, EmbedDim]. H and W must be multiples of the patch size
// (32 for ResNets); the positional embedding is resized for the grid on every call.
func (m *Model) EncodeImage(pixels []float32, batch, h, w int, opt ImageOptions) (*Features, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	s := m.Config.Stride()
	switch {
	case batch <= 0 || h <= 0 || w <= 0:
		return nil, fmt.Errorf("clip: image batch %d of %dx%d is empty", batch, h, w)
	case h > MaxImageSide || w > MaxImageSide || batch > len(pixels):
		// Checked before any product of the sides, which could overflow int; attention memory grows
		// with the fourth power of the side, so an absurd side must not reach the graph.
		return nil, fmt.Errorf("clip: image batch %d of %dx%d exceeds MaxImageSide %d or the %d pixel values given", batch, h, w, MaxImageSide, len(pixels))
	case h%s != 0 || w%s != 0:
		return nil, fmt.Errorf("clip: image side %dx%d is not a multiple of the %s's patch size %d", h, w, m.Config.Vision, s)
	case len(pixels) != batch*3*h*w:
		return nil, fmt.Errorf("clip: %d pixel values for a batch of %d images of 3x%dx%d (want %d)", len(pixels), batch, h, w, batch*3*h*w)
	}
	out, err := m.run(m.imageExec(opt.normalized()), tensors.FromFlatDataAndDimensions(pixels, batch, 3, h, w))
	if err != nil {
		return nil, fmt.Errorf("clip: encode image: %w", err)
	}
	return toFeatures(out[0])
}

// EncodeTokens encodes token rows (each [SOT ... EOT 0 ...]) into [B, EmbedDim]. Rows may be
// shorter than the context length; all rows must have the same length.
func (m *Model) EncodeTokens(ids [][]int32) (*Features, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("clip: no texts to encode")
	}
	l := len(ids[0])
	if l == 0 || l > m.Config.ContextLength {
		return nil, fmt.Errorf("clip: token rows of length %d (context length %d)", l, m.Config.ContextLength)
	}
	flat := make([]int32, 0, len(ids)*l)
	for i, row := range ids {
		if len(row) != l {
			return nil, fmt.Errorf("clip: token row %d has length %d, row 0 has %d", i, len(row), l)
		}
		for _, id := range row {
			if id < 0 || int(id) >= m.Config.VocabSize {
				return nil, fmt.Errorf("clip: token id %d in row %d is outside the vocabulary (%d)", id, i, m.Config.VocabSize)
			}
		}
		flat = append(flat, row...)
	}
	out, err := m.run(m.textExecutable(), tensors.FromFlatDataAndDimensions(flat, len(ids), l))
	if err != nil {
		return nil, fmt.Errorf("clip: encode text: %w", err)
	}
	return toFeatures(out[0])
}

func toFeatures(t *tensors.Tensor) (*Features, error) {
	data, err := tensors.CopyFlatData[float32](t)
	if err != nil {
		return nil, err
	}
	dims := append([]int(nil), t.Shape().Dimensions...)
	_ = t.FinalizeAll() // free the output buffer now, not at the next GC
	return &Features{Shape: dims, Data: data}, nil
}
