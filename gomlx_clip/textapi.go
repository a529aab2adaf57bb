package clip

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/clipsurgery/clipsurgery/gomlx_clip/tokenizer"
)

// TextBatch is how many prompts one text executable call encodes. Batches are filled with
// prompts of similar length and cut after their longest prompt (exact under the causal mask),
// rounded up to a multiple of 8 so that few shapes get compiled.
const TextBatch = 128

// EncodeText tokenizes texts (Tokenize) and encodes them: [len(texts), EmbedDim], not normalized.
func (m *Model) EncodeText(texts []string) (*Features, error) {
	rows, err := m.Tokenize(texts)
	if err != nil {
		return nil, err
	}
	return m.EncodeTokenRows(rows)
}

// Tokenize turns texts into token rows [len(texts)][ContextLength] with the tokenizer convention
// of the checkpoint's layout (Config.Tokenizer): OpenAI's (clip.tokenize without truncation: an
// over-long text is an error) for OpenAI checkpoints and Hugging Face CLIPModels, open_clip's
// ("<start_of_text>" / "<end_of_text>" are the special tokens, an over-long text is cut with EOT
// last) for open_clip's layout.
func (m *Model) Tokenize(texts []string) ([][]int32, error) {
	tok, err := m.tokenizer()
	if err != nil {
		return nil, err
	}
	return tok.Tokenize(texts, m.Config.ContextLength, tok.Convention().Truncates())
}

func (m *Model) tokenizer() (*tokenizer.Tokenizer, error) {
	return tokenizer.DefaultFor(m.Config.Tokenizer)
}

// EncodeTokenRows encodes full-length token rows [N][ContextLength] in trimmed batches and
// returns [N, EmbedDim] in the input order.
func (m *Model) EncodeTokenRows(rows [][]int32) (*Features, error) {
	n := len(rows)
	if n == 0 {
		return nil, fmt.Errorf("clip: no texts to encode")
	}
	ends := make([]int, n) // index of the first EOT (the argmax) + 1
	order := make([]int, n)
	for i, r := range rows {
		if len(r) != m.Config.ContextLength {
			return nil, fmt.Errorf("clip: token row %d has %d ids, want the context length %d", i, len(r), m.Config.ContextLength)
		}
		ends[i], order[i] = argmax(r)+1, i
	}
	sort.SliceStable(order, func(a, b int) bool { return ends[order[a]] < ends[order[b]] })
	e := m.Config.EmbedDim
	out := make([]float32, n*e)
	for start := 0; start < n; start += TextBatch {
		idx := order[start:min(start+TextBatch, n)]
		l := min((ends[idx[len(idx)-1]]+7)/8*8, m.Config.ContextLength)
		batch := make([][]int32, 0, TextBatch)
		for _, i := range idx {
			batch = append(batch, rows[i][:l])
		}
		// Pad a short last batch with copies of its first row, so every call has one shape.
		for n > TextBatch && len(batch) < TextBatch {
			batch = append(batch, batch[0])
		}
		f, err := m.EncodeTokens(batch)
		if err != nil {
			return nil, err
		}
		for j, i := range idx {
			copy(out[i*e:(i+1)*e], f.Data[j*e:(j+1)*e])
		}
	}
	return &Features{Shape: []int{n, e}, Data: out}, nil
}

func argmax(r []int32) int {
	best := 0
	for i, v := range r {
		if v > r[best] {
			best = i
		}
	}
	return best
}

// EncodeTextWithPromptEnsemble is the reference's encode_text_with_prompt_ensemble: for each
// class, the prompts template.format(class) are encoded, each L2-normalized, averaged, and the
// mean L2-normalized again. nil templates means DefaultTemplates(). Result [len(classes), EmbedDim].
func (m *Model) EncodeTextWithPromptEnsemble(classes, templates []string) (*Features, error) {
	return m.EncodeTextWithPromptEnsembleCached(context.Background(), classes, templates, nil)
}

