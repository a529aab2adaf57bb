package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/surgery"
	"github.com/clipsurgery/clipsurgery/surgery/evaluate"
)

func synthetic(t *testing.T, layout evaluate.Layout) string {
	t.Helper()
	dir := t.TempDir()
	if err := evaluate.WriteSynthetic(dir, layout, 3); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestEvaluateCommand(t *testing.T) {
	weights := goldens.Path(t, "models", "vit16.openai.safetensors")
	data := synthetic(t, evaluate.LayoutVOC)
	out := t.TempDir()
	jsonOut, csvOut := filepath.Join(out, "r.json"), filepath.Join(out, "r.csv")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-data", data, "-weights", weights, "-methods", "surgery,raw",
		"-templates", "a photo of a {}.", "-limit", "2", "-json", jsonOut, "-csv", csvOut}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "2 of 2 images evaluated") || !strings.Contains(stdout.String(), "surgery") ||
		!strings.Contains(stdout.String(), "raw") || !strings.Contains(stderr.String(), "ETA") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	var rep struct {
		Evaluated int
		Methods   []struct{ Method string }
	}
	data2, _ := os.ReadFile(jsonOut)
	if err := json.Unmarshal(data2, &rep); err != nil || rep.Evaluated != 2 || len(rep.Methods) != 2 ||
		rep.Methods[1].Method != "raw" {
		t.Errorf("JSON %v: %s", err, data2)
	}
	f, _ := os.Open(csvOut)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) != 1+2*len(evaluate.SyntheticClasses()) {
		t.Errorf("CSV: %d rows, %v", len(rows), err)
	}
}

// -slide: the table and the JSON say slide mode, the window side and the stride; without it the
// table says the whole image is resized.
func TestEvaluateCommandSlide(t *testing.T) {
	weights := goldens.Path(t, "models", "vit16.openai.safetensors")
	data := synthetic(t, evaluate.LayoutGeneric)
	jsonOut := filepath.Join(t.TempDir(), "r.json")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-data", data, "-weights", weights, "-methods", "sclip",
		"-templates", "a photo of a {}.", "-slide", "-size", "64", "-stride", "48", "-json", jsonOut, "-quiet"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "inference: slide mode, 64×64 windows, stride 48 px") {
		t.Errorf("table header:\n%s", stdout.String())
	}
	var rep struct {
		Slide        bool
		Size, Stride int
	}
	js, _ := os.ReadFile(jsonOut)
	if err := json.Unmarshal(js, &rep); err != nil || !rep.Slide || rep.Size != 64 || rep.Stride != 48 {
		t.Errorf("JSON %v: %+v", err, rep)
	}
	stdout.Reset()
	if err := run(context.Background(), []string{"-data", data, "-weights", weights, "-methods", "sclip",
		"-templates", "a photo of a {}.", "-limit", "1", "-quiet"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "inference: whole image resized to 224×224") {
		t.Errorf("table header without -slide:\n%s", stdout.String())
	}
}

// -protocol: a peer's preset on a benchmark; the header and the JSON carry every value.
func TestEvaluateCommandProtocol(t *testing.T) {
	weights := goldens.Path(t, "models", "vit16.openai.safetensors")
	data := synthetic(t, evaluate.LayoutVOC)
	jsonOut := filepath.Join(t.TempDir(), "r.json")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-data", data, "-weights", weights, "-benchmark", "voc21",
		"-protocol", "clearclip", "-window-batch", "1", "-limit", "1", "-json", jsonOut, "-quiet"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	for _, s := range []string{"protocol clearclip on voc21", "windows         448 px, stride 224", "prob_thd        0.5",
		"classes         clearclip/cls_voc21.txt", "mc-lan/ClearCLIP@ad68a404 configs/cfg_voc21.py", "1 of 1 images"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, stdout.String())
		}
	}
	var rep struct {
		Protocol struct {
			Peer    string  `json:"peer"`
			ProbThd float64 `json:"prob_thd"`
			Config  string  `json:"config"`
		} `json:"protocol"`
		Methods []struct{ Method string }
	}
	js, _ := os.ReadFile(jsonOut)
	if err := json.Unmarshal(js, &rep); err != nil || rep.Protocol.Peer != "clearclip" || rep.Protocol.ProbThd != 0.5 ||
		!strings.Contains(rep.Protocol.Config, "cfg_voc21.py") || len(rep.Methods) != 1 || rep.Methods[0].Method != "clearclip" {
		t.Errorf("JSON %v: %s", err, js)
	}
}

