package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
)

func newFlags(c *Checkpoint) *flag.FlagSet {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.AddFlags(fs)
	return fs
}

// Parse: -h prints the usage and the flags; bad flags and stray arguments are one-line errors.
func TestParse(t *testing.T) {
	var c Checkpoint
	var stderr bytes.Buffer
	if err := Parse(newFlags(&c), []string{"-h"}, &stderr, "t -model NAME"); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: err %v", err)
	}
	if out := stderr.String(); !strings.HasPrefix(out, "usage: t -model NAME\n") || !strings.Contains(out, "-weights") {
		t.Fatalf("-h printed %q", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-nosuch"}, "flag provided but not defined: -nosuch (see -h)"},
		{[]string{"-model", "x", "extra"}, `unexpected argument "extra"`},
	} {
		stderr.Reset()
		err := Parse(newFlags(&c), tc.args, &stderr, "t")
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: err %v, want one line with %q", tc.args, err, tc.want)
		}
		if stderr.Len() != 0 {
			t.Errorf("%q: printed %q", tc.args, stderr.String())
		}
	}
	c = Checkpoint{}
	if err := Parse(newFlags(&c), []string{"-weights", "w.pt", "-offline"}, &stderr, "t"); err != nil {
		t.Fatal(err)
	}
	if c.Model != DefaultModel || c.Weights != "w.pt" || !c.Offline {
		t.Fatalf("parsed %+v", c)
	}
}

// Check refuses -model with -weights, and only then.
func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		args []string
		bad  bool
	}{
		{[]string{"-model", "ViT-B/16"}, false},
		{[]string{"-weights", "w.pt"}, false},
		{[]string{"-model", "ViT-B/16", "-weights", "w.pt"}, true},
	} {
		var c Checkpoint
		fs := newFlags(&c)
		if err := Parse(fs, tc.args, nil, "t"); err != nil {
			t.Fatal(err)
		}
		if err := c.Check(fs); (err != nil) != tc.bad {
			t.Errorf("%q: err %v, want error %v", tc.args, err, tc.bad)
		}
	}
}

// Load names a missing -weights file before opening anything.
func TestLoadMissingWeights(t *testing.T) {
	c := Checkpoint{Weights: filepath.Join(t.TempDir(), "none.pt")}
	_, err := c.Load(context.Background(), clip.LoadOptions{})
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "-weights: ") {
		t.Fatalf("err %v", err)
	}
}
