// Package nbutil is the helper code shared by the GoNB notebooks in notebooks/: loading the CLIP
// checkpoint and the example images from environment variables (so that CI runs the notebooks
// offline on the tiny golden checkpoint), drawing (points, masks, bar charts, heat maps), simple
// statistics of similarity maps, and inline display through gonbui.
//
// Everything except the Show* and Display* functions is plain Go and is tested without Jupyter.
package nbutil

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// Environment variables read by the notebooks.
const (
	// EnvWeights is a local CLIP checkpoint (.pt, .pth or .safetensors); unset = DefaultModel,
	// downloaded into the cache on first use.
	EnvWeights = "CLIPSURGERY_WEIGHTS"
	// EnvImage replaces the demo image (demo.ipynb's demo.jpg).
	EnvImage = "CLIPSURGERY_IMAGE"
	// EnvImages is a folder searched first for every example image by file name (CI points it at
	// ../shared/golden/images).
	EnvImages = "CLIPSURGERY_IMAGES"
	// EnvSAMWeights is a SAM checkpoint; unset = the notebooks show the points only.
	EnvSAMWeights = "CLIPSURGERY_SAM_WEIGHTS"
	// EnvOffline ("1", "true", "yes", "on") forbids downloads, as for the checkpoints.
	EnvOffline = "CLIPSURGERY_OFFLINE"
	// EnvCache is the checkpoint cache folder; images are cached in its "images" subfolder.
	EnvCache = "CLIPSURGERY_CACHE"
)

// DefaultModel is the model the notebooks use when EnvWeights is unset.
const DefaultModel = "CS-ViT-B/16"

// ModelInfo says where the model came from.
type ModelInfo struct {
	Source string // registry name or file path
	Size   int    // native input side (224 for ViT-B/16)
	// Tiny is true for a test-sized checkpoint (joint embedding narrower than 256, e.g. the random
	// golden checkpoint CI uses): its maps are meaningless and only show that the code runs.
	Tiny bool
}

// String is a one-line description for the notebooks.
func (i ModelInfo) String() string {
	s := fmt.Sprintf("%s (input %d×%d)", i.Source, i.Size, i.Size)
	if i.Tiny {
		s += " — a tiny test checkpoint: its weights are random, so the pictures below are meaningless; " +
			"unset " + EnvWeights + " (or point it at the real CS-ViT-B/16) to see real maps"
	}
	return s
}

// LoadCLIP loads $CLIPSURGERY_WEIGHTS when set, else DefaultModel (downloaded on first use, with a
// progress bar on progress, which may be nil). Unless GOGC is set it also sets the cell program's
// GC target to 25%, as the clipsurgery command does: the weights, most of the heap, hold no
// pointers, and the default target lets garbage grow as large as them (README, errors and limits).
func LoadCLIP(ctx context.Context, progress io.Writer) (*clip.Model, ModelInfo, error) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
	src := strings.TrimSpace(os.Getenv(EnvWeights))
	if src == "" {
		src = DefaultModel
	} else if _, err := os.Stat(src); err != nil {
		return nil, ModelInfo{}, fmt.Errorf("%s=%q: %w", EnvWeights, src, err)
	}
	m, err := clip.Load(ctx, src, clip.LoadOptions{Progress: progress})
	if err != nil {
		return nil, ModelInfo{}, err
	}
	return m, ModelInfo{Source: src, Size: m.Config.ImageResolution, Tiny: m.Config.EmbedDim < 256}, nil
}

// Image is an example image: a file name looked up in $CLIPSURGERY_IMAGES and the cache, and a
// public URL it is downloaded from otherwise.
type Image struct {
	Name string // file name, e.g. "demo.jpg"
	URL  string
	Env  string // optional environment variable holding a path that replaces the image
}

// The example images (the reference demo's image and three scikit-image test pictures).
var (
	Demo      = Image{"demo.jpg", "https://raw.githubusercontent.com/xmed-lab/CLIP_Surgery/master/demo.jpg", EnvImage}
	Chelsea   = Image{"chelsea.png", "https://raw.githubusercontent.com/scikit-image/scikit-image/main/skimage/data/chelsea.png", ""}
	Astronaut = Image{"astronaut.png", "https://raw.githubusercontent.com/scikit-image/scikit-image/main/skimage/data/astronaut.png", ""}
	Coffee    = Image{"coffee.png", "https://raw.githubusercontent.com/scikit-image/scikit-image/main/skimage/data/coffee.png", ""}
)

