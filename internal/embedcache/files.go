package embedcache

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// A weights digest costs a pass over hundreds of megabytes; FileDigest and RememberFileDigest keep
// it per checkpoint file identity instead, so that a load of an unchanged file does not hash again.
// The identity is what changes when a file is replaced or rewritten: its absolute path, size,
// modification time (ns) and inode. Several files (a checkpoint and the one completing its text
// tower) form one identity.

// fileIdentity is the identity of paths, or false when one cannot be read.
func fileIdentity(paths []string) ([][]byte, bool) {
	parts := [][]byte{[]byte("file-identity-v1")}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, false
		}
		st, err := os.Stat(abs)
		if err != nil || !st.Mode().IsRegular() {
			return nil, false
		}
		var ino uint64
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			ino = uint64(sys.Ino)
		}
		parts = append(parts, []byte(abs), []byte(strconv.FormatInt(st.Size(), 10)),
			[]byte(strconv.FormatInt(st.ModTime().UnixNano(), 10)), []byte(strconv.FormatUint(ino, 10)))
	}
	return parts, true
}

func (c *Cache) filePath(id Key) string {
	return filepath.Join(c.dir, "files", id.String()+entryExt)
}

// FileDigest returns the digest remembered for the files at paths as they are now, or false.
func (c *Cache) FileDigest(paths []string) (Key, bool) {
	parts, ok := fileIdentity(paths)
	if !ok {
		return Key{}, false
	}
	id := KeyOf(parts...)
	data, err := os.ReadFile(c.filePath(id))
	if err != nil {
		return Key{}, false
	}
	payload, ok := decode(data, id)
	if !ok || len(payload) != len(Key{}) {
		return Key{}, false
	}
	return Key(payload), true
}

// RememberFileDigest records d as the digest of the files at paths (as they are now).
func (c *Cache) RememberFileDigest(paths []string, d Key) {
	parts, ok := fileIdentity(paths)
	if !ok || !c.writable() {
		return
	}
	id := KeyOf(parts...)
	if err := writeAtomic(c.filePath(id), encode(id, d[:])); err != nil {
		c.disable(err)
	}
}
