package clip

import (
	"context"
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Why sharing a prompt prefix is exact: CLIP's text transformer is causal, so the hidden state of
// token i at every layer depends only on tokens 0..i (and their positions). Prompts whose ids
// begin with the same P ids (SOT + a template's words before the class name) therefore have
// identical hidden states, keys and values at positions 0..P-1 in every layer. We compute those
// once and run only each prompt's suffix (class name, rest of the template, EOT), whose queries
// attend to the shared prefix plus their own causal part. Tokens after a prompt's EOT are never
// computed, and only the EOT row is read at the output, so the last layer runs attention and MLP
// for the EOT rows alone.
//
// One executable call packs several such groups (prefix tokens, then the suffix tokens of each
// prompt) into one sequence of N tokens, with each token's position id and an N x N mask saying
// who may attend to whom. Packing wastes no rows on padding, and every projection and MLP is a
// single product with hundreds of rows, which the go backend runs far faster per row than
// products of a few rows.

// PackedTokens is the packing budget: tokens (prefixes + suffixes) per executable call.
const PackedTokens = 256

// EncodePackedPromptsGraph encodes packed prompts: ids and pos [1, N] (int32 token and position
// ids), mask [N, N] (bool: row i may attend to column j), eot [B] (int32: the packed index of each
// prompt's EOT token). Result [B, EmbedDim], equal to EncodeTextGraph on the unpacked prompts.
func EncodePackedPromptsGraph(c Config, p Params, ids, pos, mask, eot *Node) *Node {
	n, b := ids.Shape().Dimensions[1], eot.Shape().Dimensions[0]
	x := Gather(p.Get("token_embedding.weight"), InsertAxes(ids, -1))      // [1, N, W]
	x = Add(x, Gather(p.Get("positional_embedding"), InsertAxes(pos, -1))) // + position of each token
	last, t := c.TextLayers-1, c.TextTower()
	for i := 0; i < last; i++ {
		x = PackedBlock(x, Reshape(mask, 1, 1, n, n), p, textBlock(i), t)
	}
	x = EOTOnlyBlock(x, mask, eot, p, textBlock(last), t) // [1, B, W]
	x = LayerNorm(Reshape(x, b, c.TextWidth), p, "ln_final", t.Eps)
	return Einsum("bw,we->be", x, p.Get("text_projection"))
}

func textBlock(i int) string { return fmt.Sprintf("transformer.resblocks.%d", i) }

// PackedBlock is ResidualBlock over one packed sequence x [1, N, W] whose attention follows mask
// [1, 1, N, N] instead of the plain causal mask. t is the text Tower.
func PackedBlock(x, mask *Node, p Params, prefix string, t Tower) *Node {
	q, k, v := SplitQKVHeads(LayerNorm(x, p, prefix+".ln_1", t.Eps), p, prefix+".attn", t.Heads)
	return FinishBlock(x, AttendHeads(q, k, v, false, mask, t.Budget), p, prefix, t)
}

// EOTOnlyBlock is the last text block computed for the EOT rows only: every packed token still
// gives its key and value, but only the EOT rows need their attention and MLP, since nothing
// after this block mixes rows. x [1, N, W], mask [N, N], eot [B]. Result [1, B, W].
func EOTOnlyBlock(x, mask, eot *Node, p Params, prefix string, t Tower) *Node {
	n, w := x.Shape().Dimensions[1], x.Shape().Dimensions[2]
	b := eot.Shape().Dimensions[0]
	q, k, v := SplitQKVHeads(LayerNorm(x, p, prefix+".ln_1", t.Eps), p, prefix+".attn", t.Heads)
	at := InsertAxes(eot, -1)                                              // [B, 1] gather indices
	d := q.Shape().Dimensions                                              // [1, H, N, D]
	qe := Gather(TransposeAllAxes(Reshape(q, d[1], n, d[3]), 1, 0, 2), at) // [B, H, D]
	qe = InsertAxes(TransposeAllAxes(qe, 1, 0, 2), 0)                      // [1, H, B, D]
	xe := Reshape(Gather(Reshape(x, n, w), at), 1, b, w)
	me := Reshape(Gather(mask, at), 1, 1, b, n)
	return FinishBlock(xe, AttendHeads(qe, k, v, false, me, t.Budget), p, prefix, t)
}

// PromptGroup is token rows (each [SOT ... EOT 0 ...]) meant to share the ids Prefix, e.g. SOT
// and a template's words before the class name.
type PromptGroup struct {
	Prefix []int32
	Rows   [][]int32
}

// EncodePromptsSharedPrefix encodes rows that begin with the ids prefix computing the prefix
// once: [len(rows), EmbedDim], in order, equal to EncodeTokenRows(rows). See EncodePromptGroups.
func (m *Model) EncodePromptsSharedPrefix(prefix []int32, rows [][]int32) (*Features, error) {
	return m.EncodePromptGroups([]PromptGroup{{Prefix: prefix, Rows: rows}})
}

// EncodePromptGroups encodes every row of every group, computing each group's prefix once per
// packed call: [total rows, EmbedDim] in group and row order, equal to EncodeTokenRows on all
// rows. The sharing is checked on the ids themselves: a row that does not start with its
// group's prefix (BPE may merge a template's last word with the class name), or whose first
// EOT lies inside the prefix, goes through EncodeTokenRows instead.
func (m *Model) EncodePromptGroups(groups []PromptGroup) (*Features, error) {
	return m.encodePromptGroups(context.Background(), groups)
}

// encodePromptGroups is EncodePromptGroups, checking ctx before each encoder call.
func (m *Model) encodePromptGroups(ctx context.Context, groups []PromptGroup) (*Features, error) {
	e, n := m.Config.EmbedDim, 0
	var plainRows [][]int32
	var plainAt []int
	pk := packer{budget: PackedTokens}
	for gi, g := range groups {
		if err := m.checkIDs(g.Prefix, -1); len(g.Prefix) > 0 && err != nil {
			return nil, fmt.Errorf("%w (group %d)", err, gi)
		}
		pk.group = -1
		for _, r := range g.Rows {
			if err := m.checkIDs(r, n); err != nil {
				return nil, err
			}
			eot := argmax(r)
			if len(g.Prefix) > 0 && hasPrefix(r, g.Prefix) && eot >= len(g.Prefix) {
				pk.add(gi, g.Prefix, r[len(g.Prefix):eot+1], n)
			} else {
				plainRows, plainAt = append(plainRows, r), append(plainAt, n)
			}
			n++
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("clip: no texts to encode")
	}
	out := make([]float32, n*e)
	if len(plainRows) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := m.EncodeTokenRows(plainRows)
		if err != nil {
			return nil, err
		}
		scatterRows(out, f.Data, plainAt, e)
	}
	for _, call := range pk.flush() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := m.runPacked(call)
		if err != nil {
			return nil, err
		}
		scatterRows(out, f.Data, call.outRows, e)
	}
	return &Features{Shape: []int{n, e}, Data: out}, nil
}

