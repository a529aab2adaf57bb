package surgery

import (
	"cmp"
	"math"
	"slices"
)

// The defining steps of FLOSS's expert estimation, on logits that are already at image
// resolution; floss.go produces those logits with the pipeline and applies the result.
//
// Source: Benigmim et al., "FLOSS: Free Lunch in Open-vocabulary Semantic Segmentation", ICCV 2025
// (arXiv:2504.10487), section 3 (class-experts and their unsupervised estimation by the class-wise
// entropy of single-template classifiers); authors' code yasserben/FLOSS at commit
// ccf1d49dba37d0e35316dc50be57d133745a168a:
//   - mmseg/models/segmentors/naclip/naclip.py, NACLIP.predict in mode "compute_metric": the
//     logits resized to the image, softmax(logit_scale · logits) over the query names, each class
//     the best of its names (the one-hot max);
//   - mmseg/evaluation/metrics/entropy_metric.py, EntropyMetric.process: per template, pixels
//     assigned to the argmax class, entropy −Σ q·log(q + 1e-10) over the class vector, summed per
//     (template, class) with the pixel count over all images; compute_metrics: mean entropy per
//     (template, class), templates sorted by it;
//   - naclip.py, NACLIP._load_template_rankings: templates whose class got pixels
//     (pixel_percentage > 0), lowest entropy first, the first top_n (4);
//   - mmseg/models/segmentors/maskclip/maskclip.py, MaskClipHead._embed_experts (CLIP-DINOiser
//     and MaskCLIP): a class no template predicted anywhere gets all the templates.

// expNeg is e^x for x ≤ 0 within 1e-9 relative (0 below e^−708, where the result would leave the
// normal float64 range): x = k·ln2 + r with |r| ≤ ln2/2, e^r by its Taylor series to degree 9,
// then the power of two set in the exponent bits. The selection calls it labels × pixels ×
// candidates times, and math.Exp's amd64 assembly runs very slowly on some machines in this
// module's GOEXPERIMENT=simd builds.
func expNeg(x float64) float64 {
	if x < -708 {
		return 0
	}
	k := math.Floor(x*math.Log2E + 0.5)
	r := x - k*math.Ln2
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040+r*(1.0/40320+r*(1.0/362880)))))))))
	return p * math.Float64frombits(uint64(int64(k)+1023)<<52)
}

// entropyTally holds, per (candidate template, class), the summed entropy of the pixels the
// candidate's classifier assigns to the class and their count: index candidate·classes + class.
type entropyTally struct {
	classes int
	sum     []float64
	count   []int64
}

func newEntropyTally(candidates, classes int) *entropyTally {
	return &entropyTally{classes: classes, sum: make([]float64, candidates*classes), count: make([]int64, candidates*classes)}
}

// add adds one image's pixelEntropies of candidate m.
func (t *entropyTally) add(m int, sum []float64, count []int64) {
	for c := range t.classes {
		t.sum[m*t.classes+c] += sum[c]
		t.count[m*t.classes+c] += count[c]
	}
}

// pixelEntropies tallies one image for one candidate: planes[l] holds label l's logits, one per
// pixel (all planes of one length); labelClass maps labels to classes (nil = each label its own).
// Per pixel, in float64: q = softmax_l(scale · logits), the class probability P_c = the largest
// q_l of the class's labels, the class of largest P (the first on ties, as torch.argmax) and the
// entropy −Σ_c P_c·log P_c (the paper's; EntropyMetric adds 1e-10 inside the logarithm against
// log 0, which moves an entropy by less than classes·1e-10). With a the logits shifted by their
// maximum, log P_c = a_l − log Σ exp(a): a pixel costs one exponential per label and one
// logarithm. Result: per class, the summed entropy of its pixels and their count.
func pixelEntropies(planes [][]float32, scale float64, labelClass []int, classes int) (sum []float64, count []int64) {
	sum, count = make([]float64, classes), make([]int64, classes)
	if isIdentity(labelClass) {
		labelEntropies(planes, scale, sum, count)
	} else {
		groupedEntropies(planes, scale, labelClass, sum, count)
	}
	return sum, count
}

// groupedEntropies is pixelEntropies for labels grouped into classes, pixel by pixel.
func groupedEntropies(planes [][]float32, scale float64, labelClass []int, sum []float64, count []int64) {
	classes := len(sum)
	a := make([]float64, len(planes)) // scale·logit − max
	q := make([]float64, len(planes)) // exp(a)
	best := make([]int, classes)      // per class, its label of largest q
	for i := range planes[0] {
		top := math.Inf(-1)
		for l, plane := range planes {
			a[l] = scale * float64(plane[i])
			top = max(top, a[l])
		}
		z := 0.0
		for l := range a {
			a[l] -= top
			q[l] = expNeg(a[l])
			z += q[l]
		}
		for c := range best {
			best[c] = -1
		}
		for l, c := range labelClass {
			if best[c] < 0 || a[l] > a[best[c]] {
				best[c] = l
			}
		}
		logZ, invZ := math.Log(z), 1/z
		arg, h := 0, 0.0
		for c, l := range best {
			if q[l] > q[best[arg]] {
				arg = c
			}
			h -= q[l] * invZ * (a[l] - logZ)
		}
		sum[arg] += h
		count[arg]++
	}
}

// labelEntropies is pixelEntropies with each label its own class, where the entropy is
// log Z − Σ q·a / Z (Σ q = Z) and the argmax is the largest logit's label: it runs over blocks of
// pixels one plane at a time, reading every plane in order rather than all planes per pixel.
func labelEntropies(planes [][]float32, scale float64, sum []float64, count []int64) {
	const block = 512
	n := len(planes[0])
	top, z, qa := make([]float64, block), make([]float64, block), make([]float64, block)
	arg := make([]int, block)
	for i0 := 0; i0 < n; i0 += block {
		b := min(block, n-i0)
		for j := range b {
			top[j], arg[j], z[j], qa[j] = math.Inf(-1), 0, 0, 0
		}
		for l, plane := range planes {
			for j, v := range plane[i0 : i0+b] {
				if a := scale * float64(v); a > top[j] {
					top[j], arg[j] = a, l
				}
			}
		}
		for _, plane := range planes {
			for j, v := range plane[i0 : i0+b] {
				a := scale*float64(v) - top[j]
				q := expNeg(a)
				z[j] += q
				qa[j] += q * a
			}
		}
		for j := range b {
			sum[arg[j]] += math.Log(z[j]) - qa[j]/z[j]
			count[arg[j]]++
		}
	}
}

// isIdentity tells whether a label grouping puts every label in its own class, in order (nil
// included).
func isIdentity(labelClass []int) bool {
	for l, c := range labelClass {
		if c != l {
			return false
		}
	}
	return true
}

// entropy is the mean entropy of (candidate m, class c), NaN when the candidate gave the class
// no pixel.
func (t *entropyTally) entropy(m, c int) float64 {
	i := m*t.classes + c
	if t.count[i] == 0 {
		return math.NaN()
	}
	return t.sum[i] / float64(t.count[i])
}

// experts ranks the candidates for class c: those that gave it pixels, lowest mean entropy first
// (candidate order on ties, as Python's stable sort), the first n of them; nil when no candidate
// gave it any pixel.
func (t *entropyTally) experts(c, candidates, n int) []int {
	var ranked []int
	for m := range candidates {
		if t.count[m*t.classes+c] > 0 {
			ranked = append(ranked, m)
		}
	}
	slices.SortStableFunc(ranked, func(a, b int) int { return cmp.Compare(t.entropy(a, c), t.entropy(b, c)) })
	return ranked[:min(n, len(ranked))]
}
