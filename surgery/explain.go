package surgery

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
)

// This file is the image-in, maps-and-points-out API: demo.py's pipeline behind one call.
//
//	preprocess (Pillow bicubic Resize((n,n)) + the model's Normalize)  →  encode all tokens (architecture surgery,
//	or the original CLIP)  →  L2-normalise  →  feature surgery (or raw img@text)  →  per target:
//	min-max map resized to the ORIGINAL image size, JET overlay on the original RGB, SAM points.

// FeatureSurgeryMode says whether feature surgery follows the image encoder, so that the effect
// of a method's encoder and of feature surgery can be told apart.
type FeatureSurgeryMode string

const (
	// FeatureSurgeryAuto is the method's own similarity (clip.MethodSpec.FeatureSurgery): feature
	// surgery for clip.MethodSurgery, the plain cosine similarity img @ textᵀ for every other
	// method (what their authors use).
	FeatureSurgeryAuto FeatureSurgeryMode = ""
	FeatureSurgeryOn   FeatureSurgeryMode = "on"  // feature surgery on top of any method
	FeatureSurgeryOff  FeatureSurgeryMode = "off" // img @ textᵀ, also for clip.MethodSurgery
)

// DefaultThreshold is demo.py's t for similarity_map_to_points.
const DefaultThreshold = 0.8

// DefaultMaxLabels bounds the label set (Options.MaxLabels): each label costs a prompt ensemble of
// 85 prompts through the text encoder, so 100 000 labels would be minutes of work and gigabytes
// of features. 4096 covers ImageNet-1k (1000) and LVIS (1203) with room to spare.
const DefaultMaxLabels = 4096

// Options are the inputs of one Explain call besides the image and the targets. The zero value is
// demo.py's CLIP Surgery section at the model's native size with the 59 demo classes.
type Options struct {
	// Size is the square input side (0 = the model's native resolution, e.g. 224). Any multiple of
	// the patch size (32 for ResNets) works; the positional embedding is resized (demo.py uses 512).
	Size int
	// Labels is the label set whose features feature surgery compares (nil = DemoClasses()).
	// Ignored in single-text mode.
	Labels []string
	// Templates are the prompt-ensemble templates ("{}" = the text; nil = the 85 of the reference).
	Templates []string
	// ClassTemplates gives classes their own template lists, which replace Templates for them
	// (e.g. the experts SelectTemplates picks, FLOSS). Entries of texts that are no class of the
	// call are ignored, so that one selection serves any part of its label set. nil = none.
	ClassTemplates ClassTemplates
	// Single is demo.py's "single text, without a fixed label set" mode: the targets themselves are
	// encoded and the redundant features are the prompt ensemble of "" (sim = F·(T−R)ᵀ), so any text
	// works.
	Single bool
	// Method is the image encoder's method, a name or alias (clip.MethodDefault: the model's,
	// Model.Method; clip.Model.ResolveMethod settles it). It may name modifiers too,
	// "naclip+resclip" (clip.ParseMethodWithModifiers), joined with Modifiers.
	Method clip.Method
	// Modifiers compose with Method (clip.ParseModifiers; "" = none), e.g. ResCLIP, whose semantic
	// feedback reads the text features of the label set (the targets in single-text mode).
	Modifiers clip.Modifiers
	// FeatureSurgery turns feature surgery on or off on top of Method (default: the method's own).
	FeatureSurgery FeatureSurgeryMode
	// Threshold is similarity_map_to_points' t, in (0, 1] (0 = DefaultThreshold).
	Threshold float32
	// Slide runs sliding-window inference (slide.go): windows of side Size moved over the image
	// at its own resolution, their similarities averaged where they overlap. For images larger
	// than the model's input; memory stays that of one window plus one H×W plane per class.
	Slide bool
	// Stride is the sliding windows' step in pixels, 1..Size (0 = Size/2, half a window). Only
	// with Slide.
	Stride int
	// MaxLabels bounds the number of labels (or of distinct target texts in single-text mode)
	// encoded (0 = DefaultMaxLabels).
	MaxLabels int
	// PresenceThreshold is the presence gate (presence.go): a target whose Presence is below it
	// gets no points (Target.Absent), hence no SAM mask in package textmask. In [0, 1]; 0 = off,
	// the reference's behaviour, which draws points for any target.
	PresenceThreshold float32
	// Presence asks for Result.Presence and Target.Presence even when they cost an encoder pass
	// (see presence.go); a PresenceThreshold implies it.
	Presence bool
	// VFM is the vision foundation model a method with clip.MethodSpec.VFM reads (ProxyCLIP:
	// LoadVFM, DINOVFM, SAMVFM), loaded once and shared by every call; nil for the other methods.
	// The similarity's tokens then lie on the VFM's grid.
	VFM VFM
	// ProxyBeta and ProxyGamma are ProxyCLIP's β and γ of its affinity (clip.ImageOptions; 0 =
	// clip.DefaultProxyBeta 1.2, clip.DefaultProxyGamma 3.0); only with a VFM method.
	ProxyBeta, ProxyGamma float64
}