// packedCall is the input of one EncodePackedPromptsGraph call.
type packedCall struct {
	ids, pos []int32
	segs     []segment // in packing order
	eot      []int32   // packed index of each prompt's EOT
	outRows  []int     // the output row of each prompt
}

// segment is a run of packed tokens: a prefix (prefixOf < 0) or a prompt's suffix, which sees
// the tokens of segment prefixOf.
type segment struct{ start, end, prefixOf int }

// packer fills packedCalls of at most budget tokens.
type packer struct {
	budget int
	calls  []*packedCall
	group  int // the group whose prefix is the current call's last prefix segment, -1 if none
}

// add packs one prompt of group gi: its suffix ids (after the prefix, up to and including its
// EOT), preceded by the group's prefix if the current call does not hold it yet.
func (pk *packer) add(gi int, prefix, suffix []int32, outRow int) {
	c := pk.current()
	need := len(suffix)
	if pk.group != gi {
		need += len(prefix)
	}
	if len(c.ids)+need > pk.budget && len(c.ids) > 0 {
		c = &packedCall{}
		pk.calls = append(pk.calls, c)
		pk.group = -1
	}
	if pk.group != gi {
		c.segs = append(c.segs, segment{len(c.ids), len(c.ids) + len(prefix), -1})
		for i, id := range prefix {
			c.ids, c.pos = append(c.ids, id), append(c.pos, int32(i))
		}
		pk.group = gi
	}
	pre := len(c.segs) - 1
	for c.segs[pre].prefixOf >= 0 {
		pre--
	}
	c.segs = append(c.segs, segment{len(c.ids), len(c.ids) + len(suffix), pre})
	for i, id := range suffix {
		c.ids, c.pos = append(c.ids, id), append(c.pos, int32(len(prefix)+i))
	}
	c.eot, c.outRows = append(c.eot, int32(len(c.ids)-1)), append(c.outRows, outRow)
}