// Bad command lines and datasets end with a one-line error naming the problem; nothing is written.
func TestEvaluateCommandBadInput(t *testing.T) {
	weights := goldens.Path(t, "models", "vit16.openai.safetensors")
	voc := synthetic(t, evaluate.LayoutVOC)
	emptySplit := synthetic(t, evaluate.LayoutVOC)
	os.WriteFile(filepath.Join(emptySplit, "ImageSets", "Segmentation", "val.txt"), nil, 0o644)
	out := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no data", []string{}, "-data is required"},
		{"unknown method", []string{"-data", voc, "-methods", "surgery,sclipp"}, `unknown method "sclipp"`},
		{"empty split file", []string{"-data", emptySplit}, "val.txt lists no image"},
		{"missing split", []string{"-data", voc, "-split", "train"}, "train.txt"},
		{"bad layout", []string{"-data", voc, "-layout", "coco"}, `unknown layout "coco"`},
		{"missing class file", []string{"-data", voc, "-classes", filepath.Join(out, "none.txt")}, "none.txt"},
		{"output folder missing", []string{"-data", voc, "-json", filepath.Join(out, "no", "r.json")}, "does not exist"},
		{"missing weights", []string{"-data", voc, "-weights", filepath.Join(out, "w.safetensors")}, "-weights"},
		{"bad threshold grid", []string{"-data", voc, "-explain-thresholds", "0.5,x"}, `"x" is not a number`},
		{"stray argument", []string{"-data", voc, "extra"}, `unexpected argument "extra"`},
		{"stride without slide", []string{"-data", voc, "-stride", "64"}, "-stride needs -slide"},
		{"zero stride", []string{"-data", voc, "-slide", "-stride", "0"}, "-stride 0"},
		{"negative stride", []string{"-data", voc, "-slide", "-stride", "-8"}, "-stride -8"},
		{"zero size", []string{"-data", voc, "-slide", "-size", "0"}, "-size 0"},
		{"size above the maximum", []string{"-data", voc, "-size", "4096"}, "use -slide"},
		{"stride above the window", []string{"-data", voc, "-weights", weights, "-templates", "a photo of a {}.",
			"-slide", "-size", "64", "-stride", "65"}, "stride 65"},
		{"unknown protocol", []string{"-data", voc, "-protocol", "maskclip"}, `-protocol "maskclip"`},
		{"protocol and methods", []string{"-data", voc, "-protocol", "sclip", "-methods", "raw"}, "-methods: -protocol sclip sets it"},
		{"protocol and prob-thd", []string{"-data", voc, "-protocol", "naclip", "-prob-thd", "0.2"}, "-prob-thd"},
		{"window batch without protocol", []string{"-data", voc, "-window-batch", "4"}, "-window-batch"},
		{"protocol without benchmark", []string{"-data", synthetic(t, evaluate.LayoutGeneric), "-protocol", "sclip"}, "not opened as a benchmark"},
		{"protocol, benchmark detected twice", []string{"-data", voc, "-protocol", "sclip"}, "-benchmark"},
		{"size not a patch multiple", []string{"-data", voc, "-weights", weights, "-templates", "a photo of a {}.",
			"-slide", "-size", "100"}, "input size 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %v, want one line containing %q", err, tc.want)
			}
			if stdout.Len() > 0 {
				t.Errorf("table printed on error:\n%s", stdout.String())
			}
		})
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("files written on error: %v", entries)
	}
}