// Target is the explanation of one requested text.
type Target struct {
	Text    string   // as requested, e.g. "person+bench"
	Parts   []string // the texts it combines ("person", "bench"); one for a plain target
	Columns []int    // their columns in Result.Similarity

	// Map is the H×W similarity map in 0..1 at the original image size, row-major. For a combined
	// target it is the map of the reference's sm_mean (mean of the parts' min-max maps), whose low
	// points are the combined negatives.
	Map []float32
	// OverlayRGB is demo.py's overlay, 0.4·image + 0.6·JET(map), H×W×3 RGB bytes; Overlay is the
	// same pixels as an image.
	OverlayRGB []uint8
	Overlay    *image.RGBA
	// Points are SAM point prompts on the original image, label 1 for a positive, 0 for a
	// negative. Plain target: positives (best last) then negatives; combined target:
	// CombinedTargetPoints' order. None when Absent.
	Points []Point
	// Presence is CLIP's probability that the image shows the target among Result.Classes: the
	// class's entry of Result.Presence, for a combined target the sum over its parts. NaN when
	// Result.Presence was not computed.
	Presence float32
	// Absent is true when Presence is below Options.PresenceThreshold: the target has no points.
	Absent bool
}

// Result holds everything one Explain call computed.
type Result struct {
	Width, Height int            // original image size: the maps' and overlays' size
	Size          int            // the model input side used
	Method        clip.Method    // the method used, by its canonical name (never clip.MethodDefault)
	Modifiers     clip.Modifiers // the modifiers used, canonical ("" = none)
	// FeatureSurgery tells whether feature surgery made Similarity (else img @ textᵀ).
	FeatureSurgery bool
	// Redundant is true when the similarity subtracted the "" prompt-ensemble features (single-text
	// mode, or a one-class label set: see Explain).
	Redundant bool
	// Classes names the columns of Similarity: the label set, or the distinct target texts in
	// single-text mode.
	Classes []string
	// Windows is the number of sliding windows encoded (0 without Options.Slide).
	Windows int
	// Stride is the sliding windows' step in pixels actually used (Options.Stride or its default;
	// 0 without Options.Slide).
	Stride int
	// Similarity is [1+g·g, len(Classes)] (empty with Options.Slide): all tokens (token 0 = class token) against every class,
	// as clip_feature_surgery (or img@textᵀ without feature surgery) returns it.
	Similarity Matrix
	// Presence is CLIP's classification of the image over Classes (ClassPresence), one probability
	// per class. It is computed when it is free — the method's class token is CLIP's own — or asked
	// for (Options.Presence, Options.PresenceThreshold); nil otherwise.
	Presence []float32
	Targets  []Target
}

// Explainer runs the pipeline on one model. It keeps the text features per (texts, templates) in
// memory, so repeated calls with the same label set encode no text, and each prompt's features on
// disk (clip.TextCache), so other processes and later runs encode only prompts never seen. It is
// safe for concurrent use.
type Explainer struct {
	model     *clip.Model
	textCache *clip.TextCache // nil = no persistent cache
	mu        sync.Mutex
	texts     map[string]*textEntry
}

