package clip

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Why sharing a prompt prefix is exact: CLIP's text transformer is causal, so the hidden state of
// token i at every layer depends only on tokens 0..i (and their positions). Prompts whose ids
// begin with the same P ids (SOT + a template's words before the class name) therefore have
// identical hidden states, keys and values at positions 0..P-1 in every layer. We compute those
// once (batch 1) and run only each prompt's suffix (class name, rest of the template, EOT), whose
// queries attend to the shared prefix keys/values plus their own causal part. Only the EOT row
// is read at the output, so the last layer runs attention and MLP for that row alone, and the
// prefix needs no attention/MLP in the last layer (only its keys and values).

// EncodeSharedPrefixGraph encodes prompts that all start with the ids prefix [1, P]: suffix
// [B, S] holds each prompt's ids from position P on (anything after its EOT is ignored), eot [B]
// (int32) the index of each prompt's first EOT within suffix. Result [B, EmbedDim], equal to
// EncodeTextGraph on the whole prompts.
func EncodeSharedPrefixGraph(c Config, p Params, prefix, suffix, eot *Node) *Node {
	g := prefix.Graph()
	pl := prefix.Shape().Dimensions[1]
	b, sl := suffix.Shape().Dimensions[0], suffix.Shape().Dimensions[1]
	embed := func(ids *Node, from int) *Node {
		x := Gather(p.Get("token_embedding.weight"), InsertAxes(ids, -1))
		return Add(x, InsertAxes(Slice(p.Get("positional_embedding"), AxisRange(from, from+ids.Shape().Dimensions[1])), 0))
	}
	xp, xs := embed(prefix, 0), embed(suffix, pl)

	// Suffix row i sees the whole prefix and suffix rows j <= i: key column k <= P + i.
	cols := Iota(g, shapes.Make(dtypes.Int32, sl, pl+sl), 1)
	rows := Iota(g, shapes.Make(dtypes.Int32, sl, pl+sl), 0)
	mask := Reshape(LessOrEqual(cols, AddScalar(rows, float64(pl))), 1, sl, 1, pl+sl)

	last := c.TextLayers - 1
	for i := 0; i < last; i++ {
		xp, xs = SharedPrefixBlock(xp, xs, p, textBlock(i), c.TextHeads, mask)
	}
	pick := OneHot(eot, sl, xs.DType()) // [B, S]: selects each prompt's EOT row
	x := EOTOnlyBlock(xp, xs, pick, eot, p, textBlock(last), c.TextHeads)
	x = LayerNorm(Reshape(x, b, c.TextWidth), p, "ln_final")
	return Einsum("bw,we->be", x, p.Get("text_projection"))
}

func textBlock(i int) string { return fmt.Sprintf("transformer.resblocks.%d", i) }

// SharedPrefixBlock runs one causal block on the shared prefix xp [1, P, W] and on the suffixes
// xs [B, S, W], whose attention reads the prefix keys/values (broadcast over the batch) before
// their own; mask [1, S, 1, P+S] is the suffix's causal mask shifted by P.
func SharedPrefixBlock(xp, xs *Node, p Params, prefix string, heads int, mask *Node) (*Node, *Node) {
	qp, kp, vp := SplitQKV(LayerNorm(xp, p, prefix+".ln_1"), p, prefix+".attn", heads)
	qs, k, v := prefixedQKV(xs, kp, vp, p, prefix, heads)
	return FinishBlock(xp, Attend(qp, kp, vp, true), p, prefix), FinishBlock(xs, AttendMasked(qs, k, v, mask), p, prefix)
}

// EOTOnlyBlock is the last text block computed for the EOT rows only: every suffix row still
// gives its key and value, but only the EOT row's query, attention and MLP are needed, since
// nothing after this block mixes rows. pick [B, S] is the one-hot of eot [B]. Result [B, 1, W].
func EOTOnlyBlock(xp, xs, pick, eot *Node, p Params, prefix string, heads int) *Node {
	g := xs.Graph()
	pl, sl := xp.Shape().Dimensions[1], xs.Shape().Dimensions[1]
	qs, k, v := prefixedQKV(xs, nil, nil, p, prefix, heads)
	_, kp, vp := SplitQKV(LayerNorm(xp, p, prefix+".ln_1"), p, prefix+".attn", heads)
	k, v = withPrefix(kp, k), withPrefix(vp, v)
	qd := qs.Shape().Dimensions
	q := Reshape(Einsum("bs,bshd->bhd", pick, qs), qd[0], 1, qd[2], qd[3]) // the EOT queries
	x := InsertAxes(Einsum("bs,bsw->bw", pick, xs), 1)                     // the EOT rows [B, 1, W]
	// The EOT row sees the prefix and the suffix up to itself: key column k <= P + eot.
	cols := Iota(g, shapes.Make(dtypes.Int32, qd[0], pl+sl), 1)
	mask := LessOrEqual(cols, InsertAxes(AddScalar(eot, float64(pl)), 1))
	mask = Reshape(mask, qd[0], 1, 1, pl+sl)
	return FinishBlock(x, AttendMasked(q, k, v, mask), p, prefix)
}

// prefixedQKV projects the suffixes xs [B, S, W] and, when kp/vp (the prefix's keys and values
// [1, P, heads, 64]) are given, puts them in front of the suffix's own keys and values.
func prefixedQKV(xs, kp, vp *Node, p Params, prefix string, heads int) (q, k, v *Node) {
	q, k, v = SplitQKV(LayerNorm(xs, p, prefix+".ln_1"), p, prefix+".attn", heads)
	if kp == nil {
		return q, k, v
	}
	return q, withPrefix(kp, k), withPrefix(vp, v)
}

