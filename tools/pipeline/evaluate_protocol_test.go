package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// main's evaluation flags reach the evaluate job through evalcli: a peer's protocol (-benchmark,
// -protocol, -window-batch) and ProxyCLIP with its VFM (-vfm) give tools/evaluate's report.
func TestEvaluateProtocolAndVFMMatchTool(t *testing.T) {
	weights := tinyWeights(t)
	data := syntheticData(t, 3)
	tool := buildTool(t, "evaluate")
	for _, tc := range []struct {
		name  string
		flags []string
		want  string // in the table
	}{
		{"protocol", []string{"-benchmark", "voc21", "-protocol", "clearclip", "-window-batch", "2"}, "protocol clearclip on voc21"},
		{"vfm", []string{"-methods", "proxyclip,sclip", "-vfm", "../../testdata/dino/models/dinov2_tiny_hf", "-size", "112",
			"-templates", "a photo of a {}."}, "proxyclip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			flags := append([]string{"-data", data, "-weights", weights, "-limit", "3"}, tc.flags...)
			cmd := exec.Command(tool, append(flags, "-quiet", "-json", filepath.Join(out, "tool.json"))...)
			wantTable, err := cmd.Output()
			if err != nil {
				t.Fatalf("tools/evaluate: %v", err)
			}
			var stdout, stderr bytes.Buffer
			if err := runEvaluate(context.Background(), append(flags, "-json", filepath.Join(out, "p.json")), &stdout, &stderr); err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			compareReports(t, read(t, filepath.Join(out, "tool.json")), read(t, filepath.Join(out, "p.json")))
			if a, b := withoutTimings(string(wantTable)), withoutTimings(stdout.String()); a != b || !strings.Contains(b, tc.want) {
				t.Errorf("table differs or lacks %q:\n%s\nwant\n%s", tc.want, b, a)
			}
		})
	}
}