// ExplainerOptions configure NewExplainerWith. The zero value is NewExplainer's behaviour.
type ExplainerOptions struct {
	// TextCache is the persistent prompt-embedding cache. nil means clip.DefaultTextCache: under
	// $CLIPSURGERY_CACHE or ~/.cache/clip, unless CLIPSURGERY_TEXT_CACHE=0 turns it off.
	TextCache *clip.TextCache
	// NoTextCache disables the persistent cache (TextCache is then ignored).
	NoTextCache bool
}

// NewExplainer wraps a loaded model (clip.Load / clip.NewModel) with the default text cache.
func NewExplainer(m *clip.Model) (*Explainer, error) {
	return NewExplainerWith(m, ExplainerOptions{})
}

// NewExplainerWith wraps a loaded model with the given options.
func NewExplainerWith(m *clip.Model, opt ExplainerOptions) (*Explainer, error) {
	if m == nil {
		return nil, errors.New("surgery: NewExplainer: nil model")
	}
	tc := opt.TextCache
	if tc == nil && !opt.NoTextCache {
		tc = clip.DefaultTextCache("", nil)
	}
	if opt.NoTextCache {
		tc = nil
	}
	return &Explainer{model: m, textCache: tc, texts: map[string]*textEntry{}}, nil
}

// TextCache is the persistent prompt-embedding cache in use (nil = none).
func (e *Explainer) TextCache() *clip.TextCache { return e.textCache }

// Model returns the wrapped model.
func (e *Explainer) Model() *clip.Model { return e.model }

// Explain explains targets in img (any decoded image; gray and RGBA are converted as
// clip._transform does). Each target is a text of the label set (any text in single-text mode) or
// "a+b" for the combined prompt of demo.py's person+bench. demo.py builds that prompt from the
// single-text similarity (F·(T−R)ᵀ over the parts): that is what Single gives, and the golden
// points are matched there. With a label set, the parts' columns of the label set's feature
// surgery are combined the same way.
//
// One class without redundant features is NaN in the reference (mean over one class equals the
// class). Explain therefore uses the "" prompt-ensemble features as redundant features whenever the
// class list has a single entry — exactly what demo.py does for one text — and sets
// Result.Redundant; it never draws NaN.
func (e *Explainer) Explain(img image.Image, targets []string, opt Options) (*Result, error) {
	return e.ExplainContext(context.Background(), img, targets, opt)
}

// ExplainContext is Explain that stops between sliding windows when ctx is done.
func (e *Explainer) ExplainContext(ctx context.Context, img image.Image, targets []string, opt Options) (*Result, error) {
	if img == nil {
		return nil, errors.New("surgery: Explain: nil image")
	}
	b := img.Bounds()
	if b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, fmt.Errorf("surgery: Explain: empty image (%d×%d)", b.Dx(), b.Dy())
	}
	return e.ExplainPixelsContext(ctx, imageprep.ToPixels(img), targets, opt)
}

// ExplainPixels is Explain for an image already in a Pillow mode, e.g. the bytes numpy holds for
// np.array(Image.open(file)) (imageprep.PixelsFromArray): the way to start from the reference's own
// JPEG decoding (golden README, Q8).
func (e *Explainer) ExplainPixels(p *imageprep.Pixels, targets []string, opt Options) (*Result, error) {
	return e.ExplainPixelsContext(context.Background(), p, targets, opt)
}

