package nbutil

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

func writePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
}

func TestUserPicture(t *testing.T) {
	nbDir, other := t.TempDir(), t.TempDir()
	t.Setenv(EnvImages, goldens.Path(t, "images")) // the chelsea fallback, offline
	t.Setenv(EnvOffline, "1")
	t.Setenv(EnvUserImage, "")
	t.Setenv(EnvTargets, "")
	// Nothing next to the notebook: chelsea and "cat".
	in, err := UserPicture(context.Background(), nbDir)
	if err != nil || !in.Fallback || !slices.Equal(in.Targets, FallbackTargets()) || in.Image.Bounds().Dx() != 451 {
		t.Fatalf("fallback: %+v %v", in, err)
	}
	// dog.jpg next to the notebook (any decodable file under that name) and "dog".
	writePNG(t, filepath.Join(nbDir, UserImageName), 7, 5)
	in, err = UserPicture(context.Background(), nbDir)
	if err != nil || in.Fallback || !slices.Equal(in.Targets, DefaultUserTargets()) || in.Image.Bounds().Dx() != 7 {
		t.Fatalf("dog.jpg: %+v %v", in, err)
	}
	// The variables win.
	writePNG(t, filepath.Join(other, "mine.png"), 3, 2)
	t.Setenv(EnvUserImage, filepath.Join(other, "mine.png"))
	t.Setenv(EnvTargets, " red car , person+bench,")
	in, err = UserPicture(context.Background(), nbDir)
	if err != nil || in.Image.Bounds().Dx() != 3 || !slices.Equal(in.Targets, []string{"red car", "person+bench"}) {
		t.Fatalf("env: %+v %v", in, err)
	}
	// A set variable naming a missing file, or targets that are all blank: errors naming them.
	t.Setenv(EnvUserImage, filepath.Join(other, "missing.jpg"))
	if _, err := UserPicture(context.Background(), nbDir); err == nil || !strings.Contains(err.Error(), EnvUserImage) {
		t.Errorf("missing user image: %v", err)
	}
	t.Setenv(EnvUserImage, "")
	t.Setenv(EnvTargets, " , ")
	if _, err := UserPicture(context.Background(), nbDir); err == nil || !strings.Contains(err.Error(), EnvTargets) {
		t.Errorf("blank targets: %v", err)
	}
}

func TestWithClasses(t *testing.T) {
	base := []string{"cat", "dog"}
	got := WithClasses(base, []string{"dog", "red car", "person+dog"})
	if !slices.Equal(got, []string{"cat", "dog", "red car", "person"}) || len(base) != 2 {
		t.Errorf("got %v (base %v)", got, base)
	}
}

func TestEnlarge(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 2, 1))
	src.Set(0, 0, color.RGBA{255, 0, 0, 255})
	src.Set(1, 0, color.RGBA{0, 0, 255, 255})
	big := Enlarge(src, 3)
	if big.Bounds().Dx() != 6 || big.Bounds().Dy() != 3 {
		t.Fatalf("size %v", big.Bounds())
	}
	for y := 0; y < 3; y++ {
		for x := 0; x < 6; x++ {
			want := src.RGBAAt(x/3, 0)
			if got := big.RGBAAt(x, y); got != want {
				t.Fatalf("pixel (%d,%d) = %v, want %v (nearest neighbour)", x, y, got, want)
			}
		}
	}
	if f := enlargeFactor(14, 320); f != 22 {
		t.Errorf("14 px in 320: factor %d, want 22", f)
	}
	if f := enlargeFactor(300, 320); f != 1 {
		t.Errorf("300 px in 320: factor %d, want 1", f)
	}
	// A 14×14 grid in a panel is embedded enlarged and drawn pixelated.
	ph, err := PanelHTML(320, Panel{"grid", image.NewRGBA(image.Rect(0, 0, 14, 14))})
	if err != nil || !strings.Contains(ph, "width:308px") || !strings.Contains(ph, "pixelated") {
		t.Errorf("grid panel: %v %.200s", err, ph)
	}
}

func TestOverlayImage(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 2, 1))
	ov, err := OverlayImage(img, []float32{0, 1})
	if err != nil || ov.Bounds().Dx() != 2 {
		t.Fatal(err)
	}
	if ov.RGBAAt(0, 0) == ov.RGBAAt(1, 0) {
		t.Error("overlay ignores the map")
	}
	if _, err := OverlayImage(img, []float32{0}); err == nil {
		t.Error("map of the wrong size accepted")
	}
}

func TestLoadSAM(t *testing.T) {
	t.Setenv(EnvSAMWeights, "")
	if m, src, err := LoadSAM(context.Background(), nil); m != nil || src != "" || err != nil {
		t.Errorf("unset: %v %q %v", m, src, err)
	}
	t.Setenv(EnvSAMWeights, "sam_vit_q")
	if _, _, err := LoadSAM(context.Background(), nil); err == nil || !strings.Contains(err.Error(), EnvSAMWeights) {
		t.Errorf("unknown name: %v", err)
	}
	// A released name resolves through the registry: offline and not cached, the error says where
	// to put the file (not "no such file sam_vit_b").
	t.Setenv(EnvSAMWeights, "sam_vit_b")
	t.Setenv(EnvCache, t.TempDir())
	t.Setenv(EnvOffline, "1")
	if _, _, err := LoadSAM(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "sam_vit_b_01ec64.pth") {
		t.Errorf("released name offline: %v", err)
	}
	t.Setenv(EnvSAMWeights, goldens.Path(t, "sam", "sam_tiny.pth"))
	if m, _, err := LoadSAM(context.Background(), nil); m == nil || err != nil {
		t.Errorf("file: %v", err)
	}
}
