package weights_test

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/weights"
)

// Bad-input matrix of the checkpoint readers, through the public API. Small files are generated
// here (a valid safetensors written with WriteSafetensors, then cut or corrupted); the golden
// TorchScript CLIP is truncated when the golden folder is present.

func safetensorsBytes(t *testing.T, header string, data []byte) []byte {
	t.Helper()
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func validSafetensors(t *testing.T, dir string) []byte {
	t.Helper()
	p := filepath.Join(dir, "valid.safetensors")
	err := weights.WriteSafetensors(p, []*weights.Tensor{
		{Name: "a", Shape: []int{2, 3}, F32: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "b", Shape: []int{4}, F32: []float32{7, 8, 9, 10}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBadCheckpoints(t *testing.T) {
	dir := t.TempDir()
	valid := validSafetensors(t, dir)
	headerLen := int(binary.LittleEndian.Uint64(valid))
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	w, _ := zw.Create("archive/other.txt")
	w.Write([]byte("hello"))
	zw.Close()

	cases := []struct {
		name string
		data []byte // nil: the file is not created
		msg  []string
	}{
		{"missing", nil, []string{"no such file"}},
		{"empty", []byte{}, []string{"too short for a checkpoint"}},
		{"three bytes", []byte("abc"), []string{"too short for a checkpoint"}},
		{"header length only", valid[:8], []string{"exceeds the file size", "truncated"}},
		{"cut in the header", valid[:8+headerLen/2], []string{"exceeds the file size", "truncated"}},
		{"cut in the data", valid[:len(valid)-5], []string{`tensor "b"`, "outside the data area", "truncated"}},
		{"huge header length", binary.LittleEndian.AppendUint64(nil, 1<<40), []string{"exceeds", "limit"}},
		{"text file", []byte("# not a checkpoint, just text\n"), []string{"header length", "not a safetensors file"}},
		{"header not JSON", safetensorsBytes(t, "{not json}", nil), []string{"header"}},
		{"unknown dtype", safetensorsBytes(t, `{"x":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}`, []byte{0}), []string{`unknown dtype "Q4"`}},
		{"negative shape", safetensorsBytes(t, `{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, make([]byte, 4)), []string{`tensor "x"`}},
		{"shape/offset mismatch", safetensorsBytes(t, `{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, make([]byte, 8)), []string{"needs 3 elements"}},
		{"duplicate tensor", safetensorsBytes(t, `{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}), []string{"x"}},
		{"legacy torch pickle", []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc}, []string{"legacy", "not supported"}},
		{"zip without data.pkl", zipped.Bytes(), []string{"no data.pkl", "not a PyTorch checkpoint"}},
		{"zip cut", zipped.Bytes()[:len(zipped.Bytes())-10], []string{"not a readable zip archive"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.NewReplacer(" ", "_", "/", "_").Replace(tc.name)+".pt")
			if tc.data != nil {
				if err := os.WriteFile(p, tc.data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := weights.Read(p)
			if err == nil || c != nil {
				t.Fatalf("no error (checkpoint %v)", c != nil)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "weights: ") || strings.Contains(msg, "\n") {
				t.Errorf("error is not one line starting with the package: %q", msg)
			}
			if tc.data != nil && !strings.Contains(msg, p) {
				t.Errorf("error does not name the file: %q", msg)
			}
			for _, m := range tc.msg {
				if !strings.Contains(msg, m) {
					t.Errorf("error %q does not say %q", msg, m)
				}
			}
			if tc.data == nil && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("missing file: %v is not fs.ErrNotExist", err)
			}
		})
	}
	if _, err := weights.ParseSafetensors(valid); err != nil {
		t.Fatalf("the uncut file must parse: %v", err)
	}
}

// TestTruncatedGoldenCheckpoints cuts the real tiny CLIP checkpoints (TorchScript zip and
// safetensors) at several points: every cut is an error naming the file, never a panic.
func TestTruncatedGoldenCheckpoints(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"vit16.openai.jit.pt", "vit16.openai.safetensors"} {
		full, err := os.ReadFile(goldens.Path(t, "models", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, frac := range []float64{0.001, 0.5, 0.999} {
			cut := int(float64(len(full)) * frac)
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, full[:cut], 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := weights.Read(p)
			if err == nil || c != nil || !strings.Contains(err.Error(), p) {
				t.Errorf("%s cut at %d of %d bytes: %v", name, cut, len(full), err)
				continue
			}
			t.Logf("%s cut at %.1f%%: %v", name, 100*frac, err)
		}
	}
}
