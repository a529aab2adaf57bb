// Package embedcache is a persistent, content-addressed store of float32 vectors on disk, shared by
// concurrent processes: CLIP's prompt embeddings, keyed by the text tower's weights and a prompt's
// token ids (see clip.TextCache for what goes in).
//
// Layout under the folder given to Open:
//
//	v1/ab/abcdef….emb   one entry: magic, key, length, CRC-32C of all before it and the payload
//	files/…             weights digests remembered per checkpoint file identity (path, size, mtime, inode)
//
// Every file is written to a temporary name in its final folder and renamed into place, so a reader
// sees either no entry or a whole one; a checksum guards against anything else (a truncated copy, a
// crash before the data reached the disk, a bad sector): such an entry is reported as missing, and
// the caller recomputes and rewrites it. Entries never change once written (the key is the digest of
// everything the value depends on), so concurrent writers of one key write the same bytes.
//
// Size is bounded: after a process wrote new entries, Trim deletes the least recently used ones
// (oldest modification time; a read refreshes it at most once an hour) until the total is at most
// 90% of MaxBytes.
//
// Nothing here fails the caller: a folder that cannot be created or written disables writing with
// one warning, and reads that fail are misses.
package embedcache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clipsurgery/clipsurgery/internal/safefile"
)

// DefaultMaxBytes bounds the store when Options.MaxBytes is 0: ~32 000 ViT-B/16 prompt embeddings
// (512 floats and a 48-byte frame each), six times the demo's 59 classes × 85 templates.
const DefaultMaxBytes = 64 << 20

// Key names one entry: the SHA-256 of everything its value depends on.
type Key [32]byte

// String is the key in hex, the entry's file name.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Options configure Open. The zero value is usable.
type Options struct {
	// MaxBytes bounds the entries' total size (0 = DefaultMaxBytes).
	MaxBytes int64
	// Warn receives the one warning about a folder that cannot be written (nil = os.Stderr).
	Warn io.Writer
}

// Cache is one handle on a store folder. It is safe for concurrent use, and any number of
// processes may use the same folder at once.
type Cache struct {
	dir string
	opt Options

	mu       sync.Mutex
	readOnly bool // writing failed once: warned, no more writes
	wrote    bool // entries written since the last Trim
}

// Open returns a handle on the store in dir. It creates nothing until the first write.
func Open(dir string, opt Options) *Cache {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	if opt.Warn == nil {
		opt.Warn = os.Stderr
	}
	return &Cache{dir: dir, opt: opt}
}

// Dir is the store's folder.
func (c *Cache) Dir() string { return c.dir }

const (
	version   = "v1"
	entryExt  = ".emb"
	magic     = "CSEMB001" // 8 bytes: format of an entry file
	headerLen = len(magic) + len(Key{}) + 4
	trailLen  = 4 // CRC-32C
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (c *Cache) entryPath(k Key) string {
	s := k.String()
	return filepath.Join(c.dir, version, s[:2], s+entryExt)
}

// Get returns the vector stored under k, or false when there is none or it is damaged (wrong
// magic, key, length or checksum: such a file is removed so that the next Put replaces it).
func (c *Cache) Get(k Key) ([]float32, bool) {
	p := c.entryPath(k)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, false
	}
	payload, ok := decode(data, k)
	v, isVec := bytesFloat32(payload)
	if !ok || !isVec {
		os.Remove(p) // best effort; an unwritable folder keeps it and every read misses
		return nil, false
	}
	if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > touchAfter {
		now := time.Now()
		os.Chtimes(p, now, now) // LRU clock; failure only makes eviction less precise
	}
	return v, true
}

// touchAfter limits the refreshes of an entry's modification time (the LRU clock) to one an hour,
// so a warm run does not write thousands of inodes.
const touchAfter = time.Hour

// Put stores v under k (a no-op when writing is disabled). The file appears whole or not at all.
func (c *Cache) Put(k Key, v []float32) {
	if !c.writable() {
		return
	}
	p := c.entryPath(k)
	if err := writeAtomic(p, encode(k, float32Bytes(v))); err != nil {
		c.disable(err)
		return
	}
	c.mu.Lock()
	c.wrote = true
	c.mu.Unlock()
}