// EncodeTextWithPromptEnsembleCached is EncodeTextWithPromptEnsemble reading and storing the
// per-prompt features in c (nil = no cache): only prompts never stored are encoded. It stops
// with ctx's error between its encoder calls (batches of packed prompts) once ctx is done.
func (m *Model) EncodeTextWithPromptEnsembleCached(ctx context.Context, classes, templates []string, c *TextCache) (*Features, error) {
	raw, templates, err := m.encodePromptGrid(ctx, classes, templates, c)
	if err != nil {
		return nil, err
	}
	return EnsembleMean(raw, len(classes), len(templates)), nil
}

// EncodeTemplatePromptsCached returns the raw features of every prompt template.format(class),
// [len(classes)·len(templates), EmbedDim] class-major (row c·T + j is class c with template j),
// not normalized: what the prompt ensemble averages, and each template's own classifier (one
// normalized row per class) for a per-template comparison such as FLOSS's. nil templates means
// DefaultTemplates(). The rows come from and go to the cache c as the ensemble's do.
func (m *Model) EncodeTemplatePromptsCached(ctx context.Context, classes, templates []string, c *TextCache) (*Features, error) {
	raw, _, err := m.encodePromptGrid(ctx, classes, templates, c)
	return raw, err
}

// EncodeTextWithClassTemplatesCached is the prompt ensemble with a template list per class:
// class i's features are the normalized mean of its normalized prompts templates[i][j].format(class)
// (the reference's ensemble when every list is the same, and then computed by it exactly), e.g.
// the per-class templates FLOSS selects. Each prompt is encoded once whatever the number of
// classes sharing its template, through the cache c (nil = no cache). Result [len(classes), EmbedDim].
func (m *Model) EncodeTextWithClassTemplatesCached(ctx context.Context, classes []string, templates [][]string, c *TextCache) (*Features, error) {
	if len(classes) == 0 {
		return nil, fmt.Errorf("clip: prompt ensemble of an empty class list")
	}
	if len(templates) != len(classes) {
		return nil, fmt.Errorf("clip: %d template lists for %d classes", len(templates), len(classes))
	}
	same := true
	for i, list := range templates {
		if err := checkTemplates(list); err != nil {
			return nil, fmt.Errorf("clip: class %q: %w", classes[i], err)
		}
		same = same && slices.Equal(list, templates[0])
	}
	if same {
		return m.EncodeTextWithPromptEnsembleCached(ctx, classes, templates[0], c)
	}
	tok, err := m.tokenizer()
	if err != nil {
		return nil, err
	}
	// One group per distinct template, holding the classes that use it, in first-use order.
	var order []string
	users := map[string][]int{}
	for i, list := range templates {
		for _, t := range list {
			if _, ok := users[t]; !ok {
				order = append(order, t)
			}
			users[t] = append(users[t], i)
		}
	}
	groups := make([]PromptGroup, len(order))
	at := map[[2]int]int{} // (class, template index in order) → row of the encoded features
	row := 0
	for g, t := range order {
		names := make([]string, len(users[t]))
		for j, ci := range users[t] {
			names[j] = classes[ci]
			at[[2]int{ci, g}] = row
			row++
		}
		if groups[g], err = m.templateGroup(tok, t, names); err != nil {
			return nil, err
		}
	}
	f, err := m.encodeGroupsCached(ctx, groups, c)
	if err != nil {
		return nil, err
	}
	index := map[string]int{}
	for g, t := range order {
		index[t] = g
	}
	e := m.Config.EmbedDim
	out := make([]float32, len(classes)*e)
	for ci, list := range templates {
		rows := make([]int, len(list))
		for j, t := range list {
			rows[j] = at[[2]int{ci, index[t]}]
		}
		meanOfUnitRows(f.Data, e, rows, out[ci*e:(ci+1)*e])
	}
	return &Features{Shape: []int{len(classes), e}, Data: out}, nil
}

