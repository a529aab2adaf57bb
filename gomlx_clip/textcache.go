package clip

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/clipsurgery/clipsurgery/internal/embedcache"
	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// The prompt ensemble is the mean of normalized per-prompt features (EnsembleMean). Those
// per-prompt features, EncodePromptGroups' raw rows, depend only on the text tower's weights and
// the prompt's token ids, so a TextCache keeps each one on disk under the digest of both: a class
// list or template list met before encodes nothing, a changed one only its new prompts. The
// ensemble is then assembled from the stored rows with the same EnsembleMean, so a cached result
// is bit-identical to the computation that stored its rows.

// EnvTextCache turns the text cache off when "0", "false", "no" or "off".
const EnvTextCache = "CLIPSURGERY_TEXT_CACHE"

// TextCacheSubdir is the text cache's folder under the checkpoint cache root.
const TextCacheSubdir = "text-embeddings"

// textEncoderVersion enters every key: bump it when a change to the text encoder changes its
// numbers, so that rows computed by the old code are not served as the new code's.
const textEncoderVersion = "clip-text-encoder-v1"

// TextCache is a persistent store of prompt embeddings (see EncodeTextWithPromptEnsembleCached).
// It is safe for concurrent use by goroutines and processes.
type TextCache struct{ store *embedcache.Cache }

// TextCacheOptions configure OpenTextCache.
type TextCacheOptions struct {
	// Root is the checkpoint cache root: "" = $CLIPSURGERY_CACHE, else ~/.cache/clip. The cache
	// lives in Root/text-embeddings.
	Root string
	// MaxBytes bounds the stored embeddings; the least recently used go first (0 =
	// embedcache.DefaultMaxBytes, 64 MB).
	MaxBytes int64
	// Warn receives the single warning of a cache that cannot be written (nil = os.Stderr).
	Warn io.Writer
}

// TextCacheDisabled reports whether $CLIPSURGERY_TEXT_CACHE turns the cache off.
func TextCacheDisabled() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(EnvTextCache))) {
	case "0", "false", "no", "off":
		return true
	}
	return false
}

// OpenTextCache returns the text cache under opt.Root. It creates nothing until the first write;
// an unwritable folder gives one warning later and no failure.
func OpenTextCache(opt TextCacheOptions) (*TextCache, error) {
	root, err := registry.CacheRoot(opt.Root)
	if err != nil {
		return nil, err
	}
	return &TextCache{embedcache.Open(filepath.Join(root, TextCacheSubdir),
		embedcache.Options{MaxBytes: opt.MaxBytes, Warn: opt.Warn})}, nil
}

// DefaultTextCache is OpenTextCache for the defaults, or nil (no cache) when $CLIPSURGERY_TEXT_CACHE
// turns it off or no root folder can be named (no home directory).
func DefaultTextCache(root string, warn io.Writer) *TextCache {
	if TextCacheDisabled() {
		return nil
	}
	c, err := OpenTextCache(TextCacheOptions{Root: root, Warn: warn})
	if err != nil {
		return nil
	}
	return c
}

// TextCacheStats describe a text cache's folder.
type TextCacheStats = embedcache.Stats

// Stats counts the stored embeddings.
func (c *TextCache) Stats() (TextCacheStats, error) { return c.store.Stats() }

// Clear deletes every stored embedding.
func (c *TextCache) Clear() error { return c.store.Clear() }

// Dir is the cache's folder.
func (c *TextCache) Dir() string { return c.store.Dir() }

// TextWeightsDigest is the SHA-256 of everything a prompt's features depend on besides its ids:
// the text tower's weights (every canonical tensor outside visual.*, but logit_scale, with its
// name and shape) and what the weights do not show, which a config may change for the same weights
// (textArch: heads, activation, LayerNorm eps, tokenizer convention). Two models with the same
// weights and a different config therefore never share cache entries. A model loaded from files
// remembers the weights' part in c per file identity (path, size, mtime, inode), so only the first
// load of a checkpoint hashes; c may be nil.
func (m *Model) TextWeightsDigest(c *TextCache) [32]byte {
	m.digestMu.Lock()
	defer m.digestMu.Unlock()
	if m.textDigest != nil {
		return *m.textDigest
	}
	var w embedcache.Key
	ok := false
	if c != nil && len(m.sources) > 0 {
		w, ok = c.store.FileDigest(m.sources)
	}
	if !ok {
		w = m.hashTextTower()
		if c != nil && len(m.sources) > 0 {
			c.store.RememberFileDigest(m.sources, w)
		}
	}
	d := embedcache.KeyOf([]byte(textEncoderVersion), w[:], []byte(m.textArch()))
	m.textDigest = (*[32]byte)(&d)
	return d
}