// CacheDir is where downloaded images are kept: the "images" folder of the checkpoint cache
// ($CLIPSURGERY_CACHE, else ~/.cache/clip; registry.CacheRoot).
func CacheDir() string {
	root, err := registry.CacheRoot("")
	if err != nil {
		return filepath.Join(os.TempDir(), "clipsurgery-images")
	}
	return filepath.Join(root, "images")
}

// maxImageBytes bounds an example image download.
const maxImageBytes = 64 << 20

// Path returns a local file holding the image: $Env when set, else $CLIPSURGERY_IMAGES/Name, else
// the cached copy, else a fresh download into the cache (refused when $CLIPSURGERY_OFFLINE or
// $HF_HUB_OFFLINE is set).
// from says which of these it was.
func (im Image) Path(ctx context.Context) (path, from string, err error) {
	if im.Env != "" {
		if p := strings.TrimSpace(os.Getenv(im.Env)); p != "" {
			if _, err := os.Stat(p); err != nil {
				return "", "", fmt.Errorf("%s=%q: %w", im.Env, p, err)
			}
			return p, "$" + im.Env, nil
		}
	}
	if dir := strings.TrimSpace(os.Getenv(EnvImages)); dir != "" {
		p := filepath.Join(dir, im.Name)
		if _, err := os.Stat(p); err == nil {
			return p, "$" + EnvImages, nil
		}
	}
	if p := filepath.Join(CacheDir(), im.Name); isFile(p) {
		return p, "cache", nil
	}
	if im.URL == "" {
		return "", "", fmt.Errorf("image %s: not found and no URL to download it from", im.Name)
	}
	// Downloaded as checkpoints are (registry): into the cache, accepted once it decodes as an
	// image, refused offline with the place to put it by hand.
	p, err := registry.FetchAsset(ctx, registry.Asset{File: im.Name, URL: im.URL, MaxBytes: maxImageBytes, Check: decodes},
		CacheDir(), registry.Options{})
	if err != nil {
		return "", "", fmt.Errorf("image %s (not in $%s): %w", im.Name, EnvImages, err)
	}
	return p, im.URL, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// decodes accepts a downloaded file that decodes as an image.
func decodes(path string) error {
	_, err := imageprep.DecodeFile(path)
	return err
}

// Load decodes the image (see Path for where it comes from).
func (im Image) Load(ctx context.Context) (image.Image, string, error) {
	p, from, err := im.Path(ctx)
	if err != nil {
		return nil, "", err
	}
	img, err := imageprep.DecodeFile(p)
	if err != nil {
		return nil, "", err
	}
	return img, from, nil
}

// LoadOr decodes the file at path when it exists, else the fallback image; used says which one it
// is, in words, for the notebook to print.
func LoadOr(ctx context.Context, path string, fallback Image) (img image.Image, used string, isFallback bool, err error) {
	if path != "" {
		if _, statErr := os.Stat(path); statErr == nil {
			img, err = imageprep.DecodeFile(path)
			return img, path, false, err
		}
	}
	img, from, err := fallback.Load(ctx)
	if err != nil {
		return nil, "", true, err
	}
	return img, fmt.Sprintf("%s (from %s; %q was not found)", fallback.Name, from, path), true, nil
}

// Timer reports how long a step took: t := nbutil.Start("encoding"); ...; t.Done().
type Timer struct {
	name  string
	start time.Time
	w     io.Writer
}

// Start prints "name …" and starts a Timer.
func Start(name string) *Timer { return StartTo(os.Stdout, name) }

// StartTo is Start writing to w.
func StartTo(w io.Writer, name string) *Timer {
	fmt.Fprintf(w, "%s …\n", name)
	return &Timer{name: name, start: time.Now(), w: w}
}

// Done prints the elapsed time and returns it.
func (t *Timer) Done() time.Duration {
	d := time.Since(t.start)
	fmt.Fprintf(t.w, "%s: done in %.1fs\n", t.name, d.Seconds())
	return d
}

// ErrEmpty is returned for an empty map or mismatched sizes.
var ErrEmpty = errors.New("nbutil: empty input")
