package nbutil

import (
	"context"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
)

// The user's own picture: every notebook explains it besides its stock images.
const (
	// EnvUserImage is the user's picture; unset = UserImageName next to the notebook.
	EnvUserImage = "CLIPSURGERY_USER_IMAGE"
	// EnvTargets are the texts to explain in it, comma-separated; unset = DefaultUserTargets().
	EnvTargets = "CLIPSURGERY_TARGETS"
	// UserImageName is the picture looked for next to the notebook.
	UserImageName = "dog.jpg"
)

// DefaultUserTargets returns what is explained in the user's picture when EnvTargets is unset;
// the chelsea fallback picture gets FallbackTargets(). Each call returns a fresh slice.
func DefaultUserTargets() []string { return []string{"dog"} }

// FallbackTargets returns what is explained in the chelsea fallback picture (see
// DefaultUserTargets).
func FallbackTargets() []string { return []string{"cat"} }

// UserInput is the user's picture and what to explain in it.
type UserInput struct {
	Image    image.Image
	Used     string   // which file, in words
	Fallback bool     // no user picture: scikit-image's chelsea is used instead
	Targets  []string // never empty
}

// UserPicture returns $CLIPSURGERY_USER_IMAGE, else dog.jpg in notebookDir (GoNB's $GONB_DIR),
// else the chelsea cat picture, with the targets of $CLIPSURGERY_TARGETS, else "dog" (or "cat" for
// the fallback). A set but missing $CLIPSURGERY_USER_IMAGE is an error, not a silent fallback.
func UserPicture(ctx context.Context, notebookDir string) (UserInput, error) {
	path := filepath.Join(notebookDir, UserImageName)
	if p := strings.TrimSpace(os.Getenv(EnvUserImage)); p != "" {
		if _, err := os.Stat(p); err != nil {
			return UserInput{}, fmt.Errorf("%s=%q: %w", EnvUserImage, p, err)
		}
		path = p
	}
	img, used, fallback, err := LoadOr(ctx, path, Chelsea)
	if err != nil {
		return UserInput{}, err
	}
	targets, err := Targets(os.Getenv(EnvTargets))
	if err != nil {
		return UserInput{}, err
	}
	if targets == nil {
		targets = DefaultUserTargets()
		if fallback {
			targets = FallbackTargets()
		}
	}
	return UserInput{Image: img, Used: used, Fallback: fallback, Targets: targets}, nil
}

// Targets splits a comma-separated target list; "" gives nil, a list of blanks an error.
func Targets(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s=%q: no target texts", EnvTargets, v)
	}
	return out, nil
}

// WithClasses returns the label set classes extended by the targets it lacks (a target "a+b"
// adds its parts), so that any target can be explained against the demo classes.
func WithClasses(classes, targets []string) []string {
	out := slices.Clone(classes)
	for _, t := range targets {
		for _, p := range strings.Split(t, "+") {
			if p = strings.TrimSpace(p); !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// TextCache is the persistent prompt-embedding cache the notebooks use (nil when
// CLIPSURGERY_TEXT_CACHE=0): a cell re-encodes only prompts no cell encoded before.
func TextCache() *clip.TextCache { return clip.DefaultTextCache("", os.Stderr) }

// EncodeClasses is the prompt ensemble of classes (nil templates = the reference's 85) through
// TextCache, as unit rows [len(classes), D].
func EncodeClasses(m *clip.Model, classes, templates []string) (surgery.Matrix, error) {
	f, err := m.EncodeTextWithPromptEnsembleCached(context.Background(), classes, templates, TextCache())
	if err != nil {
		return surgery.Matrix{}, err
	}
	return surgery.Normalize(surgery.FeatureMatrix(f)), nil
}

// LoadSAM opens $CLIPSURGERY_SAM_WEIGHTS: a checkpoint file or a released name (sam_vit_b,
// sam_vit_l, sam_vit_h: downloaded once into the checkpoint cache, as the clipsurgery command's
// -sam does). It returns nil, "" when the variable is unset.
func LoadSAM(ctx context.Context, progress io.Writer) (*sam.Model, string, error) {
	src := strings.TrimSpace(os.Getenv(EnvSAMWeights))
	if src == "" {
		return nil, "", nil
	}
	m, err := sam.Load(ctx, src, sam.LoadOptions{Progress: progress})
	if err != nil {
		return nil, "", fmt.Errorf("%s=%q: %w", EnvSAMWeights, src, err)
	}
	return m, src, nil
}

// OverlayImage is demo.py's overlay of a map (values 0..1 at the picture's size, row-major) on
// the picture: 0.4·image + 0.6·JET(map).
func OverlayImage(img image.Image, m []float32) (*image.RGBA, error) {
	rgb := imageprep.ToRGB(img)
	ov, err := surgery.Overlay(rgb.Pix, rgb.H, rgb.W, m)
	if err != nil {
		return nil, err
	}
	return FromRGB(ov, rgb.W, rgb.H)
}
