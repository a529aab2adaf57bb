package surgery

import (
	"context"
	"errors"
	"fmt"
	"os"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	dino "github.com/clipsurgery/clipsurgery/gomlx_dino"
	sam "github.com/clipsurgery/clipsurgery/gomlx_sam"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/clipsurgery/clipsurgery/weights/registry"
	"github.com/gomlx/compute"
)

// VFM is a vision foundation model whose patch features a method with clip.MethodSpec.VFM
// (ProxyCLIP) reads: it runs on each window CLIP sees, on the same pixels, as
// ProxyCLIPSegmentation.forward_feature feeds it (the window re-normalised with ImageNet's mean and
// std; SAM's resized to its input side). A VFM is loaded once (LoadVFM, DINOVFM, SAMVFM) and given
// to every call in Options.VFM; it holds no per-image state and is safe for concurrent use.
type VFM interface {
	// Name says which model it is ("dinov2-b14-reg", "sam vit_b").
	Name() string
	// Grid is the side of the patch grid the model gives for a square window of side n (CLIP's
	// input side), or an error when it cannot take that side (not a multiple of its patch).
	Grid(n int) (int, error)
	// PatchFeatures returns the model's patch features of one window, [1, H, W, C] channels last,
	// given the window at CLIP's input side h×w (after CLIP's resize or padding) as forward_feature
	// un-normalises CLIP's input: CHW float32, pixel/255 (imageprep.Unit, imageprep.UnNormalize).
	PatchFeatures(unit []float32, h, w int) (*clip.Features, error)
}

// DINOVFM is a DINO or DINOv2 backbone as ProxyCLIP's VFM: the window at CLIP's side, ImageNet's
// normalisation, the patch tokens after the final LayerNorm (get_intermediate_layers(x)[0] without
// the class and register tokens), on the window's h/patch × w/patch grid.
func DINOVFM(m *dino.Model) VFM { return dinoVFM{m} }

type dinoVFM struct{ m *dino.Model }

func (v dinoVFM) Name() string { return v.m.Config.Name() }

func (v dinoVFM) Grid(n int) (int, error) {
	p := v.m.Config.PatchSize
	if n <= 0 || n%p != 0 {
		return 0, fmt.Errorf("surgery: window side %d is not a multiple of the VFM %s's patch %d (mismatched patch grids: "+
			"take a side that is a multiple of both CLIP's patch and %d)", n, v.Name(), p, p)
	}
	return n / p, nil
}

func (v dinoVFM) PatchFeatures(unit []float32, h, w int) (*clip.Features, error) {
	pix := imageprep.NormalizeUnit(unit, dino.ImageNetMean(), dino.ImageNetStd())
	t, err := v.m.PatchFeatures(pix, 1, h, w)
	if err != nil {
		return nil, fmt.Errorf("surgery: VFM %s: %w", v.Name(), err)
	}
	f := t.Patches
	f.Shape = []int{1, t.GridH, t.GridW, f.Shape[2]}
	return f, nil
}

// SAMVFM is Segment Anything's image encoder as ProxyCLIP's VFM: the window normalised with
// ImageNet's mean and std, resized bilinearly (align_corners=False) to the encoder's input side
// (1024) whatever its own, and the neck's output, [1, 64, 64, 256] channels last.
func SAMVFM(m *sam.Model) VFM { return samVFM{m} }

type samVFM struct{ m *sam.Model }

func (v samVFM) Name() string { return "sam " + v.m.Config.Name() }

func (v samVFM) Grid(n int) (int, error) {
	if n <= 0 {
		return 0, fmt.Errorf("surgery: window side %d", n)
	}
	return v.m.Config.GridSize(), nil
}

func (v samVFM) PatchFeatures(unit []float32, h, w int) (*clip.Features, error) {
	s := v.m.Config.ImageSize
	pix := imageprep.NormalizeUnit(unit, dino.ImageNetMean(), dino.ImageNetStd())
	in := make([]float32, 0, 3*s*s)
	for c := range 3 {
		in = append(in, resizeNCHW(pix[c*h*w:(c+1)*h*w], h, w, s, s)...)
	}
	f, err := v.m.EncodeImage(in, 1)
	if err != nil {
		return nil, fmt.Errorf("surgery: VFM %s: %w", v.Name(), err)
	}
	ch, gh, gw := f.Shape[1], f.Shape[2], f.Shape[3] // NCHW → channels last
	out := &clip.Features{Shape: []int{1, gh, gw, ch}, Data: make([]float32, len(f.Data))}
	for c := range ch {
		for i := range gh * gw {
			out.Data[i*ch+c] = f.Data[c*gh*gw+i]
		}
	}
	return out, nil
}

