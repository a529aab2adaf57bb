package surgery

import (
	"math"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
)

// Every method runs on OpenCLIP-layout and Hugging Face models through the Explainer, GELU ones
// included (../shared/golden/openclip/models): each gives a finite similarity of its own and maps
// inside 0..1 that use that range. The methods change attention (and drop residuals or FFNs), never the FFN's
// activation, so on a GELU model the blocks they keep run GELU, as the model was trained.
func TestMethodsOnOpenCLIPModels(t *testing.T) {
	img, err := imageprep.DecodeFile(goldens.Path(t, "images", "chelsea.png"))
	if err != nil {
		t.Fatal(err)
	}
	for _, variant := range []string{"gelu", "hf_gelu", "quickgelu"} {
		t.Run(variant, func(t *testing.T) {
			m, err := clip.LoadFile(goldens.Path(t, "openclip", "models", variant), clip.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if want := clip.ActGELU; variant != "quickgelu" && m.Config.VisionTower().Act != want {
				t.Fatalf("%s loaded with activation %s", variant, m.Config.VisionTower().Act)
			}
			ex, err := NewExplainerWith(m, ExplainerOptions{NoTextCache: true})
			if err != nil {
				t.Fatal(err)
			}
			opt := Options{Labels: []string{"cat", "dog", "sofa"}, Templates: []string{"a photo of a {}.", "a {}."}}
			seen := map[clip.Method][]float32{}
			for _, method := range clip.AllMethods() {
				opt.Method, opt.VFM = method, nil
				grid := 14
				if spec, _ := clip.LookupMethod(string(method)); spec.VFM { // DINOv2 patch 14: a 16×16 grid at 224
					opt.VFM, grid = goldenVFM(t, "dinov2_reg"), 16
				}
				res, err := ex.Explain(img, []string{"cat", "sofa"}, opt)
				if err != nil {
					t.Fatalf("%s: %v", method, err)
				}
				if res.Method != method || res.Similarity.Rows != 1+grid*grid || res.Similarity.Cols != 3 {
					t.Fatalf("%s: result for %s, similarity %dx%d", method, res.Method, res.Similarity.Rows, res.Similarity.Cols)
				}
				for _, v := range res.Similarity.Data {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("%s: similarity holds %v", method, v)
					}
				}
				for _, tg := range res.Targets {
					lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
					for _, v := range tg.Map {
						lo, hi = min(lo, v), max(hi, v)
					}
					if len(tg.Map) != 451*300 || lo < 0 || hi > 1 || hi-lo < 0.5 {
						t.Fatalf("%s %q: map of %d values in [%v, %v]", method, tg.Text, len(tg.Map), lo, hi)
					}
				}
				for other, sim := range seen {
					if maxAbsDiff(sim, res.Similarity.Data) == 0 {
						t.Errorf("%s gives the same similarity as %s", method, other)
					}
				}
				seen[method] = res.Similarity.Data
			}
		})
	}
}
