package evaluate

import (
	"context"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
)

// The peers' own segmentors on the tiny model (../shared/golden/protocols): the per-name logits at
// the original size to 1e-4 and the class map on ≥ 99.9 % of the pixels.
func TestProtocolGoldens(t *testing.T) {
	ex := tinyExplainer(t)
	rgb := goldens.ReadPNGRGB(t, goldens.Path(t, "protocols", "images", "demo128x96.png"))
	pix := &imageprep.Pixels{W: 128, H: 96, C: 3, Pix: rgb}
	for _, tc := range protocolCases {
		t.Run(tc.peer+"/"+tc.bench, func(t *testing.T) {
			p, err := LookupProtocol(tc.peer, tc.bench)
			if err != nil {
				t.Fatal(err)
			}
			classes, err := PeerClasses(p.ClassFile)
			if err != nil {
				t.Fatal(err)
			}
			logitsFile := "seg_logits.f32.npy"
			if p.PAMRSteps > 0 {
				logitsFile = "seg_logits_pamr.f32.npy" // what NACLIP's postprocess receives
			}
			res, err := PredictProtocol(context.Background(), ex, pix, p, classes, 0)
			if err != nil {
				t.Fatal(err)
			}
			dir := "protocols/" + tc.peer + "/" + tc.bench + "/demo128x96/"
			want := goldens.Load(t, dir+logitsFile)
			flat := make([]float32, 0, len(res.Logits)*res.W*res.H)
			for _, l := range res.Logits {
				flat = append(flat, l...)
			}
			goldens.AssertClose(t, "seg_logits", flat, []int{len(res.Logits), res.H, res.W}, want, 1e-4, 1e-4)
			pred := goldens.Load(t, dir+"seg_pred.u8.npy")
			diff := 0
			for i, v := range res.Pred {
				if v != pred.U8[i] {
					diff++
				}
			}
			if float64(diff) > 0.001*float64(len(res.Pred)) {
				t.Fatalf("%d of %d pixels differ from the peer's class map", diff, len(res.Pred))
			}
			t.Logf("%d of %d pixels differ", diff, len(res.Pred))
			c, err := NewConfusion(len(classes)) // our class map through our IoUMetric: metrics.json
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Add(res.Pred, goldenLabel(t, tc.bench).Pix); err != nil {
				t.Fatal(err)
			}
			if diff == 0 {
				assertMetricsGolden(t, tc.peer, tc.bench, c)
			}
		})
	}
}
