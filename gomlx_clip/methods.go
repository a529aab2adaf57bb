package clip

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	. "github.com/gomlx/gomlx/core/graph"
)

// Method names one of the image encoder's training-free methods: one parameter from the graph
// (ImageOptions.Method) through surgery.Options, the command line (-method) and the notebooks.
// Every method keeps the checkpoint's own weights and backbone: its activation, LayerNorm eps and
// heads as its config gives them (Config.VisionTower: QuickGELU and eps 1e-5 for OpenAI's CLIP,
// exact GELU for most OpenCLIP models) and nn.MultiheadAttention's packed projection; only its last
// block(s) and the positional-embedding resize for inputs other than the native size change.
//
// On GELU models. The methods were defined and measured on OpenAI's QuickGELU CLIP, but none of
// them touches the activation: they change attention (which similarity, q-k, v-v, q-q, k-k, with
// or without a prior) and whether the last block keeps its residual and FFN. The FFNs a method
// keeps — every block of raw, the original path of surgery, SCLIP's last block, MaskCLIP's last
// FFN — run the model's own activation, GELU on an OpenCLIP LAION/DataComp model, as it was
// trained; the new paths that drop the FFN (surgery's, ClearCLIP's, NACLIP's) contain no activation
// at all. So each definition carries over unchanged to a GELU model; how well it works there is
// an empirical question the papers answered on OpenAI's weights only.
//
// Each method is one descriptor of the method table (methods_table.go): its names, what it
// changes, the graph functions that build it and where its definition comes from (paper section,
// authors' file). Methods and LookupMethod give copies of the descriptors (MethodSpec); the
// README prints the table.
//
// Outside the encoder, and not part of a Method here: the releases run their models in float16
// on GPU (float32 here); their evaluation protocols (short side, sliding windows) are recorded as
// data in MethodSpec.Protocol (surgery.Options.Slide and Stride do the sliding; the resize is
// the caller's); the peers' whole evaluation (resize, windows, thresholds, NACLIP's PAMR) is
// surgery/evaluate's protocol presets (MethodSpec.Notes).
type Method string

// MethodDefault names no method: the model's default in Model.EncodeImage and the surgery package
// (Model.Method, see Model.ResolveMethod), the table's default (its first descriptor,
// MethodSurgery) in the graph functions.
const MethodDefault Method = ""

// MethodSpec is one method's descriptor, a copy of the table's entry. The text fields are what
// the method's paper and its authors' code define, in this package's words.
type MethodSpec struct {
	Name    Method   // the canonical name, lower case (e.g. "sclip")
	Aliases []string // other names ParseMethod and LookupMethod accept, lower case
	Title   string   // the method's own name (e.g. "SCLIP")
	// Changes says in one line what the method changes in the image encoder (the README's table).
	Changes string
	// Blocks describes the changed block(s) in full, with the graph functions that build them.
	Blocks string
	// PositionalEmbedding says how the ViT's positional table is resized to a grid other than the
	// native one (PositionalEmbeddingFor).
	PositionalEmbedding string
	// ViTOnly: defined for ViT image towers only; a ResNet checkpoint gives ErrViTOnly.
	ViTOnly bool
	// FeatureSurgery is the method's own similarity: feature surgery (true) or the plain cosine of
	// image and text features (false); the default of surgery.Options.FeatureSurgery.
	FeatureSurgery bool
	// VFM: the method reads a vision foundation model's patch features besides the pixels
	// (ImageOptions.Proxy; surgery.Options.VFM), and its tokens lie on that model's patch grid.
	VFM bool
	// Protocol is the evaluation protocol the method's authors ship (zero: none recorded).
	Protocol Protocol
	Paper    string // authors, title, venue and the section that defines the method
	Code     string // the authors' repository, file and function the definition is read from
	Notes    string // what differs from the authors' release on purpose or is not implemented
}

