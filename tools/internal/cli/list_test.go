package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// ParseList and ParseTemplates: a comma list or an @file (one per line, blank lines and # comments
// skipped, commas kept), and one-line errors naming the flag.
func TestParseTemplates(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "templates.txt")
	os.WriteFile(file, []byte("# the peers' two\na photo of a {}, seen at night.\n\n  a {} in the wild.  \n"), 0o644)
	empty := filepath.Join(dir, "empty.txt")
	os.WriteFile(empty, []byte("# nothing\n\n"), 0o644)
	big := filepath.Join(dir, "big.txt")
	os.WriteFile(big, []byte(strings.Repeat("a {}\n", MaxListFileBytes/5+1)), 0o644) // just above the bound

	for _, tc := range []struct {
		v    string
		want []string
	}{
		{"a photo of a {}., a {} at night. ,", []string{"a photo of a {}.", "a {} at night."}},
		{"a {} | the {}", []string{"a {} | the {}"}}, // '|' is no separator
		{"@" + file, []string{"a photo of a {}, seen at night.", "a {} in the wild."}},
	} {
		got, err := ParseTemplates(tc.v)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %q, %v; want %q", tc.v, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ v, want string }{
		{" , ", "no templates"},
		{"@" + empty, "holds no templates"},
		{"@" + filepath.Join(dir, "none.txt"), "no such file"},
		{"@" + dir, "not a regular file"},
		{"@" + big, "file too large"},
		{"a photo", `template "a photo" has no {}`},
	} {
		_, err := ParseTemplates(tc.v)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: err %v, want one line with %q", tc.v, err, tc.want)
		}
	}
	if items, file, err := ParseList("labels", "cat,,dog"); err != nil || file != "" || !slices.Equal(items, []string{"cat", "dog"}) {
		t.Errorf("ParseList: %q %q %v", items, file, err)
	}
}
