package clip

import (
	"fmt"
	"math"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/weights"
)

// This file is an independent oracle of the methods of the method table (methods_table.go): the tiny golden ViT-16 written
// from the equations in float64 host loops (no graph function of the package is called), with
// each method's last block and positional-embedding resize as its paper and its authors' code
// define them. The graph encoder must match it to the golden README's tolerance for raw image
// tokens (rtol 1e-5, atol 1e-5).

// oracle holds the checkpoint in float64, by canonical name.
type oracle struct {
	w                                      map[string][]float64
	width, layers, heads, patch, native, e int
}

func newOracle(t *testing.T) *oracle {
	t.Helper()
	ck := readCheckpoint(t, "vit16.openai.safetensors")
	o := &oracle{w: map[string][]float64{}}
	for name, x := range ck {
		o.w[name] = f64(x)
	}
	conv := ck["visual.conv1.weight"].Shape
	o.width, o.patch = conv[0], conv[3]
	o.heads = o.width / 64
	o.native = int(math.Round(math.Sqrt(float64(ck["visual.positional_embedding"].Shape[0] - 1))))
	o.e = ck["visual.proj"].Shape[1]
	for ; ck[fmt.Sprintf("visual.transformer.resblocks.%d.ln_1.weight", o.layers)] != nil; o.layers++ {
	}
	return o
}

func f64(x *weights.Tensor) []float64 {
	out := make([]float64, len(x.F32))
	for i, v := range x.F32 {
		out[i] = float64(v)
	}
	return out
}

type mat [][]float64 // tokens × channels

func (o *oracle) layerNorm(x mat, name string) mat {
	g, b := o.w[name+".weight"], o.w[name+".bias"]
	out := make(mat, len(x))
	for i, row := range x {
		var mean, vr float64
		for _, v := range row {
			mean += v
		}
		mean /= float64(len(row))
		for _, v := range row {
			vr += (v - mean) * (v - mean)
		}
		vr /= float64(len(row))
		out[i] = make([]float64, len(row))
		for c, v := range row {
			out[i][c] = (v-mean)/math.Sqrt(vr+1e-5)*g[c] + b[c]
		}
	}
	return out
}

// linear is x Wᵀ + b with W [out, in] as torch stores it (rows from row0 on, n of them).
func linear(x mat, w, b []float64, row0, n int) mat {
	in := len(x[0])
	out := make(mat, len(x))
	for i, r := range x {
		out[i] = make([]float64, n)
		for j := 0; j < n; j++ {
			s := b[row0+j]
			wr := w[(row0+j)*in : (row0+j+1)*in]
			for c, v := range r {
				s += v * wr[c]
			}
			out[i][j] = s
		}
	}
	return out
}

func add(a, b mat) mat {
	out := make(mat, len(a))
	for i := range a {
		out[i] = make([]float64, len(a[i]))
		for c := range a[i] {
			out[i][c] = a[i][c] + b[i][c]
		}
	}
	return out
}

func (o *oracle) mlp(x mat, blk string) mat {
	h := linear(x, o.w[blk+".mlp.c_fc.weight"], o.w[blk+".mlp.c_fc.bias"], 0, 4*o.width)
	for _, r := range h {
		for c, v := range r {
			r[c] = v / (1 + math.Exp(-1.702*v)) // QuickGELU
		}
	}
	return linear(h, o.w[blk+".mlp.c_proj.weight"], o.w[blk+".mlp.c_proj.bias"], 0, o.width)
}

// qkv projects ln_1(x) with the packed in_proj: q, k, v [N, W].
func (o *oracle) qkv(x mat, blk string) (q, k, v mat) {
	h := o.layerNorm(x, blk+".ln_1")
	w, b := o.w[blk+".attn.in_proj_weight"], o.w[blk+".attn.in_proj_bias"]
	return linear(h, w, b, 0, o.width), linear(h, w, b, o.width, o.width), linear(h, w, b, 2*o.width, o.width)
}

// weightsFn gives head hd's attention weights [N][N] (rows sum to 1 unless the method says not).
type weightsFn func(hd int) [][]float64