// encodePromptGrid checks classes and templates (nil = DefaultTemplates) and encodes every
// prompt: the raw rows [K*T, E] class-major, and the templates used.
func (m *Model) encodePromptGrid(ctx context.Context, classes, templates []string, c *TextCache) (*Features, []string, error) {
	if len(classes) == 0 {
		return nil, nil, fmt.Errorf("clip: prompt ensemble of an empty class list")
	}
	if templates == nil {
		templates = defaultTemplates
	}
	if err := checkTemplates(templates); err != nil {
		return nil, nil, fmt.Errorf("clip: %w", err)
	}
	raw, err := m.encodeTemplated(ctx, classes, templates, c)
	return raw, templates, err
}

// checkTemplates refuses an empty template list and a template without "{}".
func checkTemplates(templates []string) error {
	if len(templates) == 0 {
		return errors.New("prompt ensemble with no templates")
	}
	for _, t := range templates {
		if !strings.Contains(t, "{}") {
			return fmt.Errorf("template %q has no {} for the class name", t)
		}
	}
	return nil
}

// encodeTemplated encodes the prompts template.format(class) for every class and template:
// [K*T, E], class-major. The prompts of one template share its words before "{}", so each
// template is a PromptGroup (templateGroup).
func (m *Model) encodeTemplated(ctx context.Context, classes, templates []string, c *TextCache) (*Features, error) {
	tok, err := m.tokenizer()
	if err != nil {
		return nil, err
	}
	k, t, e := len(classes), len(templates), m.Config.EmbedDim
	groups := make([]PromptGroup, t)
	for j, tmpl := range templates {
		if groups[j], err = m.templateGroup(tok, tmpl, classes); err != nil {
			return nil, err
		}
	}
	f, err := m.encodeGroupsCached(ctx, groups, c) // template-major
	if err != nil {
		return nil, err
	}
	out := make([]float32, k*t*e)
	for j := 0; j < t; j++ {
		for c := 0; c < k; c++ {
			copy(out[(c*t+j)*e:(c*t+j+1)*e], f.Data[(j*k+c)*e:(j*k+c+1)*e])
		}
	}
	return &Features{Shape: []int{k * t, e}, Data: out}, nil
}

// templateGroup is the PromptGroup of one template's prompts for classes: its prefix is the ids
// of the words before "{}" (EncodePromptGroups checks every prompt against it).
func (m *Model) templateGroup(tok *tokenizer.Tokenizer, tmpl string, classes []string) (PromptGroup, error) {
	truncate := tok.Convention().Truncates()
	prompts := make([]string, len(classes))
	for c, class := range classes {
		prompts[c] = strings.ReplaceAll(tmpl, "{}", class)
	}
	rows, err := tok.Tokenize(prompts, m.Config.ContextLength, truncate)
	if err != nil {
		return PromptGroup{}, err
	}
	head, err := tok.Tokenize([]string{tmpl[:strings.Index(tmpl, "{}")]}, m.Config.ContextLength, truncate)
	if err != nil {
		return PromptGroup{}, err
	}
	return PromptGroup{Prefix: head[0][:argmax(head[0])], Rows: rows}, nil // SOT + words, no EOT
}

// EnsembleMean turns raw prompt features [K*T, E] (class-major) into the normalized mean of the
// normalized rows per class: [K, E].
func EnsembleMean(raw *Features, k, t int) *Features {
	e := raw.Shape[len(raw.Shape)-1]
	out := make([]float32, k*e)
	rows := make([]int, t)
	for c := 0; c < k; c++ {
		for j := range rows {
			rows[j] = c*t + j
		}
		meanOfUnitRows(raw.Data, e, rows, out[c*e:(c+1)*e])
	}
	return &Features{Shape: []int{k, e}, Data: out}
}

// meanOfUnitRows writes into mean (len e, zero) the normalized mean of the normalized rows of
// data [*, e] listed in rows, in that order.
func meanOfUnitRows(data []float32, e int, rows []int, mean []float32) {
	for _, r := range rows {
		row := data[r*e : (r+1)*e]
		norm := l2(row)
		for i, v := range row {
			mean[i] += v / norm
		}
	}
	for i := range mean {
		mean[i] /= float32(len(rows))
	}
	norm := l2(mean)
	for i := range mean {
		mean[i] /= norm
	}
}

func l2(v []float32) float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return float32(math.Sqrt(s))
}
