package clip

import (
	"errors"
	"fmt"
	"strings"
)

// Method is the training-free change made to the last block(s) of the image encoder: one
// parameter from the graph (ImageOptions.Method) through surgery.Options, the command line
// (-method) and the notebooks. Every method keeps the checkpoint's own weights and backbone: its
// activation, LayerNorm eps and heads as its config gives them (Config.VisionTower: QuickGELU and
// eps 1e-5 for OpenAI's CLIP, exact GELU for most OpenCLIP models) and nn.MultiheadAttention's
// packed projection; only the blocks named below and the positional-embedding resize for inputs
// other than the native size change.
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
// MethodSurgery — CLIP Surgery (Li et al., "A closer look at the explainability of Contrastive
// Language-Image Pre-training", 2023, method section "architecture surgery"; xmed-lab/CLIP_Surgery
// clip/clip_surgery_model.py). The last Depth (6) blocks get a second path: v-v self-attention
// through the block's out_proj, accumulated without FFN and without a LayerNorm of its own; the
// original path runs on and gives the class token. Positional embedding: bilinear,
// align_corners=False, to the grid size (ResizePositionalEmbedding). The reference; the goldens
// check it.
//
// MethodRaw — the original CLIP (Radford et al. 2021): every block unchanged; the positional
// embedding resized as CLIP Surgery's code does (bilinear), since this is its comparison baseline.
//
// MethodMaskCLIP — MaskCLIP (Zhou et al., "Extract Free Dense Labels from CLIP", ECCV 2022,
// method section: the value embedding of the last attention layer as dense features;
// chongzhou96/MaskCLIP mmseg/models/backbones/vit.py, TransformerEncoderLayer.forward
// with return_qkv on the last layer): in the last block each patch token keeps only its value
// embedding — x + out_proj(v(ln_1 x)), then the block's FFN with its residual, then ln_post and
// the projection; the class token comes from the unchanged block (x[:, 1:] = v[:, 1:]).
// ValueEmbeddingBlock. Positional embedding: bicubic, align_corners=False, to the grid size
// (resize_pos_embed, interpolate_mode='bicubic'). The release's ViT config uses GELU and
// LayerNorm eps 1e-6 (configs/_base_/models/maskclip_vit16.py); the checkpoint's own activation
// and eps are used here (QuickGELU and 1e-5 for OpenAI's CLIP). MaskCLIP's ResNet variant is not
// implemented: ResNets give ErrViTOnly.
//
// MethodSCLIP — SCLIP (Wang et al., "SCLIP: Rethinking Self-Attention for Dense Vision-Language
// Inference", 2023, method section "correlative self-attention"; wangf3014/SCLIP clip/model.py,
// VisionTransformer.custom_attn with csa=True): the last block's attention weights are
// softmax(q qᵀ/√d) + softmax(k kᵀ/√d) (CorrelativeSelfAttention); residual and FFN are kept.
// Positional embedding: bicubic, align_corners=False, with scale_factor = (g + 0.1)/native per
// axis (interpolate_pos_encoding), so source coordinates are (d + 0.5)·native/(g + 0.1) − 0.5,
// not the size ratio; not resized when the token count equals the native one
// (ResizePositionalEmbeddingScaled).
//
// MethodClearCLIP — ClearCLIP (Lan et al., "ClearCLIP: Decomposing CLIP Representations for
// Dense Vision-Language Inference", ECCV 2024, method section: drop the residual connection and
// the FFN of the last block, q-q attention; mc-lan/ClearCLIP
// open_clip/transformer.py, VisionTransformer.forward with model_type='ClearCLIP',
// ignore_residual=True, last_n_layers=1): the last block's output is out_proj(softmax(q qᵀ/√d) v)
// alone — no residual connection, no FFN (ClearCLIPBlock). Positional embedding as SCLIP's
// (interpolate_pos_encoding, same +0.1 scale factor).
//
// MethodNACLIP — NACLIP (Hajimiri et al., "Pay Attention to Your Neighbours: Training-Free
// Open-Vocabulary Semantic Segmentation", WACV 2025, method section: neighbourhood attention,
// key-key similarity, reduced architecture; sinahmr/NACLIP clip/model.py,
// VisionTransformer with arch='reduced', attn_strategy='naclip', gaussian_std=5): the last
// block's output is out_proj(softmax(k kᵀ/√d + Ω) v) alone — no residual, no FFN — where Ω is
// a Gaussian over the patch grid, Ω[p, p'] = exp(−|p − p'|²/(2σ²)) with σ =
// ImageOptions.NeighbourhoodStd (default 5), and 0 in the class token's row and column
// (gaussian_window, get_attention_addition; NeighbourhoodPrior, NeighbourhoodAttention).
// Positional embedding as SCLIP's (interpolate_pos_encoding with recompute_scale_factor=False:
// the same numbers).
//
// Outside the encoder, and not part of a Method here: the releases run their models in float16
// on GPU (float32 here); their evaluation resizes each image to a short side of 336 (SCLIP,
// NACLIP) or 448 (ClearCLIP) before sliding windows of 224 (stride 112) or 448 (stride 224) over
// it (surgery.Options.Slide and Stride do the sliding; the resize is the caller's); NACLIP's
// default post-processing PAMR and SCLIP's area threshold are not implemented.
type Method string

