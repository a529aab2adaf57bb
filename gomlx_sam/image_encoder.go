package sam

import (
	"fmt"
	"math"

	"github.com/clipsurgery/clipsurgery/internal/bilinear"
	"github.com/clipsurgery/clipsurgery/internal/modelkit"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// EncodeImage runs the image encoder on a batch of normalised, zero-padded images
// [batch, 3, S, S] (S = Config.ImageSize, CHW per image) and returns the image embeddings
// [batch, OutChans, S/16, S/16].
func (m *Model) EncodeImage(pixels []float32, batch int) (*Features, error) {
	outs, err := m.encode(pixels, batch, false)
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// EncodeImageDebug is EncodeImage returning every intermediate the reference records: the
// patch embedding before pos_embed [B, G, G, E], the output of each block [B, G, G, E] and
// last the image embedding. It exists for parity tests and debugging.
func (m *Model) EncodeImageDebug(pixels []float32, batch int) ([]*Features, error) {
	return m.encode(pixels, batch, true)
}

func (m *Model) encode(pixels []float32, batch int, debug bool) ([]*Features, error) {
	c := m.Config
	s := c.ImageSize
	if batch <= 0 || len(pixels) != batch*c.InChans*s*s {
		return nil, fmt.Errorf("sam: %d pixel values for a batch of %d images of %dx%dx%d (want %d)",
			len(pixels), batch, c.InChans, s, s, max(batch, 1)*c.InChans*s*s)
	}
	key := "image_encoder"
	build := func(p Params, in []*Node) []*Node { return []*Node{EncodeImageGraph(c, p, in[0])} }
	if debug {
		key = "image_encoder_debug"
		build = func(p Params, in []*Node) []*Node { return encodeImageTaps(c, p, in[0]) }
	}
	pr := m.program(key, []string{"image_encoder."}, build)
	outs, err := pr.run(tensors.FromFlatDataAndDimensions(pixels, batch, c.InChans, s, s))
	if err != nil {
		return nil, fmt.Errorf("sam: encode image: %w", err)
	}
	feats := make([]*Features, len(outs))
	for i, o := range outs {
		if feats[i], err = toFeatures(o); err != nil {
			return nil, err
		}
	}
	return feats, nil
}

// EncodeImageGraph is SAM's ImageEncoderViT: normalised, padded images [B, 3, S, S]
// (S = ImageSize) to image embeddings [B, OutChans, S/16, S/16] (NCHW, as predictor.features).
func EncodeImageGraph(c Config, p Params, images *Node) *Node {
	outs := encodeImageTaps(c, p, images)
	return outs[len(outs)-1]
}

// encodeImageTaps returns the patch embedding (before pos_embed), each block's output (BHWC)
// and last the image embedding (NCHW): the intermediates the reference records.
func encodeImageTaps(c Config, p Params, images *Node) []*Node {
	x := patchEmbed(p, images) // [B, G, G, E]
	taps := []*Node{x}
	if c.UseAbsPos {
		x = Add(x, p.Get("image_encoder.pos_embed"))
	}
	for i := range c.EncoderDepth {
		x = encoderBlock(c, p, i, x)
		taps = append(taps, x)
	}
	return append(taps, neck(c, p, x))
}

// patchEmbed is the Conv2d with kernel = stride = patch, giving channels-last tokens
// [B, S/16, S/16, E] directly (reshape + einsum instead of a convolution).
func patchEmbed(p Params, images *Node) *Node {
	w := p.Get("image_encoder.patch_embed.proj.weight")
	k := w.Shape().Dimensions[2]
	d := images.Shape().Dimensions
	b, ch, gh, gw := d[0], d[1], d[2]/k, d[3]/k
	x := Einsum("bcyixj,ecij->byxe", Reshape(images, b, ch, gh, k, gw, k), w)
	return Add(x, Reshape(p.Get("image_encoder.patch_embed.proj.bias"), 1, 1, 1, -1))
}

// encoderBlock is one ViT block on BHWC tokens: x += attn(norm1(x)) (in windows unless the block
// is global), x += mlp(norm2(x)).
func encoderBlock(c Config, p Params, i int, x *Node) *Node {
	prefix := fmt.Sprintf("image_encoder.blocks.%d", i)
	y := LayerNorm(x, p, prefix+".norm1", c.EncoderEps)
	if c.IsGlobal(i) {
		y = encoderAttention(c, p, prefix+".attn", y)
	} else {
		d := y.Shape().Dimensions
		h, w := d[1], d[2]
		windows, hp, wp := windowPartition(y, c.WindowSize)
		windows = encoderAttention(c, p, prefix+".attn", windows)
		y = windowUnpartition(windows, c.WindowSize, hp, wp, h, w)
	}
	x = Add(x, y)
	return Add(x, MLPBlock(LayerNorm(x, p, prefix+".norm2", c.EncoderEps), p, prefix+".mlp", GELU))
}

// windowPartition pads BHWC tokens with zeros at the bottom and right to multiples of ws and
// cuts them into windows [B·nh·nw, ws, ws, C] (window-major, row-major inside), returning the
// padded size. Padded tokens are not masked in attention, as upstream.
func windowPartition(x *Node, ws int) (windows *Node, hp, wp int) {
	d := x.Shape().Dimensions
	b, h, w, ch := d[0], d[1], d[2], d[3]
	ph, pw := (ws-h%ws)%ws, (ws-w%ws)%ws
	if ph > 0 || pw > 0 {
		x = Pad(x, ScalarZero(x.Graph(), x.DType()),
			PadAxis{}, PadAxis{End: ph}, PadAxis{End: pw}, PadAxis{})
	}
	hp, wp = h+ph, w+pw
	x = Reshape(x, b, hp/ws, ws, wp/ws, ws, ch)
	x = TransposeAllDims(x, 0, 1, 3, 2, 4, 5)
	return Reshape(x, b*(hp/ws)*(wp/ws), ws, ws, ch), hp, wp
}

// windowUnpartition reverses windowPartition and crops the padding back to h×w.
func windowUnpartition(windows *Node, ws, hp, wp, h, w int) *Node {
	d := windows.Shape().Dimensions
	ch := d[3]
	b := d[0] / ((hp / ws) * (wp / ws))
	x := Reshape(windows, b, hp/ws, wp/ws, ws, ws, ch)
	x = TransposeAllDims(x, 0, 1, 3, 2, 4, 5)
	x = Reshape(x, b, hp, wp, ch)
	if hp > h || wp > w {
		x = Slice(x, AxisRange(), AxisRange(0, h), AxisRange(0, w), AxisRange())
	}
	return x
}

// encoderAttention is the encoder's multi-head self-attention over BHWC tokens [B, h, w, E]:
// qkv projection, logits = (q·scale)·kᵀ, plus the decomposed relative-position terms (computed
// from the unscaled q, added in upstream's order), softmax over keys, heads concatenated, proj.
//
// Written out heads-major, in groups of heads (modelkit.InHeadGroups, Config.ScoreBudget),
// rather than with GoMLX's attention core: in a global block the logits of all heads are
// [heads, 4096, 4096] floats, and with this bias the core ran its decomposed form here, which
// transposes logits and bias, keeping several such buffers pooled. One group at a time (the
// creation-order schedule, modelkit.DefaultGoConfig) holds a group's logits only, which lowers
// SetImage's peak memory severalfold and is faster too (docs/BENCHMARKS.md,
// BenchmarkGlobalAttention*).
func encoderAttention(c Config, p Params, prefix string, x *Node) *Node {
	d := x.Shape().Dimensions
	b, h, w, e := d[0], d[1], d[2], d[3]
	heads := c.EncoderHeads
	hd := e / heads
	n := h * w
	qkv := Reshape(Linear(x, p, prefix+".qkv"), b, n, 3, heads, hd)
	qkv = TransposeAllAxes(qkv, 2, 0, 3, 1, 4) // [3, B, heads, N, hd]
	var relH, relW *Node
	if c.UseRelPos {
		relH = RelPosTable(p.Get(prefix+".rel_pos_h"), h, h) // [qy, ky, hd]
		relW = RelPosTable(p.Get(prefix+".rel_pos_w"), w, w) // [qx, kx, hd]
	}
	out := modelkit.InHeadGroups(x.Graph(), heads, 4*b*n*n, c.ScoreBudget, func(h0, h1 int) *Node {
		part := func(i int) *Node { // [B, g, N, hd]
			return Reshape(Slice(qkv, AxisElem(i), AxisRange(), AxisRange(h0, h1)), b, h1-h0, n, hd)
		}
		q, k, v := part(0), part(1), part(2)
		logits := Einsum("bgqd,bgkd->bgqk", MulScalar(q, 1/math.Sqrt(float64(hd))), k)
		if c.UseRelPos {
			logits = addDecomposedRelPos(logits, q, relH, relW, h, w)
		}
		return Einsum("bgqk,bgkd->bgqd", Softmax(logits, -1), v)
	})
	out = TransposeAllAxes(out, 0, 2, 1, 3) // [B, N, heads, hd]: channel = head·hd + d
	return Linear(Reshape(out, b, h, w, e), p, prefix+".proj")
}

// addDecomposedRelPos is upstream's add_decomposed_rel_pos: logits [B, g, N, N] (N = h·w,
// queries and keys on the same h×w grid) plus, for query (qy,qx) and key (ky,kx), ⟨q, Rh[qy,ky]⟩
// and then ⟨q, Rw[qx,kx]⟩, with the unscaled q [B, g, N, hd] and the tables of RelPosTable.
// Size-1 axes broadcast inside Add: neither term is expanded to [N, N] first.
func addDecomposedRelPos(logits, q, relH, relW *Node, h, w int) *Node {
	d := q.Shape().Dimensions
	b, g, hd := d[0], d[1], d[3]
	rq := Reshape(q, b, g, h, w, hd)
	termH := Einsum("bgyxd,ykd->bgyxk", rq, relH) // [B, g, qy, qx, ky]
	termW := Einsum("bgyxd,xkd->bgyxk", rq, relW) // [B, g, qy, qx, kx]
	l := Reshape(logits, b, g, h, w, h, w)
	l = Add(Add(l, InsertAxes(termH, 5)), InsertAxes(termW, 4))
	return Reshape(l, b, g, h*w, h*w)
}

// RelPosTable is upstream's get_rel_pos: the table [qSize, kSize, C] of relative-position
// embeddings for every query/key coordinate pair, from relPos [L, C]. When L is not the
// 2·max(qSize,kSize)−1 rows the pair needs, relPos is first resized linearly (F.interpolate
// mode "linear", align_corners=False: internal/bilinear). Index and interpolation are one constant matrix, so the
// lookup is a single matmul (exact when no interpolation is needed: one-hot rows).
func RelPosTable(relPos *Node, qSize, kSize int) *Node {
	l, ch := relPos.Shape().Dimensions[0], relPos.Shape().Dimensions[1]
	m := relPosMatrix(l, qSize, kSize)
	g := relPos.Graph()
	table := Einsum("rl,lc->rc", Const(g, m), relPos)
	return Reshape(table, qSize, kSize, ch)
}

// relPosMatrix is the [qSize·kSize][l] matrix behind RelPosTable: row (i,j) selects (or
// interpolates) the relative-position row of query coordinate i and key coordinate j.
func relPosMatrix(l, qSize, kSize int) [][]float32 {
	maxRel := 2*max(qSize, kSize) - 1
	interp := bilinear.Matrix(l, maxRel)
	qScale := max(float64(kSize)/float64(qSize), 1)
	kScale := max(float64(qSize)/float64(kSize), 1)
	m := make([][]float32, qSize*kSize)
	for i := range qSize {
		for j := range kSize {
			// Upstream computes these coordinates in float and truncates with .long().
			idx := int(float64(i)*qScale - float64(j)*kScale + float64(kSize-1)*kScale)
			m[i*kSize+j] = interp[idx]
		}
	}
	return m
}

// neck maps BHWC tokens to the NCHW image embedding: Conv1×1 (no bias) → LayerNorm2d →
// Conv3×3 pad 1 (no bias) → LayerNorm2d, computed channels-last (LayerNorm2d over channels is
// then a LayerNorm over the last axis) and transposed at the end.
func neck(c Config, p Params, x *Node) *Node {
	w0 := p.Get("image_encoder.neck.0.weight") // [out, in, 1, 1]
	d := w0.Shape().Dimensions
	x = Einsum("byxc,oc->byxo", x, Reshape(w0, d[0], d[1]))
	x = LayerNorm(x, p, "image_encoder.neck.1", c.EncoderEps)
	x = conv3x3SameNHWC(x, p.Get("image_encoder.neck.2.weight"))
	x = LayerNorm(x, p, "image_encoder.neck.3", c.EncoderEps)
	return TransposeAllDims(x, 0, 3, 1, 2)
}

// conv3x3SameNHWC is a 3×3 convolution, stride 1, zero padding 1, no bias, on channels-last
// input with a torch weight [out, in, 3, 3]: the nine shifted views are stacked (im2col) and
// contracted in one einsum.
func conv3x3SameNHWC(x, w *Node) *Node {
	d := x.Shape().Dimensions
	h, wd, ch := d[1], d[2], d[3]
	xp := Pad(x, ScalarZero(x.Graph(), x.DType()), PadAxis{}, PadAxis{Start: 1, End: 1}, PadAxis{Start: 1, End: 1}, PadAxis{})
	shifts := make([]*Node, 0, 9)
	for i := range 3 {
		for j := range 3 {
			shifts = append(shifts, Slice(xp, AxisRange(), AxisRange(i, i+h), AxisRange(j, j+wd), AxisRange()))
		}
	}
	cols := Stack(shifts, 3) // [B, H, W, 9, C], shift index = i·3 + j
	wk := Reshape(TransposeAllDims(w, 0, 2, 3, 1), w.Shape().Dimensions[0], 9, ch)
	return Einsum("byxsc,osc->byxo", cols, wk)
}
