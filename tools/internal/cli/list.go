package cli

import (
	"fmt"
	"strings"

	"github.com/clipsurgery/clipsurgery/internal/safefile"
)

// MaxListFileBytes bounds the @file of a list flag (-labels, -templates; read whole): 1 MiB holds
// surgery.DefaultMaxLabels labels of 256 bytes each.
const MaxListFileBytes = 1 << 20

// ParseList reads the value of the list flag -name, the one syntax of every list flag of the
// commands: "a,b,c" or "@file" (one item per line, blank lines and lines starting with # skipped:
// the form for items holding a comma), items trimmed and empty ones dropped. The file must be a
// regular file of at most MaxListFileBytes; file is its path ("" for a comma list).
func ParseList(name, v string) (items []string, file string, err error) {
	path, fromFile := strings.CutPrefix(v, "@")
	if !fromFile {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		return items, "", nil
	}
	data, err := safefile.ReadFile(path, MaxListFileBytes)
	if err != nil {
		return nil, path, fmt.Errorf("-%s: %w", name, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			items = append(items, line)
		}
	}
	return items, path, nil
}

// TemplatesUsage is the help text of every command's -templates flag (read with ParseTemplates).
const TemplatesUsage = "prompt templates, {} = the class: comma list or @file (one per line, # comments); default the reference's 85"

// ParseTemplates reads "-templates a,b" or "-templates @file" (ParseList; the file form for
// templates holding a comma). Every template needs the "{}" that the class name replaces.
func ParseTemplates(v string) ([]string, error) {
	items, file, err := ParseList("templates", v)
	switch {
	case err != nil:
		return nil, err
	case len(items) == 0 && file != "":
		return nil, fmt.Errorf("-templates: %s holds no templates", file)
	case len(items) == 0:
		return nil, fmt.Errorf("-templates %q: no templates", v)
	}
	for _, t := range items {
		if !strings.Contains(t, "{}") {
			return nil, fmt.Errorf("-templates: template %q has no {} where the class name goes", t)
		}
	}
	return items, nil
}