// softmaxScores is softmax_j(a_i·b_j/√64 + bias[i][j]) for head hd's 64 channels.
func softmaxScores(a, b mat, hd int, bias [][]float64) [][]float64 {
	n := len(a)
	out := make([][]float64, n)
	for i := range out {
		out[i] = make([]float64, len(b))
		mx := math.Inf(-1)
		for j := range b {
			var s float64
			for c := hd * 64; c < (hd+1)*64; c++ {
				s += a[i][c] * b[j][c]
			}
			s /= 8
			if bias != nil {
				s += bias[i][j]
			}
			out[i][j] = s
			mx = math.Max(mx, s)
		}
		var sum float64
		for j := range out[i] {
			out[i][j] = math.Exp(out[i][j] - mx)
			sum += out[i][j]
		}
		for j := range out[i] {
			out[i][j] /= sum
		}
	}
	return out
}

// attend is out_proj(Σ_j A[i][j] v_j) per head.
func (o *oracle) attend(v mat, a weightsFn, blk string) mat {
	merged := make(mat, len(v))
	for i := range merged {
		merged[i] = make([]float64, o.width)
	}
	for hd := 0; hd < o.heads; hd++ {
		w := a(hd)
		for i := range w {
			for j, aij := range w[i] {
				for c := hd * 64; c < (hd+1)*64; c++ {
					merged[i][c] += aij * v[j][c]
				}
			}
		}
	}
	return linear(merged, o.w[blk+".attn.out_proj.weight"], o.w[blk+".attn.out_proj.bias"], 0, o.width)
}

func (o *oracle) block(x mat, blk string) mat {
	q, k, v := o.qkv(x, blk)
	x = add(x, o.attend(v, func(hd int) [][]float64 { return softmaxScores(q, k, hd, nil) }, blk))
	return add(x, o.mlp(o.layerNorm(x, blk+".ln_2"), blk))
}

// prefix is everything before the last block: patches, class token, resized positional table,
// ln_pre and the first layers−1 blocks. pix is [3, h, w].
func (o *oracle) prefix(pix []float32, h, w int, pos mat) mat {
	gh, gw, p := h/o.patch, w/o.patch, o.patch
	conv := o.w["visual.conv1.weight"] // [W, 3, p, p]
	x := make(mat, 1+gh*gw)
	x[0] = append([]float64(nil), o.w["visual.class_embedding"]...)
	for gy := 0; gy < gh; gy++ {
		for gx := 0; gx < gw; gx++ {
			t := make([]float64, o.width)
			for oc := range t {
				var s float64
				for ch := 0; ch < 3; ch++ {
					for i := 0; i < p; i++ {
						for j := 0; j < p; j++ {
							s += float64(pix[(ch*h+gy*p+i)*w+gx*p+j]) * conv[((oc*3+ch)*p+i)*p+j]
						}
					}
				}
				t[oc] = s
			}
			x[1+gy*gw+gx] = t
		}
	}
	x = o.layerNorm(add(x, pos), "visual.ln_pre")
	for l := 0; l < o.layers-1; l++ {
		x = o.block(x, fmt.Sprintf("visual.transformer.resblocks.%d", l))
	}
	return x
}

// head is ln_post and the projection of every token.
func (o *oracle) head(x mat) mat {
	x = o.layerNorm(x, "visual.ln_post")
	proj := o.w["visual.proj"] // [W, E]
	out := make(mat, len(x))
	for i, r := range x {
		out[i] = make([]float64, o.e)
		for e := range out[i] {
			for c, v := range r {
				out[i][e] += v * proj[c*o.e+e]
			}
		}
	}
	return out
}

// posTable resizes the native table with per-axis 1-D interpolation weights axis(in, out).
func (o *oracle) posTable(gh, gw int, axis func(in, out int) [][]float64) mat {
	pos, n := o.w["visual.positional_embedding"], o.native
	at := func(r, c int) []float64 { return pos[(1+r*n+c)*o.width : (2+r*n+c)*o.width] }
	out := mat{append([]float64(nil), pos[:o.width]...)}
	wy, wx := axis(n, gh), axis(n, gw)
	for y := 0; y < gh; y++ {
		for x := 0; x < gw; x++ {
			t := make([]float64, o.width)
			for r := 0; r < n; r++ {
				for c := 0; c < n; c++ {
					if f := wy[y][r] * wx[x][c]; f != 0 {
						for ch, v := range at(r, c) {
							t[ch] += f * v
						}
					}
				}
			}
			out = append(out, t)
		}
	}
	return out
}

