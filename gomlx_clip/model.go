package clip

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"

	"github.com/clipsurgery/clipsurgery/internal/modelkit"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Model is a loaded CLIP: its config, its weights (on the backend) and the executables compiled
// for it, cached per options and input shape. It holds no other state: resolution, surgery
// depth and attention mode are arguments of each call. It is safe for concurrent use.
type Model struct {
	Config Config
	Naming Naming
	Layout Layout // the config file that completed Config (LoadFile); "" = none (NewModel)
	// Method is the model's method for calls that name none (an empty ImageOptions.Method or
	// surgery.Options.Method; see ResolveMethod): Load sets MethodSurgery for "CS-" names and
	// files, MethodRaw for plain names; NewModel sets the method table's default, MethodSurgery.
	Method Method

	weights  *modelkit.Weights
	programs *modelkit.Programs[programKey]
	// logitScale is the checkpoint's logit_scale (the log of CLIP's temperature), which no
	// encoder uses; NaN when the checkpoint has none.
	logitScale float64

	sources    [][]byte   // identities of the files LoadFile read (embedcache.FileIdentity), for TextWeightsDigest
	digestMu   sync.Mutex // guards textDigest
	textDigest *[32]byte  // TextWeightsDigest, once computed
}

// programKey names one of the model's graphs: the image encoder (with its options), the text
// encoder or the packed-prompt text encoder.
type programKey struct {
	graph string
	image ImageOptions
}

// Features is a float32 array with its shape, row-major.
type Features = modelkit.Features

// NewModel builds a model from checkpoint tensors in OpenAI or Hugging Face naming. A nil
// backend means modelkit.BackendFromEnv() (GOMLX_BACKEND, the pure-Go backend when unset). The
// tensors are copied to the backend; ckpt is not changed.
func NewModel(ckpt map[string]*weights.Tensor, backend compute.Backend) (*Model, error) {
	return newModel(ckpt, backend, false)
}

// NewModelReleasing is NewModel for a caller that gives up ckpt: each tensor's F32 is set to nil
// once it is on the backend, and the garbage collector runs now and then, so the memory of the
// released host copies is reused for the next backend buffers. The peak memory of loading then
// stays near one copy of the weights instead of two.
func NewModelReleasing(ckpt map[string]*weights.Tensor, backend compute.Backend) (*Model, error) {
	return newModel(ckpt, backend, true)
}

func newModel(ckpt map[string]*weights.Tensor, backend compute.Backend, release bool) (*Model, error) {
	return newModelWith(ckpt, backend, release, nil)
}

// newModelWith is newModel with the architecture completed by a config file (nil: OpenAI's
// conventions), which is checked against the shapes first.
func newModelWith(ckpt map[string]*weights.Tensor, backend compute.Backend, release bool, arch *archConfig) (*Model, error) {
	canon, naming, err := Canonicalize(ckpt)
	if err != nil {
		return nil, err
	}
	cfg, err := inferShapes(canon)
	if err != nil {
		return nil, err
	}
	if arch != nil {
		if cfg, err = arch.apply(cfg, canon); err != nil {
			return nil, err
		}
	}
	if err := cfg.checkHeads(); err != nil {
		return nil, err
	}
	if err := CheckTensors(cfg, canon); err != nil {
		return nil, err
	}
	if backend == nil {
		if backend, err = modelkit.BackendFromEnv(); err != nil {
			return nil, fmt.Errorf("clip: %w", err)
		}
	}
	names := make([]string, 0, len(canon))
	for name := range ExpectedShapes(cfg) {
		names = append(names, name)
	}
	w, err := modelkit.Upload(backend, canon, names, IsDenseWeight, release)
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	return &Model{Config: cfg, Naming: naming, Method: methodTable[0].spec.Name, weights: w,
		programs: modelkit.NewPrograms[programKey](w), logitScale: readLogitScale(canon["logit_scale"])}, nil
}

// readLogitScale is the value of a scalar logit_scale tensor, NaN when absent or not a scalar.
func readLogitScale(t *weights.Tensor) float64 {
	var v [1]float32
	if t == nil || t.Numel() != 1 || t.ReadF32(v[:], 0) != nil {
		return math.NaN()
	}
	return float64(v[0])
}

// LogitScale is CLIP's logit scale exp(logit_scale), the factor of its logits_per_image (100 for
// OpenAI's models), when the checkpoint holds logit_scale.
func (m *Model) LogitScale() (float64, bool) {
	if math.IsNaN(m.logitScale) {
		return 0, false
	}
	return math.Exp(m.logitScale), true
}

// Backend is the backend the model runs on.
func (m *Model) Backend() compute.Backend { return m.weights.Backend() }

// Weight returns a copy of a canonical tensor's values in the checkpoint's layout, for tools and
// tests (its shape: ExpectedShapes(m.Config)[name]).
func (m *Model) Weight(name string) ([]float32, bool) {
	v, _, ok := m.weights.Weight(name)
	return v, ok
}

// Names lists the model's canonical tensor names, sorted.
func (m *Model) Names() []string { return m.weights.Names() }

// denseWeight matches the weights that Linear / SplitQKVHeads multiply with: stored [out, in] in the
// checkpoint (torch's nn.Linear), [in, out] on the backend.
var denseWeight = regexp.MustCompile(`(\.in_proj_weight|\.out_proj\.weight|\.c_fc\.weight|\.c_proj\.weight|attnpool\.[qkv]_proj\.weight)$`)

// IsDenseWeight tells whether the model keeps canonical tensor name transposed to [in, out], or
// packed from there for the go backend's kernel (see Params and modelkit.Dense).
func IsDenseWeight(name string) bool { return denseWeight.MatchString(name) }

