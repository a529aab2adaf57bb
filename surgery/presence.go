package surgery

import (
	"context"
	"fmt"
	"math"
	"slices"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
)

// The presence gate. CLIP Surgery min-max normalises every map, so a target that is not in the
// image still gets a peak and points there (xmed-lab/CLIP_Surgery issue #12, "How to control the
// accurance of generate point?"). Its maintainer's answer is to measure whether the text is
// present by the class token, softmax(image_features[:, :1] @ text_featuresᵀ), and to ignore the
// texts below a threshold. Presence here is that measure with CLIP's logit scale, i.e. CLIP's own
// zero-shot classification of the image over the call's classes (the maintainer's unscaled
// softmax of cosines is nearly 1/K for every class, as the follow-up shows):
//
//	presence_k = softmax_k(s · cos(v, t_k))
//
// v is CLIP's pooled image embedding at the call's input (Options.Size, the whole image resized
// as for the maps), t_k the class's text features (the same prompt ensemble as the maps), s =
// exp(logit_scale) of the checkpoint (CLIP's logits_per_image; 100 for OpenAI's models), or
// DefaultPresenceLogitScale for a checkpoint without logit_scale.
//
// Under CLIP Surgery v is token 0 of the encoder's output: the class token of the original path
// (clip_surgery_model.py: x[0] = x_ori[0]), which runs the unchanged blocks; the same holds for
// the raw method (classTokenIsCLIPs). There the presence costs nothing and is always reported.
// The other methods and modifiers change the class token too (their last block, or the ResNet's
// value-value attention pool under surgery), so v needs one pass of the unchanged encoder
// (clip.Model.EncodeImagePooled); it is run only when asked for (Options.Presence, or a
// PresenceThreshold for the gate).

// DefaultPresenceLogitScale is the logit scale of a checkpoint without logit_scale: OpenAI's
// trained value (exp(4.6052) = 100, the clamp of CLIP's training).
const DefaultPresenceLogitScale = 100

// checkPresenceThreshold accepts thresholds in [0, 1] (0 = no gate).
func checkPresenceThreshold(t float32) error {
	if !(t >= 0 && t <= 1) { // also rejects NaN
		return fmt.Errorf("surgery: presence threshold %v: must be in [0, 1] (0 = no gate)", t)
	}
	return nil
}

// PresenceLogitScale is the scale of the presence softmax: exp(logit_scale) of the model's
// checkpoint, DefaultPresenceLogitScale without one.
func (e *Explainer) PresenceLogitScale() float64 {
	if s, ok := e.model.LogitScale(); ok {
		return s
	}
	return DefaultPresenceLogitScale
}

// ClassPresence is CLIP's classification of one image embedding over classes: softmax of scale
// times the cosine of v (any norm) with each row of text (unit rows), in float64.
func ClassPresence(v []float32, text Matrix, scale float64) ([]float32, error) {
	if len(v) != text.Cols || text.Rows == 0 {
		return nil, fmt.Errorf("surgery: presence of a %d-channel image embedding over %d×%d text features", len(v), text.Rows, text.Cols)
	}
	norm := math.Sqrt(dot64(v, v))
	logits := make([]float64, text.Rows)
	top := math.Inf(-1)
	for k := range logits {
		logits[k] = scale * dot64(v, text.Row(k)) / norm
		top = max(top, logits[k])
	}
	sum := 0.0
	for k, l := range logits {
		logits[k] = math.Exp(l - top)
		sum += logits[k]
	}
	out := make([]float32, len(logits))
	for k, x := range logits {
		out[k] = float32(x / sum)
	}
	if math.IsNaN(sum) {
		return nil, fmt.Errorf("surgery: presence: non-finite image embedding")
	}
	return out, nil
}

// presence is the call's ClassPresence, or nil when it is not free and was not asked for. feats
// are the encoded tokens of the whole image (nil with sliding windows).
func (e *Explainer) presence(ctx context.Context, p *imageprep.Pixels, plan *plan, feats *Matrix) ([]float32, error) {
	free := feats != nil && classTokenIsCLIPs(e.model.Config, plan.method, plan.modifiers)
	if !free && !plan.presence {
		return nil, nil
	}
	text, err := e.planTextFeatures(ctx, plan)
	if err != nil {
		return nil, err
	}
	var v []float32
	if free {
		v = feats.Row(0)
	} else {
		pix, err := e.model.Config.DenseTransform(plan.size).ApplyPixels(p)
		if err != nil {
			return nil, fmt.Errorf("surgery: preprocessing: %w", err)
		}
		f, err := e.model.EncodeImagePooled(pix, 1, plan.size, plan.size)
		if err != nil {
			return nil, fmt.Errorf("surgery: presence: %w", err)
		}
		v = f.Data
	}
	return ClassPresence(v, text, e.PresenceLogitScale())
}

// classTokenIsCLIPs tells whether token 0 of the method's output is CLIP's pooled image
// embedding at any input size: the class token of the unchanged blocks, which CLIP Surgery's
// original path keeps on a ViT pooling its class token (with ResCLIP too, which remolds the new
// path only) and the raw method without modifiers, and the raw attention pool of a ResNet.
// (MaskCLIP and SC-CLIP keep it at the native size only: their positional resize differs.)
func classTokenIsCLIPs(c clip.Config, m clip.Method, mods clip.Modifiers) bool {
	if c.Vision == clip.ResNet {
		return m == clip.MethodRaw && mods == ""
	}
	return (m == clip.MethodSurgery || (m == clip.MethodRaw && mods == "")) && (c.Pool == "" || c.Pool == clip.PoolClassToken)
}

// targetPresence is a target's presence: its class's, the sum over the parts of a combined one
// (the probability that the image shows any of them); NaN without class presences.
func targetPresence(classPresence []float32, columns []int) float32 {
	if classPresence == nil {
		return float32(math.NaN())
	}
	var s float32
	for i, c := range columns {
		if !slices.Contains(columns[:i], c) {
			s += classPresence[c]
		}
	}
	return s
}
