package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFetchAsset(t *testing.T) {
	t.Parallel()
	data, _ := fixture(20<<10, 40)
	fs := &fixtureServer{data: data}
	srv, _ := start(t, fs, "unused")
	dir := t.TempDir()
	url := srv.URL + "/img.png"
	refuse := errors.New("not an image")
	for _, tc := range []struct {
		name  string
		a     Asset
		fails bool
	}{
		{"too large", Asset{File: "a.png", URL: url, MaxBytes: 10 << 10}, true},
		{"check fails", Asset{File: "b.png", URL: url, Check: func(string) error { return refuse }}, true},
		{"accepted", Asset{File: "c.png", URL: url, MaxBytes: 20 << 10, Check: func(p string) error {
			if st, err := os.Stat(p); err != nil || st.Size() != int64(len(data)) {
				return errors.New("checked before complete")
			}
			return nil
		}}, false},
		{"bad name", Asset{File: "../x.png", URL: url}, true},
	} {
		p, err := FetchAsset(context.Background(), tc.a, dir, Options{})
		if tc.fails {
			if err == nil || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: %q, %v", tc.name, p, err)
			}
			mustNotExist(t, filepath.Join(dir, tc.a.File), filepath.Join(dir, tc.a.File+".partial"))
			continue
		}
		if err != nil || p != filepath.Join(dir, "c.png") {
			t.Fatalf("%s: %q, %v", tc.name, p, err)
		}
		mustContain(t, p, data)
	}
	before := fs.gets.Load()
	if p, err := FetchAsset(context.Background(), Asset{File: "c.png", URL: url}, dir, Options{Offline: true}); err != nil || fs.gets.Load() != before {
		t.Errorf("cached asset offline: %q, %v", p, err)
	}
	if _, err := FetchAsset(context.Background(), Asset{File: "d.png", URL: url}, dir, Options{Offline: true}); !errors.Is(err, ErrOffline) {
		t.Errorf("offline miss: %v", err)
	}
}