// textArch spells out the text tower's architecture beyond its weights: every Config field the
// text encoder reads that the tensors do not fix.
func (m *Model) textArch() string {
	t := m.Config.TextTower()
	return fmt.Sprintf("heads=%d act=%s eps=%v tokenizer=%s", t.Heads, t.Act, t.Eps, m.Config.Tokenizer)
}

// hashTextTower is the SHA-256 of the text tower's weights alone.
func (m *Model) hashTextTower() [32]byte {
	var names []string
	for _, name := range m.weights.Names() {
		if !strings.HasPrefix(name, "visual.") && name != "logit_scale" {
			names = append(names, name)
		}
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s text weights\n", textEncoderVersion)
	shapes := ExpectedShapes(m.Config)
	for _, name := range names {
		v, _, _ := m.weights.Weight(name) // a copy in the checkpoint's layout, one tensor at a time
		fmt.Fprintf(h, "%s %v %d\n", name, shapes[name], len(v))
		if len(v) > 0 { // the bytes in memory: a big-endian machine gets other digests, never wrong rows
			h.Write(unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v)))
		}
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// promptKey is the cache key of one prompt: weights digest and its ids up to its first EOT.
func promptKey(digest [32]byte, row []int32) embedcache.Key {
	ids := make([]byte, 0, 4*(argmax(row)+1))
	for _, id := range row[:argmax(row)+1] {
		ids = binary.LittleEndian.AppendUint32(ids, uint32(id))
	}
	return embedcache.KeyOf([]byte(textEncoderVersion), digest[:], ids)
}

// encodeGroupsCached is EncodePromptGroups through the cache c (nil = no cache): rows found in c
// are read, the others encoded together (sharing prefixes as before, ctx checked before each
// encoder call) and stored.
func (m *Model) encodeGroupsCached(ctx context.Context, groups []PromptGroup, c *TextCache) (*Features, error) {
	if c == nil {
		return m.encodePromptGroups(ctx, groups)
	}
	digest := m.TextWeightsDigest(c)
	e, n := m.Config.EmbedDim, 0
	for _, g := range groups {
		n += len(g.Rows)
	}
	out := make([]float32, n*e)
	var missGroups []PromptGroup
	var missAt []int
	var missKeys []embedcache.Key
	i := 0
	for _, g := range groups {
		miss := PromptGroup{Prefix: g.Prefix}
		for _, r := range g.Rows {
			if err := m.checkIDs(r, i); err != nil {
				return nil, err
			}
			k := promptKey(digest, r)
			if v, ok := c.store.Get(k); ok && len(v) == e {
				copy(out[i*e:(i+1)*e], v)
			} else {
				miss.Rows = append(miss.Rows, r)
				missAt, missKeys = append(missAt, i), append(missKeys, k)
			}
			i++
		}
		if len(miss.Rows) > 0 {
			missGroups = append(missGroups, miss)
		}
	}
	if len(missGroups) > 0 {
		f, err := m.encodePromptGroups(ctx, missGroups)
		if err != nil {
			return nil, err
		}
		scatterRows(out, f.Data, missAt, e)
		for j, k := range missKeys {
			c.store.Put(k, f.Data[j*e:(j+1)*e])
		}
		// Best effort: a folder that cannot be listed only stays larger; it never fails the encoding.
		_ = c.store.Trim()
	}
	return &Features{Shape: []int{n, e}, Data: out}, nil
}

// DefaultTextCacheMaxBytes is a text cache's size bound unless TextCacheOptions.MaxBytes says
// otherwise.
const DefaultTextCacheMaxBytes = embedcache.DefaultMaxBytes