const (
	// MethodDefault is the model's default method in Model.EncodeImage (Model.Method: surgery
	// for "CS-" names and files, raw for plain names) and MethodSurgery in the graph functions.
	MethodDefault   Method = ""
	MethodSurgery   Method = "surgery"
	MethodRaw       Method = "raw"
	MethodMaskCLIP  Method = "maskclip"
	MethodSCLIP     Method = "sclip"
	MethodClearCLIP Method = "clearclip"
	MethodNACLIP    Method = "naclip"
)

// DefaultNeighbourhoodStd is NACLIP's σ of the Gaussian neighbourhood prior (its gaussian_std).
const DefaultNeighbourhoodStd = 5.0

// ErrUnknownMethod is returned (wrapped) for a method name that is not one of AllMethods.
var ErrUnknownMethod = errors.New("clip: unknown method")

// ErrViTOnly is returned (wrapped) when a ViT-only method is asked of a ResNet checkpoint.
var ErrViTOnly = errors.New("clip: method works on ViT image towers only")

// AllMethods lists every method, the default first.
func AllMethods() []Method {
	return []Method{MethodSurgery, MethodRaw, MethodMaskCLIP, MethodSCLIP, MethodClearCLIP, MethodNACLIP}
}

// ParseMethod reads a method name (case-insensitive; "" is MethodDefault).
func ParseMethod(s string) (Method, error) {
	m := Method(strings.ToLower(strings.TrimSpace(s)))
	if err := m.Validate(); err != nil {
		return "", err
	}
	return m, nil
}

// Validate accepts MethodDefault and the methods of AllMethods.
func (m Method) Validate() error {
	if m == MethodDefault {
		return nil
	}
	for _, k := range AllMethods() {
		if m == k {
			return nil
		}
	}
	return fmt.Errorf("%w %q (want one of %s)", ErrUnknownMethod, string(m), strings.Join(MethodNames(), ", "))
}

// MethodNames lists AllMethods by name, the default first (for usage texts and forms).
func MethodNames() []string {
	var names []string
	for _, m := range AllMethods() {
		names = append(names, string(m))
	}
	return names
}

// ViTOnly tells whether the method is defined for ViT image towers only (every method but
// surgery and raw; see the Method documentation).
func (m Method) ViTOnly() bool {
	return m != MethodDefault && m != MethodSurgery && m != MethodRaw
}

// CheckFor returns ErrViTOnly (wrapped, naming the method) when the method cannot run on c.
func (m Method) CheckFor(c Config) error {
	if c.Vision == ResNet && m.ViTOnly() {
		return fmt.Errorf("%w: %q needs a ViT checkpoint, this one is a %s (use surgery or raw)", ErrViTOnly, string(m), c.Vision)
	}
	return nil
}
