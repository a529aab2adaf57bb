package clip_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/gomlx_clip/tokenizer"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/clipsurgery/clipsurgery/weights/registry"
)

// Bad-input matrix of package clip through its public API, on the tiny golden ViT-B/16
// (vit16.openai.safetensors, 34 MB). None of these cases compiles an executable: every one is
// refused before the graph runs, so the test stays fast.

var (
	tinyOnce    sync.Once
	tinyTensors map[string]*weights.Tensor
	tinyModel   *clip.Model
	tinyErr     error
)

// tiny returns the golden tiny ViT-B/16's tensors and a model built from them (shared by the tests
// of this file and concurrency_test.go). Callers must not modify the tensors.
func tiny(t *testing.T) (map[string]*weights.Tensor, *clip.Model) {
	t.Helper()
	path := goldens.Path(t, "models", "vit16.openai.safetensors")
	tinyOnce.Do(func() {
		var ck *weights.Checkpoint
		if ck, tinyErr = weights.Read(path); tinyErr != nil {
			return
		}
		tinyTensors = ck.Tensors
		tinyModel, tinyErr = clip.NewModel(ck.Tensors, nil)
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyTensors, tinyModel
}

// without returns a shallow copy of ts with edit applied to a copy of tensor name (or name removed
// when edit is nil).
func without(ts map[string]*weights.Tensor, name string, edit func(*weights.Tensor)) map[string]*weights.Tensor {
	out := make(map[string]*weights.Tensor, len(ts))
	for k, v := range ts {
		out[k] = v
	}
	delete(out, name)
	if edit != nil {
		c := *ts[name]
		edit(&c)
		out[name] = &c
	}
	return out
}

func asInt(dtype string) func(*weights.Tensor) {
	return func(t *weights.Tensor) {
		t.DType, t.I64, t.F32 = dtype, make([]int64, t.Numel()), nil
	}
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one saying %q", parts)
	}
	msg := err.Error()
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q does not say %q", msg, p)
		}
	}
}

func catchPanic(t *testing.T, f func() error) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("panic: %v", p)
		}
	}()
	return f()
}

func TestBadCheckpointTensors(t *testing.T) {
	ts, _ := tiny(t)
	samPath := goldens.Path(t, "sam", "sam_tiny.safetensors")
	sam, err := weights.Read(samPath)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		tensors map[string]*weights.Tensor
		msg     []string
	}{
		{"empty", map[string]*weights.Tensor{}, nil},
		{"SAM checkpoint", sam.Tensors, nil},
		{"I64 conv1", without(ts, "visual.conv1.weight", asInt("I64")), []string{"visual.conv1.weight"}},
		{"U8 ln_final", without(ts, "ln_final.weight", asInt("U8")), []string{"ln_final.weight"}},
		{"missing ln_final", without(ts, "ln_final.weight", nil), []string{"ln_final.weight"}},
		{"missing proj", without(ts, "visual.proj", nil), []string{"visual.proj"}},
		{"mis-shaped text_projection", without(ts, "text_projection", func(x *weights.Tensor) {
			x.Shape = []int{x.Shape[1], x.Shape[0]}
		}), []string{"wrong shape"}}, // the config is read off the shapes: the text tower no longer fits
		{"data shorter than shape", without(ts, "visual.class_embedding", func(x *weights.Tensor) { x.F32 = x.F32[:1] }), []string{"visual.class_embedding", "1 values"}},
		{"extra tensor", func() map[string]*weights.Tensor {
			m := without(ts, "ln_final.bias", func(*weights.Tensor) {})
			m["visual.extra.weight"] = &weights.Tensor{Name: "visual.extra.weight", Shape: []int{1}, DType: "F32", F32: []float32{1}}
			return m
		}(), []string{"visual.extra.weight"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := catchPanic(t, func() error { _, err := clip.NewModel(tc.tensors, nil); return err })
			wantErr(t, err, tc.msg...)
			if strings.Count(err.Error(), "\n") > 40 {
				t.Errorf("error of %d lines", strings.Count(err.Error(), "\n"))
			}
			t.Logf("%.300s", err)
		})
	}
}

func TestBadLoad(t *testing.T) {
	dir := t.TempDir()
	src := goldens.Path(t, "models", "vit16.openai.safetensors")
	full, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.safetensors")
	if err := os.WriteFile(cut, full[:len(full)/3], 0o600); err != nil {
		t.Fatal(err)
	}
	opt := clip.LoadOptions{Offline: true, CacheDir: dir}
	for _, tc := range []struct {
		name, arg string
		msg       []string
		is        error
	}{
		{"unknown name", "ViT-B/17", []string{"ViT-B/17", "CS-ViT-B/16"}, nil},
		{"lower-case name", "vit-b/16", []string{"vit-b/16"}, nil},
		{"missing file", filepath.Join(dir, "nope.pt"), []string{"nope.pt"}, nil},
		{"truncated checkpoint", cut, []string{"cut.safetensors", "truncated"}, nil},
		{"SAM checkpoint", goldens.Path(t, "sam", "sam_tiny.safetensors"), nil, nil},
		{"not cached, offline", "CS-RN101", []string{"RN101.pt", "offline"}, registry.ErrOffline},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := catchPanic(t, func() error {
				m, err := clip.Load(context.Background(), tc.arg, opt)
				if m != nil {
					t.Errorf("model returned with error %v", err)
				}
				return err
			})
			wantErr(t, err, tc.msg...)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
			t.Logf("%.300s", err)
		})
	}
}