// -templates has clipsurgery's syntax (tools/internal/cli): a comma list or an @file, one per
// line; not given = the reference's 85 (nil); a template without {} is refused.
func TestEvaluateTemplatesFlag(t *testing.T) {
	file := filepath.Join(t.TempDir(), "templates.txt")
	os.WriteFile(file, []byte("# one with a comma\na {}, at night.\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, nil},
		{[]string{"-templates", "a photo of a {}.,the {}."}, []string{"a photo of a {}.", "the {}."}},
		{[]string{"-templates", "@" + file}, []string{"a {}, at night."}},
	} {
		c, err := parseArgs(append([]string{"-data", "d"}, tc.args...), io.Discard)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
		} else if !slices.Equal(c.Run.Model.Templates, tc.want) {
			t.Errorf("%q: templates %q, want %q", tc.args, c.Run.Model.Templates, tc.want)
		}
	}
	for _, v := range []string{"a photo", ""} {
		if _, err := parseArgs([]string{"-data", "d", "-templates", v}, io.Discard); err == nil || !strings.Contains(err.Error(), "-templates") {
			t.Errorf("-templates %q: err %v", v, err)
		}
	}
}

// Ctrl-C: the command ends with context.Canceled (main exits 130) and writes no file.
func TestEvaluateCommandInterrupted(t *testing.T) {
	weights := goldens.Path(t, "models", "vit16.openai.safetensors")
	data := synthetic(t, evaluate.LayoutGeneric)
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"-data", data, "-weights", weights, "-templates", "a photo of a {}.",
		"-json", filepath.Join(out, "r.json"), "-csv", filepath.Join(out, "r.csv")}, &stdout, &stderr)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("files written after Ctrl-C: %v", entries)
	}
}

// -templates auto: FLOSS's choice on the evaluated images, as the library makes it, drives the
// evaluation (other predictions than the default templates'); several methods are refused in one
// line.
func TestEvaluateTemplatesAuto(t *testing.T) {
	weights := goldens.Path(t, "models", "vit16.openai.safetensors")
	data := synthetic(t, evaluate.LayoutVOC)
	areas := func(args ...string) []int64 {
		out := filepath.Join(t.TempDir(), "r.json")
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"-data", data, "-weights", weights, "-limit", "2", "-quiet",
			"-methods", "naclip", "-json", out}, args...), &stdout, &stderr)
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr.String())
		}
		var rep struct {
			Methods []struct {
				AreaPred []int64 `json:"area_pred"`
			}
		}
		raw, _ := os.ReadFile(out)
		if err := json.Unmarshal(raw, &rep); err != nil || len(rep.Methods) != 1 {
			t.Fatalf("%v: JSON %v: %s", args, err, raw)
		}
		return rep.Methods[0].AreaPred
	}
	auto, plain := areas("-templates", "auto"), areas()

	m, err := clip.Load(context.Background(), weights, clip.LoadOptions{Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := surgery.NewExplainer(m)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := evaluate.Open(data, evaluate.DatasetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	var nameClass []int
	for i, c := range ds.Classes {
		for _, n := range c.Names {
			names, nameClass = append(names, n), append(nameClass, i)
		}
	}
	var images []*imageprep.Pixels
	for _, it := range ds.Items[:2] {
		pix, _, err := ds.Load(it)
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, pix)
	}
	sel, err := surgery.SelectTemplates(context.Background(), ex, images, surgery.SelectOptions{
		Options: surgery.Options{Labels: names, Method: clip.MethodNACLIP}, LabelClass: nameClass})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := evaluate.Run(context.Background(), ex, ds, evaluate.Config{Methods: []clip.Method{clip.MethodNACLIP}, Limit: 2,
		Model: evaluate.ModelOptions{ClassTemplates: sel.ClassTemplates()}})
	if err != nil {
		t.Fatal(err)
	}
	if want := rep.Methods[0].Areas.Pred; !slices.Equal(auto, want) || slices.Equal(auto, plain) {
		t.Errorf("predicted areas: -templates auto %v, library with the selection %v, default templates %v", auto, want, plain)
	}

	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"-data", data, "-weights", weights, "-templates", "auto", "-methods", "surgery,raw"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "single -methods") || strings.Contains(err.Error(), "\n") {
		t.Errorf("two methods with -templates auto: %v", err)
	}
}
