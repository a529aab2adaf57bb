package clip

import (
	"errors"
	"fmt"
)

// The modifier table: every modifier of the image encoder is one descriptor here, its graph
// functions in methods_<name>.go, its reference check in modifiers_test.go (the authors' own
// code on the golden ViT, testdata/modifiers). The method table test checks every entry and
// that the README's table agrees with it.

// modifierTable lists the modifiers. It is never changed: AllModifiers hands out copies.
var modifierTable = [...]modifierDef{
	{
		spec: ModifierSpec{
			Name:  ModifierResCLIP,
			Title: "ResCLIP",
			Changes: "last attention remolded: mixed with the mean q-k attention of intermediate blocks (RCS), its scores mixed with a " +
				"same-class matrix from a preliminary segmentation of the label set (SFR)",
			Steps: "RCS: the q-k attention weights of blocks ResCLIPOptions.RCSFrom..RCSTo (ResCLIPLayers) are averaged (ResidualCrossCorrelation) " +
				"and mixed into the base's last-block weights, τ·((1−λ)·A + λ·A_c) (MixAttention; τ 2.0, λ 0.6). " +
				"SFR: the base's tail runs once with RCS only; its patch tokens' cosine to the label set's text features, resized to the image, " +
				"refined by PAMR (10 steps, dilations 8 and 16) and softmaxed at logit scale 40 (PreliminarySegmentation), give each patch " +
				"its most frequent class, class 0 below probability 0.10 (PatchClasses); S[i,j] = 1 for equal classes, decayed by " +
				"exp(−steps/max) off straight same-class paths (SameEntity), each row blurred by a 1-D Gaussian σ 5 and normalized " +
				"(FeedbackMatrix), divided by its maximum and held in float16 (SemanticFeedback); it is mixed into the base's last scores " +
				"before the softmax, τ·((1−λ)·s + λ·S) (τ 2.1, λ 0.6). NoRCS and NoSFR switch either off; SFR reads the label set " +
				"(EncodeImageWithClasses).",
			Bases: []Method{MethodSurgery, MethodRaw, MethodSCLIP, MethodClearCLIP, MethodNACLIP},
			Excluded: "ResCLIP remolds the weights of one attention in the last block; MaskCLIP's last block has none (each token keeps " +
				"its value), GEM's ensembles three iterated self-self attentions, SC-CLIP's averages its own similarity attention, ProxyCLIP's is a vision " +
				"foundation model's affinity on another grid",
			ViTOnly: true,
			Defaults: "RCS blocks 6..9 of 12 (1-based), placed by ScaleLayer at the same relative depth in other towers (12 for B/16 and " +
				"B/32: 6..9; 24 for L/14: 11..17; 8 in the test models: 4..6), kept before the last; τ_rcs 2.0, λ_rcs 0.6, τ_sfr 2.1, " +
				"λ_sfr 0.6, threshold 0.10, logit scale 40, σ 5: demo.py's values (configs/cfg_*.py tune them per data set)",
			Paper: `Yang et al., "ResCLIP: Residual Attention for Training-free Dense Vision-language Inference", CVPR 2025, ` +
				`sections "Residual Cross-correlation Self-attention" and "Semantic Feedback Refinement"`,
			Code: "yvhangyang/ResCLIP@0e085f7f52f06098b383599e9653cd28cc665a8c clip/model.py (VisionTransformer.forward, custom_attn, " +
				"create_logit_temp, create_patch_matrix, check_path, generate_attention_sfr), pamr.py, demo.py",
			Notes: "Defined by its authors on CLIP (attn_strategy 'vanilla'), SCLIP, ClearCLIP and NACLIP; on CLIP Surgery it remolds the " +
				"new path's v-v attention in the last block (this project's composition; the class token stays the original path's). " +
				"Each base keeps its own positional-embedding resize (ResCLIP resizes as SCLIP for every base: on raw this differs " +
				"off the native size). Their segmentor sets use_rcs and use_sfr to one-element tuples, so both steps are always on " +
				"there; here NoRCS and NoSFR do switch them. The semantic feedback uses the plain cosine, also on CLIP Surgery.",
		},
		settle:       settleResCLIP,
		validate:     validateResCLIP,
		needsClasses: func(o ImageOptions) bool { return !o.ResCLIP.NoSFR },
	},
}

// mustModifier is modifierFor for names already validated.
func mustModifier(m Modifier) *modifierDef {
	d, err := modifierFor(m)
	if err != nil {
		panic(err)
	}
	return d
}

// ErrNoClasses is returned (wrapped) when an encoder's options read the label set's text
// features (ResCLIP's semantic feedback) and none were given.
var ErrNoClasses = errors.New("clip: these image options read the label set's text features")

var errNoClasses = fmt.Errorf("%w: use EncodeImageWithClasses (or switch the step off, e.g. ResCLIPOptions.NoSFR)", ErrNoClasses)

// checkModifierOptions checks the layer choices of the modifiers and of SC-CLIP against the
// model's depth.
func checkModifierOptions(o ImageOptions, c Config) error {
	if c.Vision != ViT {
		return nil
	}
	if o.Modifiers.Has(ModifierResCLIP) && !o.ResCLIP.NoRCS {
		if _, _, err := resclipBlocks(o.ResCLIP, c.VisionLayers); err != nil {
			return err
		}
	}
	if o.Method == MethodSCCLIP {
		if _, _, _, _, err := scclipBlocks(o.SCCLIP, c.VisionLayers); err != nil {
			return err
		}
	}
	return nil
}

// CheckImageOptions runs every check of EncodeImage that needs no image: the options
// themselves, the method (Model.Method for MethodDefault) and its modifiers against this
// model's image tower (ViT-only, depth). Callers that encode many images check once.
func (m *Model) CheckImageOptions(opt ImageOptions) error {
	method, err := m.resolveMethod(opt.Method)
	if err != nil {
		return err
	}
	opt.Method = method.spec.Name
	if err := opt.Validate(); err != nil {
		return err
	}
	if err := checkModifiers(opt.Modifiers, method, &m.Config); err != nil {
		return err
	}
	return checkModifierOptions(opt, m.Config)
}
