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

// FileIdentity is the identity of the file at path as it is now, or false when it cannot be
// read. Take it before reading the file: a file changed afterwards then has another identity, so
// a digest of what was read is never remembered for what the file became.
func FileIdentity(path string) ([]byte, bool) {
	abs, err := filepath.Abs(path)
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
	id := []byte(abs)
	for _, n := range []string{strconv.FormatInt(st.Size(), 10), strconv.FormatInt(st.ModTime().UnixNano(), 10), strconv.FormatUint(ino, 10)} {
		id = append(append(id, 0), n...)
	}
	return id, true
}

func identityKey(ids [][]byte) Key {
	return KeyOf(append([][]byte{[]byte("file-identity-v1")}, ids...)...)
}

func (c *Cache) filePath(id Key) string {
	return filepath.Join(c.dir, "files", id.String()+entryExt)
}

// FileDigest returns the digest remembered for the files of identities ids (FileIdentity), or false.
func (c *Cache) FileDigest(ids [][]byte) (Key, bool) {
	if len(ids) == 0 {
		return Key{}, false
	}
	id := identityKey(ids)
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

// RememberFileDigest records d as the digest of the files of identities ids.
func (c *Cache) RememberFileDigest(ids [][]byte, d Key) {
	if len(ids) == 0 || !c.writable() {
		return
	}
	id := identityKey(ids)
	if err := writeAtomic(c.filePath(id), encode(id, d[:])); err != nil {
		c.disable(err)
	}
}
