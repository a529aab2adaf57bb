package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/tools/internal/cli"
	"github.com/clipsurgery/clipsurgery/weights"
)

// Bad files given to the command (main_test.go's TestCLIBadInput covers bad flags): each ends the
// command with an error whose printed message (cli.OneLine) is one line naming the problem, and
// nothing is written to -out. None of these reaches the image encoder.

// pngClaiming is a PNG header claiming w×h RGB pixels (a decompression bomb's header).
func pngClaiming(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := append(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, w), h), 8, 2, 0, 0, 0)
	c := append([]byte("IHDR"), ihdr...)
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	b.Write(c)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(c))
	return b.Bytes()
}

func TestCLIBadFiles(t *testing.T) {
	dir := t.TempDir()
	src := demoPNG(t, dir)
	good, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	w := tinyWeights(t)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bomb := write("bomb.png", pngClaiming(20000, 20000))
	cut := write("cut.png", good[:len(good)/2])
	empty := write("empty.png", nil)
	text := write("notes.jpg", []byte("not an image at all\n"))
	full, err := os.ReadFile(w)
	if err != nil {
		t.Fatal(err)
	}
	cutW := write("cut.safetensors", full[:len(full)/2])
	ck, err := weights.Read(w)
	if err != nil {
		t.Fatal(err)
	}
	ints := []*weights.Tensor{}
	for _, name := range ck.Names() {
		x := ck.Tensors[name]
		if name == "ln_final.weight" {
			x = &weights.Tensor{Name: name, Shape: x.Shape, DType: "I64", I64: make([]int64, x.Numel())}
		}
		ints = append(ints, x)
	}
	intW := filepath.Join(dir, "int.safetensors")
	if err := weights.WriteSafetensors(intW, ints, nil); err != nil {
		t.Fatal(err)
	}
	onlyBad := t.TempDir()
	os.WriteFile(filepath.Join(onlyBad, "a.png"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(onlyBad, "b.jpg"), nil, 0o644)
	outFile := write("out-is-a-file", []byte("x"))

	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"20000x20000 PNG header", []string{"-image", bomb, "-text", "dog", "-weights", w}, []string{"bomb.png", "too large", "MaxPixels"}},
		{"truncated PNG", []string{"-image", cut, "-text", "dog", "-weights", w}, []string{"cut.png", "truncated"}},
		{"empty image file", []string{"-image", empty, "-text", "dog", "-weights", w}, []string{"empty.png", "empty"}},
		{"text file named .jpg", []string{"-image", text, "-text", "dog", "-weights", w}, []string{"notes.jpg", "unknown image format"}},
		{"folder of bad images", []string{"-image", onlyBad, "-text", "dog", "-weights", w}, []string{"2 of 2 images failed"}},
		{"truncated checkpoint", []string{"-image", src, "-text", "dog", "-weights", cutW}, []string{"cut.safetensors", "truncated"}},
		{"SAM checkpoint", []string{"-image", src, "-text", "dog", "-weights", goldens.Path(t, "sam", "sam_tiny.safetensors")}, []string{"sam_tiny.safetensors"}},
		{"integer tensor", []string{"-image", src, "-text", "dog", "-weights", intW}, []string{"ln_final.weight", "not a float tensor"}},
		{"image as checkpoint", []string{"-image", src, "-text", "dog", "-weights", src}, []string{"demo.png"}},
		{"duplicated labels", []string{"-image", src, "-text", "dog", "-labels", "dog,cat,dog", "-weights", w}, []string{"appears twice"}},
		{"out is a file", []string{"-image", src, "-text", "dog", "-weights", w, "-out", outFile}, []string{"output folder"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := t.TempDir()
			args := c.args
			if !strings.Contains(strings.Join(args, " "), "-out ") {
				args = append(args, "-out", out)
			}
			_, _, err := runCLI(t, args...)
			if err == nil {
				t.Fatal("no error")
			}
			msg := cli.OneLine(err.Error())
			for _, want := range c.want {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not say %q", msg, want)
				}
			}
			if strings.ContainsAny(msg, "\n\r") || len(msg) > 1000 {
				t.Errorf("message is not one short line (%d bytes): %q", len(msg), msg)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("%d files written on error", len(entries))
			}
			t.Logf("%.300s", msg)
		})
	}
}