// linearAxis: torch bilinear, align_corners=False, source index clamped at 0 (CLIP Surgery).
func linearAxis(in, out int) [][]float64 {
	m := make([][]float64, out)
	for d := range m {
		m[d] = make([]float64, in)
		s := math.Max((float64(d)+0.5)*float64(in)/float64(out)-0.5, 0)
		i := int(math.Floor(s))
		l := s - float64(i)
		m[d][i] += 1 - l
		m[d][min(i+1, in-1)] += l
	}
	return m
}

// cubicAxis: Keys' cubic convolution (a = −0.75), 4 taps, edge-clamped, source s(d) given.
func cubicAxis(in, out int, src func(d int) float64) [][]float64 {
	kernel := func(x float64) float64 {
		const a = -0.75
		x = math.Abs(x)
		switch {
		case x <= 1:
			return (a+2)*x*x*x - (a+3)*x*x + 1
		case x < 2:
			return a*x*x*x - 5*a*x*x + 8*a*x - 4*a
		}
		return 0
	}
	m := make([][]float64, out)
	for d := range m {
		m[d] = make([]float64, in)
		s := src(d)
		i := math.Floor(s)
		for j := i - 1; j <= i+2; j++ {
			m[d][min(max(int(j), 0), in-1)] += kernel(s - j)
		}
	}
	return m
}

// sizeCubic is mmseg's resize(size=grid, mode='bicubic'): scale in/out (MaskCLIP).
func sizeCubic(in, out int) [][]float64 {
	return cubicAxis(in, out, func(d int) float64 { return (float64(d)+0.5)*float64(in)/float64(out) - 0.5 })
}

// plusTenthCubic is interpolate_pos_encoding's scale_factor (g+0.1)/native (SCLIP, ClearCLIP,
// NACLIP): source (d+0.5)/factor − 0.5.
func plusTenthCubic(in, out int) [][]float64 {
	f := (float64(out) + 0.1) / float64(in)
	return cubicAxis(in, out, func(d int) float64 { return (float64(d)+0.5)/f - 0.5 })
}

// naclipOmega is NACLIP's attention addition: a (2gh−1)×(2gw−1) Gaussian window with offsets
// scaled by 1/(σ√2), exp(−Σ offset²), read at key − query + centre; 0 for the class token.
func naclipOmega(gh, gw int, std float64) [][]float64 {
	c := 1 / (std * math.Sqrt2)
	window := func(dy, dx int) float64 { // dy in −(gh−1)..gh−1
		y, x := float64(dy)*c, float64(dx)*c
		return math.Exp(-(y*y + x*x))
	}
	n := 1 + gh*gw
	om := make([][]float64, n)
	for i := range om {
		om[i] = make([]float64, n)
		if i == 0 {
			continue
		}
		qy, qx := (i-1)/gw, (i-1)%gw
		for j := 1; j < n; j++ {
			om[i][j] = window((j-1)/gw-qy, (j-1)%gw-qx)
		}
	}
	return om
}