func (c *Cache) writable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.readOnly
}

// disable turns writing off after the first failure, saying so once.
func (c *Cache) disable(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readOnly {
		c.readOnly = true
		fmt.Fprintf(c.opt.Warn, "warning: text-embedding cache %s cannot be written, continuing without storing: %v\n", c.dir, err)
	}
}

// encode lays out one entry file: magic, key, payload length, payload, CRC-32C of all before it.
func encode(k Key, payload []byte) []byte {
	b := make([]byte, headerLen, headerLen+len(payload)+trailLen)
	copy(b, magic)
	copy(b[len(magic):], k[:])
	binary.LittleEndian.PutUint32(b[len(magic)+len(k):], uint32(len(payload)))
	b = append(b, payload...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decode returns the payload of an entry file written by encode for key k, or false.
func decode(b []byte, k Key) ([]byte, bool) {
	if len(b) < headerLen+trailLen || string(b[:len(magic)]) != magic || string(b[len(magic):len(magic)+len(k)]) != string(k[:]) {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint32(b[len(magic)+len(k):]))
	if len(b) != headerLen+n+trailLen {
		return nil, false
	}
	body := b[:len(b)-trailLen]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(body):]) {
		return nil, false
	}
	return body[headerLen:], true
}

func float32Bytes(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func bytesFloat32(b []byte) ([]float32, bool) {
	if len(b)%4 != 0 {
		return nil, false
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, true
}

// writeAtomic writes data to a temporary file beside path and renames it over path (mode 0644:
// the cache is shared like the checkpoints). The temporary files are named ".tmp-*": one a killed
// writer left is counted by entries once a minute old, so Trim evicts it.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tempInDir := func(string) (*os.File, error) { return os.CreateTemp(dir, ".tmp-*") }
	return safefile.Atomic{Create: tempInDir}.Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Stats describe the store.
type Stats struct {
	Dir     string
	Entries int
	Bytes   int64
}

// Stats counts the entries and their bytes.
func (c *Cache) Stats() (Stats, error) {
	files, err := c.entries()
	s := Stats{Dir: c.dir, Entries: len(files)}
	for _, f := range files {
		s.Bytes += f.size
	}
	return s, err
}

type entryFile struct {
	path string
	size int64
	mod  time.Time
}

// entries lists the entry files (leftover temporary files older than a minute included, so that
// a crashed writer's debris is trimmed and cleared too).
func (c *Cache) entries() ([]entryFile, error) {
	var out []entryFile
	root := filepath.Join(c.dir, version)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile by another process
		}
		stale := strings.HasPrefix(d.Name(), ".tmp-") && time.Since(info.ModTime()) > time.Minute
		if strings.HasSuffix(d.Name(), entryExt) || stale {
			out = append(out, entryFile{p, info.Size(), info.ModTime()})
		}
		return nil
	})
	return out, err
}

// Trim evicts the least recently used entries until the total is at most 90% of MaxBytes, if
// entries were written through this handle since the last Trim (otherwise nothing grew).
func (c *Cache) Trim() error {
	c.mu.Lock()
	wrote := c.wrote
	c.wrote = false
	c.mu.Unlock()
	if !wrote {
		return nil
	}
	files, err := c.entries()
	if err != nil {
		return err
	}
	var total int64
	for _, f := range files {
		total += f.size
	}
	if total <= c.opt.MaxBytes {
		return nil
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.Before(files[j].mod) })
	for _, f := range files {
		if total <= c.opt.MaxBytes*9/10 {
			break
		}
		if err := os.Remove(f.path); err == nil || errors.Is(err, fs.ErrNotExist) {
			total -= f.size
		}
	}
	return nil
}

// Clear deletes every entry and remembered file digest.
func (c *Cache) Clear() error {
	return errors.Join(os.RemoveAll(filepath.Join(c.dir, version)), os.RemoveAll(filepath.Join(c.dir, "files")))
}

// KeyOf is the key of a value that depends on the given parts (each length-prefixed, so that no
// two part lists collide).
func KeyOf(parts ...[]byte) Key {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.LittleEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	var k Key
	h.Sum(k[:0])
	return k
}
