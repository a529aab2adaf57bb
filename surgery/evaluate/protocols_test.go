package evaluate

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
)

// Every preset against protocols.json, the peers' configs restated: resize, windows, logit scale,
// thresholds, PAMR, the class file's names and synonyms, the templates and the dataset's labels.
func TestProtocolsMatchConfigs(t *testing.T) {
	data, err := os.ReadFile(goldens.Path(t, "protocols", "protocols.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Peers map[string]map[string]struct {
			Config string `json:"config"`
			Resize struct {
				Scale     []int `json:"scale"`
				KeepRatio bool  `json:"keep_ratio"`
			} `json:"resize"`
			SlideCrop   int      `json:"slide_crop"`
			SlideStride int      `json:"slide_stride"`
			LogitScale  float64  `json:"logit_scale"`
			ProbThd     float64  `json:"prob_thd"`
			AreaThd     *float64 `json:"area_thd"`
			PAMR        struct {
				Steps     int   `json:"steps"`
				Dilations []int `json:"dilations"`
			} `json:"pamr"`
			NumClasses int      `json:"num_classes"`
			Words      []string `json:"query_words"`
			Idx        []int    `json:"query_idx"`
			Templates  struct {
				List []string `json:"list"`
			} `json:"templates"`
			Dataset struct {
				ReduceZero bool `json:"reduce_zero_label"`
				Ignore     int  `json:"ignore_index"`
			} `json:"dataset"`
		} `json:"peers"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for peer, cells := range doc.Peers {
		for bench, want := range cells {
			n++
			p, err := LookupProtocol(peer, bench)
			if err != nil {
				t.Fatalf("%s/%s: %v", peer, bench, err)
			}
			b, _ := LookupBenchmark(bench)
			var area float64
			if want.AreaThd != nil {
				area = *want.AreaThd
			}
			window := want.SlideCrop
			if p.Window != window || (window > 0 && p.Stride != want.SlideStride) ||
				p.LongSide != want.Resize.Scale[0] || p.ShortSide != want.Resize.Scale[1] || !want.Resize.KeepRatio ||
				p.LogitScale != want.LogitScale || p.ProbThd != want.ProbThd || p.AreaThd != area ||
				p.PAMRSteps != want.PAMR.Steps || (p.PAMRSteps > 0 && !slices.Equal(p.PAMRDilations, want.PAMR.Dilations)) {
				t.Errorf("%s/%s: preset %+v, config %+v", peer, bench, p, want)
			}
			if b.Classes != want.NumClasses || b.ReduceZeroLabel != want.Dataset.ReduceZero || want.Dataset.Ignore != IgnoreIndex {
				t.Errorf("%s/%s: benchmark %+v", peer, bench, b)
			}
			cs, err := PeerClasses(p.ClassFile)
			if err != nil {
				t.Fatal(err)
			}
			names, idx := queries(cs)
			if !slices.Equal(names, want.Words) || !slices.Equal(idx, want.Idx) {
				t.Errorf("%s/%s: class file %s differs from the peer's", peer, bench, p.ClassFile)
			}
			if !slices.Equal(p.TemplateSet(), want.Templates.List) {
				t.Errorf("%s/%s: templates differ", peer, bench)
			}
		}
	}
	if n != 24 {
		t.Fatalf("%d cells, want 3 peers × 8 benchmarks", n)
	}
}

// CLIP Surgery's preset (no released protocol): SCLIP's resize, windows and class file on every
// benchmark; feature surgery, the 85 templates, logit scale 40 and no thresholds otherwise.
func TestSurgeryProtocolAssumptions(t *testing.T) {
	for _, b := range BenchmarkNames() {
		s, err := LookupProtocol("surgery", b)
		if err != nil {
			t.Fatal(err)
		}
		sc, _ := LookupProtocol("sclip", b)
		if s.LongSide != sc.LongSide || s.ShortSide != sc.ShortSide || s.Window != sc.Window || s.Stride != sc.Stride ||
			s.ClassFile != sc.ClassFile || !s.FeatureSurgery || s.Templates != TemplatesSurgery85 || s.LogitScale != 40 ||
			s.ProbThd != 0 || s.AreaThd != 0 || s.PAMRSteps != 0 || s.Assumed == "" {
			t.Errorf("%s: surgery %+v, sclip %+v", b, s, sc)
		}
	}
}