func TestBadImageInputs(t *testing.T) {
	_, m := tiny(t)
	px := make([]float32, 3*224*224)
	for _, tc := range []struct {
		name        string
		pix         []float32
		batch, h, w int
		opt         clip.ImageOptions
		msg         string
	}{
		{"side not a multiple of the patch", make([]float32, 3*100*100), 1, 100, 100, clip.SurgeryOptions(), "multiple of"},
		{"width not a multiple", make([]float32, 3*224*230), 1, 224, 230, clip.ImageOptions{}, "multiple of"},
		{"too few pixels", px[:100], 1, 224, 224, clip.ImageOptions{}, "pixel values"},
		{"batch of 2, pixels of 1", px, 2, 224, 224, clip.ImageOptions{}, "pixel values"},
		{"batch 0", nil, 0, 224, 224, clip.ImageOptions{}, "empty"},
		{"negative side", nil, 1, -224, 224, clip.ImageOptions{}, "empty"},
		{"nil pixels", nil, 1, 224, 224, clip.ImageOptions{}, "pixel values"},
		{"unknown attention", px, 1, 224, 224, clip.ImageOptions{Method: clip.MethodSurgery, Attention: "x-y"}, "x-y"},
		{"negative depth", px, 1, 224, 224, clip.ImageOptions{Method: clip.MethodSurgery, Depth: -1}, "-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := catchPanic(t, func() error {
				_, err := m.EncodeImage(tc.pix, tc.batch, tc.h, tc.w, tc.opt)
				return err
			})
			wantErr(t, err, tc.msg)
		})
	}
}

// TestLoadUnknownNameIs: callers should be able to tell an unknown name from other failures.
func TestLoadUnknownNameIs(t *testing.T) {
	_, err := clip.Load(context.Background(), "ViT-B/17", clip.LoadOptions{Offline: true, CacheDir: t.TempDir()})
	if !errors.Is(err, registry.ErrUnknownModel) {
		t.Fatalf("clip.Load(unknown name) = %v, want an error wrapping registry.ErrUnknownModel", err)
	}
}

// TestBadImageSizeOverflow: sides whose product overflows int must not slip past the pixel-count
// check (3·2³²·2³² wraps to 0 = len(nil)).
func TestBadImageSizeOverflow(t *testing.T) {
	_, m := tiny(t)
	err := catchPanic(t, func() error {
		_, err := m.EncodeImage(nil, 1, 1<<32, 1<<32, clip.ImageOptions{})
		return err
	})
	wantErr(t, err)
}

func TestBadTextInputs(t *testing.T) {
	_, m := tiny(t)
	long := strings.Repeat("dog ", 80)
	t.Run("too long", func(t *testing.T) {
		_, err := m.EncodeText([]string{"a cat", long})
		var tl *tokenizer.TooLongError
		if !errors.As(err, &tl) || tl.Index != 1 || tl.ContextLength != 77 {
			t.Fatalf("got %v, want a *tokenizer.TooLongError for text 1", err)
		}
		if msg := err.Error(); len(msg) > 400 || strings.Contains(msg, "\n") {
			t.Errorf("message is not one short line: %q", msg)
		}
	})
	for _, tc := range []struct {
		name string
		run  func() error
		msg  string
	}{
		{"no texts", func() error { _, err := m.EncodeText(nil); return err }, "no texts"},
		{"no classes", func() error { _, err := m.EncodeTextWithPromptEnsemble(nil, nil); return err }, ""},
		{"empty class list", func() error { _, err := m.EncodeTextWithPromptEnsemble([]string{}, nil); return err }, ""},
		{"no templates", func() error { _, err := m.EncodeTextWithPromptEnsemble([]string{"dog"}, []string{}); return err }, ""},
		{"class too long for a template", func() error {
			_, err := m.EncodeTextWithPromptEnsemble([]string{"dog", long}, nil)
			return err
		}, "too long"},
		{"token out of vocabulary", func() error { _, err := m.EncodeTokens([][]int32{{49406, 60000, 49407}}); return err }, "outside the vocabulary"},
		{"negative token", func() error { _, err := m.EncodeTokens([][]int32{{49406, -1, 49407}}); return err }, "outside the vocabulary"},
		{"ragged token rows", func() error { _, err := m.EncodeTokens([][]int32{{49406, 49407}, {49406}}); return err }, "length"},
		{"token row over 77", func() error { _, err := m.EncodeTokens([][]int32{make([]int32, 78)}); return err }, "context length"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := catchPanic(t, tc.run)
			wantErr(t, err, tc.msg)
			t.Logf("%.200s", err)
		})
	}
}

// TestBadTokenRowLengths: EncodeTokenRows documents full-length rows, but a short row from a
// caller must be an error, not a slice-bounds panic.
func TestBadTokenRowLengths(t *testing.T) {
	_, m := tiny(t)
	var err error
	panicked := func() (p any) {
		defer func() { p = recover() }()
		_, err = m.EncodeTokenRows([][]int32{{49406, 1, 2, 3, 4, 5, 6, 7, 8, 49407}, {49406, 49407}})
		return nil
	}()
	if panicked != nil {
		t.Fatalf("EncodeTokenRows panicked on short rows: %v", panicked)
	}
	wantErr(t, err, "context length")
}