// encode runs the oracle for one method (not surgery: the goldens check that one); false for a
// method it does not know.
func (o *oracle) encode(m Method, pix []float32, h, w int) (mat, bool) {
	gh, gw := h/o.patch, w/o.patch
	var pos mat
	switch m {
	case MethodRaw:
		pos = o.posTable(gh, gw, linearAxis)
	case MethodMaskCLIP:
		pos = o.posTable(gh, gw, sizeCubic)
	case MethodSCLIP, MethodClearCLIP, MethodNACLIP:
		pos = o.posTable(gh, gw, plusTenthCubic)
	default:
		return nil, false
	}
	if gh == o.native && gw == o.native { // every method adds the native table as it is
		pos = o.posTable(gh, gw, func(in, out int) [][]float64 { return linearAxis(in, in) })
	}
	x := o.prefix(pix, h, w, pos)
	blk := fmt.Sprintf("visual.transformer.resblocks.%d", o.layers-1)
	q, k, v := o.qkv(x, blk)
	switch m {
	case MethodRaw:
		x = o.block(x, blk)
	case MethodMaskCLIP: // patches: x + out_proj(v), FFN; class token: the plain block
		cls := o.block(x, blk)[0]
		x = add(x, linear(v, o.w[blk+".attn.out_proj.weight"], o.w[blk+".attn.out_proj.bias"], 0, o.width))
		x = add(x, o.mlp(o.layerNorm(x, blk+".ln_2"), blk))
		x[0] = cls
	case MethodSCLIP: // (softmax(qqᵀ) + softmax(kkᵀ)) v, residual and FFN kept
		x = add(x, o.attend(v, func(hd int) [][]float64 {
			a, b := softmaxScores(q, q, hd, nil), softmaxScores(k, k, hd, nil)
			for i := range a {
				for j := range a[i] {
					a[i][j] += b[i][j]
				}
			}
			return a
		}, blk))
		x = add(x, o.mlp(o.layerNorm(x, blk+".ln_2"), blk))
	case MethodClearCLIP: // out_proj(softmax(qqᵀ) v) only
		x = o.attend(v, func(hd int) [][]float64 { return softmaxScores(q, q, hd, nil) }, blk)
	case MethodNACLIP: // out_proj(softmax(kkᵀ + Ω) v) only
		om := naclipOmega(gh, gw, DefaultNeighbourhoodStd)
		x = o.attend(v, func(hd int) [][]float64 { return softmaxScores(k, k, hd, om) }, blk)
	}
	return o.head(x), true
}

// oraclePixels is a deterministic smooth-plus-noise image [3, h, w] in the normalised range.
func oraclePixels(h, w int) []float32 {
	pix := make([]float32, 3*h*w)
	seed := uint32(12345)
	for i := range pix {
		seed = seed*1664525 + 1013904223
		ch, y, x := i/(h*w), (i/w)%h, i%w
		pix[i] = float32(math.Sin(float64(x)/17+float64(ch))+math.Cos(float64(y)/23)) + float32(seed>>8)/float32(1<<24) - 0.5
	}
	return pix
}

func TestMethodsMatchOracle(t *testing.T) {
	o := newOracle(t)
	m := loadGoldenModel(t, "vit16")
	demo := goldens.Load(t, "preprocess/demo_224.f32.npy").F32
	for _, size := range []struct {
		h, w int
		pix  []float32
	}{{224, 224, demo}, {160, 288, oraclePixels(160, 288)}} {
		for _, method := range AllMethods() {
			if spec, _ := LookupMethod(string(method)); method == MethodSurgery || spec.VFM || method == MethodGEM || method == MethodSCCLIP {
				continue // the goldens check surgery; the authors' own code ProxyCLIP (proxyclip_test.go), GEM and SC-CLIP (modifiers_test.go)
			}
			t.Run(fmt.Sprintf("%s/%dx%d", method, size.h, size.w), func(t *testing.T) {
				want, ok := o.encode(method, size.pix, size.h, size.w)
				if !ok {
					t.Fatalf("no oracle for method %s: every method of the table needs one", method)
				}
				f, err := m.EncodeImage(size.pix, 1, size.h, size.w, ImageOptions{Method: method})
				if err != nil {
					t.Fatal(err)
				}
				assertOracle(t, f, want)
			})
		}
	}
}

// assertOracle compares all tokens within the golden README's tolerance for raw features.
func assertOracle(t *testing.T, f *Features, want mat) {
	t.Helper()
	if f.Shape[1] != len(want) || f.Shape[2] != len(want[0]) {
		t.Fatalf("shape %v, oracle [1 %d %d]", f.Shape, len(want), len(want[0]))
	}
	worst, bad := 0.0, 0
	for i, row := range want {
		for c, w := range row {
			d := math.Abs(float64(f.Data[i*len(row)+c]) - w)
			if !(d <= atol+rtol*math.Abs(w)) {
				bad++
			}
			worst = math.Max(worst, d)
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d values off the oracle (atol %g, rtol %g); worst |diff| %.3g", bad, len(want)*len(want[0]), atol, rtol, worst)
	}
	t.Logf("max |diff| %.3g", worst)
}