// Protocol is an evaluation protocol as a method's authors release it: data only, documented
// here; callers apply it (the image resize is the caller's, sliding windows are
// surgery.Options.Slide and Stride).
type Protocol struct {
	ShortSide int    // images resized to this short side (aspect kept) before inference; 0 = not given
	Window    int    // sliding-window side in pixels; 0 = the whole image at once
	Stride    int    // sliding-window step in pixels (with Window)
	From      string // the authors' files these numbers are read from
}

// methodDef is one entry of the method table: the descriptor and the graph functions that build
// the method.
type methodDef struct {
	spec MethodSpec
	// posEmbed resizes the ViT's positional table [1+native², W] to a gh×gw grid.
	posEmbed func(pos *Node, native, gh, gw int) *Node
	// changed is the number of last ViT blocks the method builds, from settled options
	// (nil = 1, the last block).
	changed func(o ImageOptions) int
	// tail builds those blocks on x (the output of the unchanged blocks before them) and returns
	// the tokens before ln_post.
	tail func(x *Node, t vitTail) *Node
	// pool is the ResNet attention pool's attention, given the heads-split projections
	// ("q", "k", "v") of its tokens; nil for a ViT-only method.
	pool func(project func(which string) *Node) *Node
	// settle copies into the settled options s the fields of o the method reads, with their
	// defaults (nil: none), so that equal encoders have equal options (the executable cache's
	// key).
	settle func(o, s ImageOptions) ImageOptions
}

// vitTail is what a method's last ViT blocks are built from.
type vitTail struct {
	p      Params
	first  int          // the first block the method changes; the blocks before it ran unchanged
	layers int          // the tower's block count
	tower  Tower        // heads, LayerNorm eps, activation and score budget (Config.VisionTower)
	gh, gw int          // the patch grid
	opt    ImageOptions // settled (ImageOptions.normalized)
	// remold is a modifier's change of the last attention (nil: none; methods_resclip.go):
	// the base methods a modifier composes with build their last attention through it.
	remold  *attentionRemold
	images  *Node // the normalized input images [B, 3, H, W]
	classes *Node // the label set's text features [K, E], or nil (EncodeImageGraphWithClasses)
	// proxy is a VFM's patch features [B, H, W, C] (methods with MethodSpec.VFM), else nil
	proxy *Node
}

// last is the name of the tower's last block.
func (t vitTail) last() string { return visualBlock(t.layers - 1) }

// DefaultNeighbourhoodStd is NACLIP's σ of the Gaussian neighbourhood prior (its gaussian_std).
const DefaultNeighbourhoodStd = 5.0

// ErrUnknownMethod is returned (wrapped) for a method name that is not one of AllMethods.
var ErrUnknownMethod = errors.New("clip: unknown method")

// ErrViTOnly is returned (wrapped) when a ViT-only method is asked of a ResNet checkpoint.
var ErrViTOnly = errors.New("clip: method works on ViT image towers only")

// methodFor finds a method's table entry by its exact name or alias; MethodDefault is the
// table's first entry. The one place the table is searched.
func methodFor(m Method) (*methodDef, error) {
	if m == MethodDefault {
		return &methodTable[0], nil
	}
	for i := range methodTable {
		d := &methodTable[i]
		if d.spec.Name == m || slices.Contains(d.spec.Aliases, string(m)) {
			return d, nil
		}
	}
	return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownMethod, string(m), strings.Join(MethodNames(), ", "))
}

// mustMethod is methodFor for the graph functions, which panic on bad input.
func mustMethod(m Method) *methodDef {
	d, err := methodFor(m)
	if err != nil {
		panic(err)
	}
	return d
}

// copySpec returns the descriptor with its own alias slice.
func (d *methodDef) copySpec() MethodSpec {
	s := d.spec
	s.Aliases = slices.Clone(s.Aliases)
	return s
}