func (pk *packer) current() *packedCall {
	if len(pk.calls) == 0 {
		pk.calls = append(pk.calls, &packedCall{})
	}
	return pk.calls[len(pk.calls)-1]
}

func (pk *packer) flush() []*packedCall {
	if len(pk.calls) > 0 && len(pk.current().eot) == 0 {
		return pk.calls[:len(pk.calls)-1]
	}
	return pk.calls
}

// Packed calls are padded so that very few shapes get compiled (each compiled executable keeps
// memory of its own, which adds up with one per small step of N and B: docs/BENCHMARKS.md): N
// to a multiple of PackedTokens (padding tokens attend only to themselves), B to a multiple of
// 64 (padding outputs read token 0, then are dropped).
const packN, packB = PackedTokens, 64

// mask builds the [n, n] attention mask of the call: a prefix token sees its prefix up to itself,
// a suffix token its group's prefix and its own suffix up to itself.
func (c *packedCall) mask(n int) []bool {
	mask := make([]bool, n*n)
	for _, s := range c.segs {
		for i := s.start; i < s.end; i++ {
			row := mask[i*n : (i+1)*n]
			if s.prefixOf >= 0 {
				pre := c.segs[s.prefixOf]
				for j := pre.start; j < pre.end; j++ {
					row[j] = true
				}
			}
			for j := s.start; j <= i; j++ {
				row[j] = true
			}
		}
	}
	for i := len(c.ids); i < n; i++ {
		mask[i*n+i] = true
	}
	return mask
}

// runPacked runs one packed call and returns its prompts' features [len(c.eot), EmbedDim].
func (m *Model) runPacked(c *packedCall) (*Features, error) {
	n := (len(c.ids) + packN - 1) / packN * packN
	b := (len(c.eot) + packB - 1) / packB * packB
	ids, pos, eot := make([]int32, n), make([]int32, n), make([]int32, b)
	copy(ids, c.ids)
	copy(pos, c.pos)
	copy(eot, c.eot)
	f, err := m.run(programKey{graph: "packed prompts"}, 256, func(p Params, in []*Node) *Node {
		return EncodePackedPromptsGraph(m.Config, p, in[0], in[1], in[2], in[3])
	},
		tensors.FromFlatDataAndDimensions(ids, 1, n),
		tensors.FromFlatDataAndDimensions(pos, 1, n),
		tensors.FromFlatDataAndDimensions(c.mask(n), n, n),
		tensors.FromFlatDataAndDimensions(eot, b))
	if err != nil {
		return nil, fmt.Errorf("clip: encode text (packed prompts): %w", err)
	}
	f.Data = f.Data[:len(c.eot)*m.Config.EmbedDim]
	return f, nil
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