// visualOnly and textOnly select the parameters of the image and the text graphs.
func visualOnly(name string) bool { return strings.HasPrefix(name, "visual.") }
func textOnly(name string) bool   { return !visualOnly(name) }

// run runs one of the model's graphs (compiled on first use) and returns its single output.
func (m *Model) run(key programKey, maxShapes int, graph func(p Params, in []*Node) *Node, inputs ...any) (*Features, error) {
	uses := textOnly
	if strings.HasPrefix(key.graph, "image") {
		uses = visualOnly
	}
	pr := m.programs.Get(key, uses, maxShapes, func(p Params, in []*Node) []*Node { return []*Node{graph(p, in)} })
	out, err := pr.Run(inputs...)
	if err != nil {
		return nil, err
	}
	return modelkit.ToFeatures(out[0])
}

// DefaultMaxImageSide bounds the input side of EncodeImage unless ImageOptions.MaxSide says
// otherwise. ViT attention memory grows with the fourth power of the side: at 1024 px ViT-B/16
// already holds 4096x4096 scores per head. Raise it deliberately for larger inputs.
const DefaultMaxImageSide = 1024

// EncodeImage encodes normalized images [B, 3, H, W] (CHW per image, as imageprep.Normalize
// gives) into all tokens [B, 1+gh*gw, EmbedDim]. H and W must be multiples of the patch size
// (32 for ResNets); the positional embedding is resized for the grid on every call.
//
// Options whose encoder reads the label set's text features (ResCLIP's semantic feedback) give
// ErrNoClasses here: use EncodeImageWithClasses.
func (m *Model) EncodeImage(pixels []float32, batch, h, w int, opt ImageOptions) (*Features, error) {
	return m.EncodeImageWithClasses(pixels, batch, h, w, opt, nil)
}

// EncodeImageWithClasses is EncodeImage for options whose encoder reads the label set's text
// features classes [K, EmbedDim] (unit rows, e.g. the prompt-ensemble features of the labels):
// ResCLIP's semantic feedback segments the image with them before the last block. Other options
// ignore classes (nil is fine).
func (m *Model) EncodeImageWithClasses(pixels []float32, batch, h, w int, opt ImageOptions, classes *Features) (*Features, error) {
	if err := m.CheckImageOptions(opt); err != nil {
		return nil, err
	}
	method, _ := m.resolveMethod(opt.Method)
	opt.Method = method.spec.Name
	if err := m.checkImageInput(pixels, batch, h, w, opt.MaxSide); err != nil {
		return nil, err
	}
	if method.spec.VFM || opt.Proxy != nil {
		return m.encodeImageProxy(pixels, batch, h, w, opt, method)
	}
	inputs := []any{tensors.FromFlatDataAndDimensions(pixels, batch, 3, h, w)}
	graph := "image"
	if opt.NeedsClasses() {
		if err := m.checkClasses(classes); err != nil {
			return nil, err
		}
		inputs, graph = append(inputs, tensors.FromFlatDataAndDimensions(classes.Data, classes.Shape...)), "image-classes"
	}
	opt = opt.normalized()
	f, err := m.run(programKey{graph: graph, image: opt}, 64, func(p Params, in []*Node) *Node {
		var text *Node
		if len(in) > 1 {
			text = in[1]
		}
		return EncodeImageGraphWithClasses(m.Config, p, in[0], text, opt)
	}, inputs...)
	if err != nil {
		return nil, fmt.Errorf("clip: encode image: %w", err)
	}
	return f, nil
}

// checkClasses refuses missing text features or ones of the wrong shape.
func (m *Model) checkClasses(classes *Features) error {
	if classes == nil {
		return errNoClasses
	}
	if len(classes.Shape) != 2 || classes.Shape[0] < 1 || classes.Shape[1] != m.Config.EmbedDim ||
		len(classes.Data) != classes.Shape[0]*classes.Shape[1] {
		return fmt.Errorf("%w: the label set's features must be [K, %d] with K ≥ 1, got %v (%d values)", ErrNoClasses,
			m.Config.EmbedDim, classes.Shape, len(classes.Data))
	}
	return nil
}

// checkImageInput refuses an image batch the encoders cannot take: empty, a side above maxSide
// (0 = DefaultMaxImageSide) or not a multiple of the patch size, or a pixel count that does not
// match.
func (m *Model) checkImageInput(pixels []float32, batch, h, w, maxSide int) error {
	s := m.Config.Stride()
	if maxSide <= 0 {
		maxSide = DefaultMaxImageSide
	}
	switch {
	case batch <= 0 || h <= 0 || w <= 0:
		return fmt.Errorf("clip: image batch %d of %dx%d is empty", batch, h, w)
	case h > maxSide || w > maxSide || batch > len(pixels):
		// Checked before any product of the sides, which could overflow int; attention memory grows
		// with the fourth power of the side, so an absurd side must not reach the graph.
		return fmt.Errorf("clip: image batch %d of %dx%d exceeds the largest side %d (ImageOptions.MaxSide) or the %d pixel values given", batch, h, w, maxSide, len(pixels))
	case h%s != 0 || w%s != 0:
		return fmt.Errorf("clip: image side %dx%d is not a multiple of the %s's patch size %d", h, w, m.Config.Vision, s)
	case len(pixels) != batch*3*h*w:
		return fmt.Errorf("clip: %d pixel values for a batch of %d images of 3x%dx%d (want %d)", len(pixels), batch, h, w, batch*3*h*w)
	}
	return nil
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
	f, err := m.run(programKey{graph: "text"}, 256, func(p Params, in []*Node) *Node {
		return EncodeTextGraph(m.Config, p, in[0])
	}, tensors.FromFlatDataAndDimensions(flat, len(ids), l))
	if err != nil {
		return nil, fmt.Errorf("clip: encode text: %w", err)
	}
	return f, nil
}