// checkFor returns ErrViTOnly (wrapped, naming the method) when the method cannot run on c.
func (d *methodDef) checkFor(c Config) error {
	if c.Vision != ResNet || !d.spec.ViTOnly {
		return nil
	}
	var others []string
	for _, o := range methodTable {
		if !o.spec.ViTOnly {
			others = append(others, string(o.spec.Name))
		}
	}
	return fmt.Errorf("%w: %q needs a ViT checkpoint, this one is a %s (use %s)", ErrViTOnly, string(d.spec.Name), c.Vision,
		strings.Join(others, " or "))
}

// Methods returns every method's descriptor (copies), the default first.
func Methods() []MethodSpec {
	out := make([]MethodSpec, len(methodTable))
	for i := range methodTable {
		out[i] = methodTable[i].copySpec()
	}
	return out
}

// LookupMethod returns the descriptor (a copy) of the method named name or one of its aliases
// (case-insensitive, spaces trimmed). An empty or unknown name gives ErrUnknownMethod.
func LookupMethod(name string) (MethodSpec, error) {
	m := Method(strings.ToLower(strings.TrimSpace(name)))
	if m == MethodDefault {
		return MethodSpec{}, fmt.Errorf("%w: empty name (want one of %s)", ErrUnknownMethod, strings.Join(MethodNames(), ", "))
	}
	d, err := methodFor(m)
	if err != nil {
		return MethodSpec{}, err
	}
	return d.copySpec(), nil
}

// ReadsVFM tells whether the method a label names — a name or alias, modifiers allowed
// ("proxyclip", "naclip+resclip") — reads a vision foundation model's features (MethodSpec.VFM).
// A label that does not parse (empty, unknown, or a modifier its method excludes) reads none.
func ReadsVFM(label string) bool {
	m, _, err := ParseMethodWithModifiers(label)
	if err != nil {
		return false
	}
	spec, err := LookupMethod(string(m))
	return err == nil && spec.VFM
}

// ParseMethod reads a method name or alias (case-insensitive) into the method's canonical name;
// "" is MethodDefault.
func ParseMethod(s string) (Method, error) {
	if strings.TrimSpace(s) == "" {
		return MethodDefault, nil
	}
	spec, err := LookupMethod(s)
	return spec.Name, err
}

// AllMethods lists every method by its canonical name, the default first.
func AllMethods() []Method {
	out := make([]Method, len(methodTable))
	for i := range methodTable {
		out[i] = methodTable[i].spec.Name
	}
	return out
}

// MethodNames lists AllMethods as strings, the default first (for usage texts and forms).
func MethodNames() []string {
	out := make([]string, len(methodTable))
	for i := range methodTable {
		out[i] = string(methodTable[i].spec.Name)
	}
	return out
}

// Validate accepts MethodDefault and every method's name and aliases.
func (m Method) Validate() error {
	_, err := methodFor(m)
	return err
}

// ViTOnly tells whether the method is defined for ViT image towers only (its descriptor's
// ViTOnly; false for an unknown name).
func (m Method) ViTOnly() bool {
	d, err := methodFor(m)
	return err == nil && d.spec.ViTOnly
}

// CheckFor returns ErrUnknownMethod for an unknown name, ErrViTOnly (wrapped, naming the method)
// when the method cannot run on c.
func (m Method) CheckFor(c Config) error {
	d, err := methodFor(m)
	if err != nil {
		return err
	}
	return d.checkFor(c)
}

// ResolveMethod settles the method a call naming x runs on this model and returns its descriptor
// (a copy): x itself (a name or an alias), or Model.Method when x is MethodDefault. An unknown
// name gives ErrUnknownMethod, a ViT-only method on a ResNet ErrViTOnly. It is the one place a
// call's default method is resolved: EncodeImage and the surgery package ask it.
func (m *Model) ResolveMethod(x Method) (MethodSpec, error) {
	d, err := m.resolveMethod(x)
	if err != nil {
		return MethodSpec{}, err
	}
	return d.copySpec(), nil
}

func (m *Model) resolveMethod(x Method) (*methodDef, error) {
	if x == MethodDefault {
		x = m.Method
	}
	d, err := methodFor(x)
	if err != nil {
		return nil, err
	}
	return d, d.checkFor(m.Config)
}
