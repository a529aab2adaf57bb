package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSAMRegistry(t *testing.T) {
	names := SAMNames()
	if strings.Join(names, ",") != "sam_vit_b,sam_vit_l,sam_vit_h" {
		t.Fatalf("SAMNames() = %v", names)
	}
	for _, n := range append(names, "vit_b", "default") {
		c, err := LookupSAM(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.validate(); err != nil {
			t.Errorf("%s: %v", n, err)
		}
		if c.URL != "https://dl.fbaipublicfiles.com/segment_anything/"+c.File {
			t.Errorf("%s: URL %s does not end in its file %s", n, c.URL, c.File)
		}
		// The file name carries the first six MD5 digits: a transcription check of both.
		want := "sam_" + c.Variant + "_" + c.MD5[:6] + ".pth"
		if c.File != want || !isHex(c.MD5, 32) || strings.ToLower(c.SHA256) != c.SHA256 || c.Size <= 0 {
			t.Errorf("%s: inconsistent entry %+v", n, c)
		}
	}
	if c, _ := LookupSAM("default"); c.Variant != "vit_h" {
		t.Errorf("default is %s, upstream's default is vit_h", c.Variant)
	}
	if _, err := LookupSAM("sam_vit_x"); !errors.Is(err, ErrUnknownModel) || !strings.Contains(err.Error(), "sam_vit_b") {
		t.Errorf("unknown name: %v", err)
	}
}

// Offline, a SAM checkpoint is served from the cache only when its SHA-256 matches, and the error
// otherwise names the file to place.
func TestSAMFetchOffline(t *testing.T) {
	c, err := LookupSAM("sam_vit_b")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err = Fetch(context.Background(), c.Model, Options{CacheDir: dir, Offline: true})
	if err == nil || !strings.Contains(err.Error(), c.File) {
		t.Fatalf("missing file offline: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, c.File), []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Fetch(context.Background(), c.Model, Options{CacheDir: dir, Offline: true}); err == nil {
		t.Fatal("a cached file with the wrong SHA-256 was accepted")
	}
}