// withPrefix concatenates the batch-1 prefix part [1, P, H, D] before s [B, S, H, D].
func withPrefix(pre, s *Node) *Node {
	d := pre.Shape().Dimensions
	pre = BroadcastToDims(pre, s.Shape().Dimensions[0], d[1], d[2], d[3])
	return Concatenate([]*Node{pre, s}, 1)
}

// EncodePromptsSharedPrefix encodes token rows that begin with the ids prefix (SOT + a
// template's words before the class name) computing the prefix once: [len(rows), EmbedDim], in
// order, equal to EncodeTokenRows(rows). The sharing is checked on the ids themselves: a row
// that does not start with prefix (BPE may merge the template's last word with the class name)
// or whose first EOT lies inside the prefix goes through EncodeTokenRows instead.
func (m *Model) EncodePromptsSharedPrefix(prefix []int32, rows [][]int32) (*Features, error) {
	n, e := len(rows), m.Config.EmbedDim
	if n == 0 {
		return nil, fmt.Errorf("clip: no texts to encode")
	}
	if err := m.checkIDs(prefix, -1); err != nil {
		return nil, err
	}
	var shared, plain []int
	eots := make([]int, n)
	for i, r := range rows {
		if err := m.checkIDs(r, i); err != nil {
			return nil, err
		}
		eots[i] = argmax(r)
		if len(prefix) > 0 && hasPrefix(r, prefix) && eots[i] >= len(prefix) {
			shared = append(shared, i)
		} else {
			plain = append(plain, i)
		}
	}
	out := make([]float32, n*e)
	if len(plain) > 0 {
		sub := make([][]int32, len(plain))
		for j, i := range plain {
			sub[j] = rows[i]
		}
		f, err := m.EncodeTokenRows(sub)
		if err != nil {
			return nil, err
		}
		scatterRows(out, f.Data, plain, e)
	}
	for start := 0; start < len(shared); start += TextBatch {
		idx := shared[start:min(start+TextBatch, len(shared))]
		f, err := m.encodeSuffixBatch(prefix, rows, eots, idx, len(shared) > TextBatch)
		if err != nil {
			return nil, err
		}
		scatterRows(out, f.Data, idx, e)
	}
	return &Features{Shape: []int{n, e}, Data: out}, nil
}

// encodeSuffixBatch runs the shared-prefix executable on rows idx (all starting with prefix),
// padded to TextBatch rows when pad is set so that every batch of a long list has one shape.
func (m *Model) encodeSuffixBatch(prefix []int32, rows [][]int32, eots, idx []int, pad bool) (*Features, error) {
	pl := len(prefix)
	sl := 0
	for _, i := range idx {
		sl = max(sl, eots[i]+1-pl)
	}
	b := len(idx)
	if pad {
		b = TextBatch
	}
	suffix := make([]int32, b*sl) // zeros after a row's EOT: never read, by the causal mask
	eot := make([]int32, b)
	for j := 0; j < b; j++ {
		i := idx[min(j, len(idx)-1)] // padding rows repeat the last real row
		copy(suffix[j*sl:(j+1)*sl], rows[i][pl:min(len(rows[i]), pl+sl)])
		eot[j] = int32(eots[i] - pl)
	}
	out, err := m.run(m.prefixExecutable(),
		tensors.FromFlatDataAndDimensions(append([]int32(nil), prefix...), 1, pl),
		tensors.FromFlatDataAndDimensions(suffix, b, sl),
		tensors.FromFlatDataAndDimensions(eot, b))
	if err != nil {
		return nil, fmt.Errorf("clip: encode text (shared prefix): %w", err)
	}
	f, err := toFeatures(out[0])
	if err != nil {
		return nil, err
	}
	f.Data = f.Data[:len(idx)*m.Config.EmbedDim]
	return f, nil
}

func (m *Model) prefixExecutable() *Exec {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.prefixExec == nil {
		m.prefixExec = MustNewExec(m.backend, func(inputs []*Node) []*Node {
			n := len(m.names)
			return []*Node{EncodeSharedPrefixGraph(m.Config, m.paramsOf(inputs[:n]), inputs[n], inputs[n+1], inputs[n+2])}
		}).SetMaxCache(256)
	}
	return m.prefixExec
}

// checkIDs rejects a row that is empty, longer than the context or has ids outside the vocabulary
// (row < 0 names the prefix).
func (m *Model) checkIDs(r []int32, row int) error {
	what := fmt.Sprintf("token row %d", row)
	if row < 0 {
		what = "prompt prefix"
	}
	if len(r) == 0 || len(r) > m.Config.ContextLength {
		return fmt.Errorf("clip: %s has length %d (context length %d)", what, len(r), m.Config.ContextLength)
	}
	for _, id := range r {
		if id < 0 || int(id) >= m.Config.VocabSize {
			return fmt.Errorf("clip: token id %d in %s is outside the vocabulary (%d)", id, what, m.Config.VocabSize)
		}
	}
	return nil
}

func hasPrefix(r, prefix []int32) bool {
	if len(r) < len(prefix) {
		return false
	}
	for i, id := range prefix {
		if r[i] != id {
			return false
		}
	}
	return true
}

// scatterRows copies row j of src ([len(idx), e]) to row idx[j] of dst.
func scatterRows(dst, src []float32, idx []int, e int) {
	for j, i := range idx {
		copy(dst[i*e:(i+1)*e], src[j*e:(j+1)*e])
	}
}