// VFMLoadOptions control LoadVFM: where and how a named checkpoint is fetched, and the backend.
type VFMLoadOptions struct {
	registry.Options
	Backend compute.Backend // nil = modelkit.BackendFromEnv()
}

// LoadVFM loads ProxyCLIP's VFM by name or path: a DINO / DINOv2 name ("dinov2-b14",
// "dino_vitb8", ...: registry.DINONames) or a SAM name ("sam_vit_b"), or a checkpoint file or
// Hugging Face folder of either, told apart by its tensor names.
func LoadVFM(ctx context.Context, nameOrPath string, opt VFMLoadOptions) (VFM, error) {
	if _, err := registry.LookupSAM(nameOrPath); err == nil && !isFile(nameOrPath) {
		return loadSAMVFM(ctx, nameOrPath, opt)
	}
	if _, err := registry.LookupDINO(nameOrPath); err == nil && !isFile(nameOrPath) {
		return loadDINOVFM(ctx, nameOrPath, opt)
	}
	if _, err := os.Stat(nameOrPath); err != nil {
		return nil, fmt.Errorf("surgery: VFM %q is neither a checkpoint nor a model name (DINO: %v; SAM: %v)", nameOrPath,
			registry.DINONames(), registry.SAMNames())
	}
	if isSAMCheckpoint(nameOrPath) {
		return loadSAMVFM(ctx, nameOrPath, opt)
	}
	return loadDINOVFM(ctx, nameOrPath, opt)
}

func loadDINOVFM(ctx context.Context, name string, opt VFMLoadOptions) (VFM, error) {
	m, err := dino.Load(ctx, name, dino.LoadOptions{Options: opt.Options, Backend: opt.Backend})
	if err != nil {
		return nil, err
	}
	return DINOVFM(m), nil
}

func loadSAMVFM(ctx context.Context, name string, opt VFMLoadOptions) (VFM, error) {
	m, err := sam.Load(ctx, name, sam.LoadOptions{Options: opt.Options, Backend: opt.Backend})
	if err != nil {
		return nil, err
	}
	return SAMVFM(m), nil
}

func isFile(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// isSAMCheckpoint peeks at a checkpoint's names (lazily: no tensor is read).
func isSAMCheckpoint(path string) bool {
	ck, err := weights.Open(path)
	if err != nil {
		return false // a folder (Hugging Face copy) or unreadable: the DINO loader says why
	}
	defer ck.Close()
	_, ok := ck.Tensors["image_encoder.patch_embed.proj.weight"]
	return ok
}

// checkVFM checks a call's VFM against its method: a method that reads one needs it and a window
// side it can take; it returns the token grid's side (CLIP's grid without a VFM).
func checkVFM(vfm VFM, method clip.MethodSpec, size, clipGrid int) (int, error) {
	switch {
	case method.VFM && vfm == nil:
		return 0, fmt.Errorf("surgery: %s needs a vision foundation model (Options.VFM, -vfm: a DINO, DINOv2 or SAM name or checkpoint)",
			method.Name)
	case !method.VFM && vfm != nil:
		return 0, errors.New("surgery: Options.VFM is given but the method " + string(method.Name) + " reads none (ProxyCLIP does)")
	case vfm == nil:
		return clipGrid, nil
	}
	g, err := vfm.Grid(size)
	if err != nil {
		return 0, err
	}
	if g*g > clip.MaxProxyTokens {
		return 0, fmt.Errorf("surgery: the VFM %s's %dx%d grid at window side %d exceeds %d tokens (clip.MaxProxyTokens): use a smaller -size",
			vfm.Name(), g, g, size, clip.MaxProxyTokens)
	}
	return g, nil
}