// ExplainPixelsContext is ExplainPixels returning ctx's error once ctx is done: it is checked
// between the steps (preprocessing, image encoder, each batch of the prompt ensemble, maps) and
// between sliding windows.
func (e *Explainer) ExplainPixelsContext(ctx context.Context, p *imageprep.Pixels, targets []string, opt Options) (res *Result, err error) {
	defer func() { // graph building and execution panic; no panic leaves the API
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("surgery: Explain: internal error: %v", r)
		}
	}()
	if p == nil || p.W <= 0 || p.H <= 0 || len(p.Pix) != p.W*p.H*p.C {
		return nil, errors.New("surgery: Explain: empty or malformed pixels")
	}
	plan, err := e.plan(targets, opt)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if plan.slide {
		res = &Result{Width: p.W, Height: p.H, Size: plan.size, Method: plan.method, Modifiers: plan.modifiers, FeatureSurgery: plan.featureSurgery,
			Classes: plan.classes}
		if res.Presence, err = e.presence(ctx, p, plan, nil); err != nil {
			return nil, err
		}
		if err := e.explainSlide(ctx, p, plan, res); err != nil {
			return nil, err
		}
		return res, nil
	}
	feats, err := e.encodeImage(p, plan)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res = &Result{Width: p.W, Height: p.H, Size: plan.size, Method: plan.method, Modifiers: plan.modifiers, FeatureSurgery: plan.featureSurgery,
		Classes: plan.classes}
	res.Similarity, res.Redundant, err = e.similarity(ctx, feats, plan)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if res.Presence, err = e.presence(ctx, p, plan, &feats); err != nil {
		return nil, err
	}
	res.Targets, err = explainTargets(res.Similarity, plan, res.Presence, p.RGB().Pix, p.H, p.W)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// encodeImage is demo.py's preprocess + encode_image + L2 normalisation: [1+g·g, D] unit rows.
// The preprocessing is clip.Config.DenseTransform: demo.py's Resize((n, n)) of the whole image,
// normalised with the model's own mean and std (OpenAI's for CLIP; an OpenCLIP config may give
// others), so that the map covers every pixel whatever the model's pooled preprocessing crops.
func (e *Explainer) encodeImage(p *imageprep.Pixels, plan *plan) (Matrix, error) {
	t := e.model.Config.DenseTransform(plan.size)
	rgb, err := t.GeometryPixels(p)
	if err != nil {
		return Matrix{}, fmt.Errorf("surgery: preprocessing: %w", err)
	}
	opt := clip.ImageOptions{Method: plan.method, Modifiers: plan.modifiers, ProxyBeta: plan.proxyBeta, ProxyGamma: plan.proxyGamma}
	if plan.vfm != nil { // the VFM sees the window CLIP sees (ProxyCLIP's forward_feature)
		if opt.Proxy, err = plan.vfm.PatchFeatures(imageprep.Unit(rgb), rgb.H, rgb.W); err != nil {
			return Matrix{}, err
		}
	}
	var classes *clip.Features
	if opt.NeedsClasses() { // e.g. ResCLIP's semantic feedback segments with the label set first
		text, err := e.planTextFeatures(context.Background(), plan) // per-class templates included
		if err != nil {
			return Matrix{}, err
		}
		classes = &clip.Features{Data: text.Data, Shape: []int{text.Rows, text.Cols}}
	}
	f, err := e.model.EncodeImageWithClasses(imageprep.NormalizeWith(rgb, t.Mean, t.Std), 1, plan.size, plan.size, opt, classes)
	if err != nil {
		return Matrix{}, fmt.Errorf("surgery: encoding the image: %w", err)
	}
	return Normalize(FeatureMatrix(f)), nil
}

// similarity compares the image tokens with the classes: feature surgery (with the "" features as
// redundant ones in single-text mode or for a single class) or, without feature surgery, img @ textᵀ.
func (e *Explainer) similarity(ctx context.Context, img Matrix, plan *plan) (sim Matrix, redundant bool, err error) {
	text, err := e.planTextFeatures(ctx, plan)
	if err != nil {
		return Matrix{}, false, err
	}
	var r *Matrix
	if plan.featureSurgery && (plan.single || text.Rows == 1) {
		rm, err := e.TextFeaturesContext(ctx, []string{""}, plan.templates)
		if err != nil {
			return Matrix{}, false, err
		}
		r = &rm
	}
	sim, err = compare(img, text, r, plan.featureSurgery)
	return sim, r != nil, err
}

// compare is the similarity of image tokens and class features: feature surgery (with the
// redundant features r, or nil for the class mean) or img @ textᵀ.
func compare(img, text Matrix, r *Matrix, featureSurgery bool) (Matrix, error) {
	if !featureSurgery {
		return RawSimilarity(img, text), nil
	}
	sim, _, err := FeatureSurgery(img, text, r)
	return sim, err
}
