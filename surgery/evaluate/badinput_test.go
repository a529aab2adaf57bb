package evaluate

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
)

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Each case damages one item of a synthetic generic dataset; LoadItem must refuse it with an error
// that names the file and matches the sentinel.
func TestLoadItemBadInput(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, it Item)
		want   error // nil: any error
		file   func(it Item) string
	}{
		{"missing mask", func(t *testing.T, it Item) { os.Remove(it.Mask) }, ErrMask, func(it Item) string { return it.Mask }},
		{"unreadable mask", func(t *testing.T, it Item) { os.WriteFile(it.Mask, []byte("not a png"), 0o644) },
			ErrMask, func(it Item) string { return it.Mask }},
		{"mask size differs", func(t *testing.T, it Item) {
			writePNG(t, it.Mask, image.NewGray(image.Rect(0, 0, 7, 5)))
		}, ErrMaskSize, func(it Item) string { return it.Mask }},
		{"label outside the class list", func(t *testing.T, it Item) {
			lab, _ := ReadMask(it.Mask, 4)
			lab.Pix[len(lab.Pix)/2] = 9
			writePNG(t, it.Mask, &image.Gray{Pix: lab.Pix, Stride: lab.W, Rect: image.Rect(0, 0, lab.W, lab.H)})
		}, ErrLabelRange, func(it Item) string { return it.Mask }},
		{"RGB mask", func(t *testing.T, it Item) {
			lab, _ := ReadMask(it.Mask, 4)
			rgb := image.NewRGBA(image.Rect(0, 0, lab.W, lab.H))
			for i, v := range lab.Pix {
				rgb.Set(i%lab.W, i/lab.W, color.RGBA{v * 60, 0, 0, 255})
			}
			writePNG(t, it.Mask, rgb)
		}, ErrNotIndexMask, func(it Item) string { return it.Mask }},
		{"unreadable image", func(t *testing.T, it Item) { os.WriteFile(it.Image, []byte{0x89, 'P', 'N', 'G'}, 0o644) },
			nil, func(it Item) string { return it.Image }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := WriteSynthetic(dir, LayoutGeneric, 1); err != nil {
				t.Fatal(err)
			}
			ds, err := Open(dir, DatasetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			it := ds.Items[0]
			if _, _, err := LoadItem(it, len(ds.Classes)); err != nil {
				t.Fatalf("undamaged item: %v", err)
			}
			tc.damage(t, it)
			_, _, err = LoadItem(it, len(ds.Classes))
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.file(it)) {
				t.Errorf("error %q does not name %s", err, tc.file(it))
			}
		})
	}
}

// Dataset-level problems are errors of Open naming the file.
func TestOpenBadInput(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layout Layout
		damage func(dir string) error
		want   error
		names  string
	}{
		{"empty split file", LayoutVOC, func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "ImageSets", "Segmentation", "val.txt"), []byte("\n\n"), 0o644)
		}, ErrDataset, "val.txt"},
		{"missing split", LayoutVOC, func(dir string) error {
			return os.Remove(filepath.Join(dir, "ImageSets", "Segmentation", "val.txt"))
		}, ErrDataset, "val.txt"},
		{"no image", LayoutGeneric, func(dir string) error {
			return os.RemoveAll(filepath.Join(dir, "images")) // leaves masks/: the layout is unknown
		}, ErrDataset, "unknown layout"},
		{"missing classes.txt", LayoutGeneric, func(dir string) error {
			return os.Remove(filepath.Join(dir, "classes.txt"))
		}, ErrClassFile, "classes.txt"},
		{"duplicate class name", LayoutGeneric, func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "classes.txt"), []byte("sky, wall\ncat\nwall\n"), 0o644)
		}, ErrClassFile, "classes.txt: evaluate: bad class file: line 3"},
		{"blank class line", LayoutGeneric, func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "classes.txt"), []byte("background\n\ncat\n"), 0o644)
		}, ErrClassFile, "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := WriteSynthetic(dir, tc.layout, 2); err != nil {
				t.Fatal(err)
			}
			if err := tc.damage(dir); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir, DatasetOptions{})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.names) {
				t.Errorf("error %v, want %v naming %q", err, tc.want, tc.names)
			}
		})
	}
}

func TestClassFileSeveralNames(t *testing.T) {
	cs, err := ParseClasses(strings.NewReader("sky, wall,tree\r\ncat\n\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || strings.Join(cs[0].Names, "|") != "sky|wall|tree" || cs[1].Name() != "cat" {
		t.Fatalf("%+v", cs)
	}
	names, class := queries(cs)
	if strings.Join(names, "|") != "sky|wall|tree|cat" || class[2] != 0 || class[3] != 1 {
		t.Errorf("queries %v %v", names, class)
	}
}

// The package's fixed lists are fresh copies: a caller changing one changes nothing else.
func TestListsAreCopies(t *testing.T) {
	for name, list := range map[string]func() []string{"VOCClasses": VOCClasses, "SyntheticClasses": SyntheticClasses,
		"CSVHeader": CSVHeader} {
		l := list()
		if len(l) == 0 {
			t.Fatalf("%s is empty", name)
		}
		l[0] = "changed"
		if list()[0] == "changed" {
			t.Errorf("a change to %s's result reached the next call", name)
		}
	}
}

func TestParseMethods(t *testing.T) {
	ms, err := ParseMethods(" surgery, RAW")
	if err != nil || len(ms) != 2 || ms[0] != clip.MethodSurgery || ms[1] != clip.MethodRaw {
		t.Fatalf("%v %v", ms, err)
	}
	for _, bad := range []string{"", "surgery,", "sclip-typo", "raw,raw"} {
		if _, err := ParseMethods(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := ResolveMethod("nope"); !errors.Is(err, ErrMethod) || !strings.Contains(err.Error(), "surgery") {
		t.Errorf("unknown method error %v does not list the known ones", err)
	}
}

// Two names for class 0 (best of them wins), one for class 1; 3 pixels.
func TestScorePixelsByHand(t *testing.T) {
	maps := [][]float32{
		{0.1, 0.3, 0.20}, // class 0, name a
		{0.4, 0.1, 0.20}, // class 0, name b
		{0.3, 0.2, 0.20}, // class 1
	}
	nameClass := []int{0, 0, 1}
	score := func(sc Scoring) []uint8 {
		t.Helper()
		got, err := scorePixels(3, len(maps), func(q int) ([]float32, error) { return maps[q], nil }, nameClass, sc)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	got := score(Scoring{})
	if string(got) != string([]uint8{0, 0, 0}) { // ties go to the first class
		t.Errorf("argmax %v, want [0 0 0]", got)
	}
	maps[2] = []float32{0.5, 0.2, 0.25}
	got = score(Scoring{})
	if string(got) != string([]uint8{1, 0, 1}) {
		t.Errorf("argmax %v, want [1 0 1]", got)
	}
	// Probability threshold: pixel 0 has softmax(40·[0.1, 0.4, 0.5]) → class 1 at ≈0.98; pixel 2
	// has [0.2, 0.2, 0.25] → class 1 at e^2/(2+e^2) ≈ 0.787, under 0.8 → background.
	got = score(Scoring{ProbThreshold: 0.8})
	if string(got) != string([]uint8{1, 0, 0}) {
		t.Errorf("with prob_thd %v, want [1 0 0]", got)
	}
	if p := math.Exp(2) / (2 + math.Exp(2)); !(p < 0.8 && p > 0.78) {
		t.Fatalf("hand value %v", p)
	}
	for _, sc := range []Scoring{{ProbThreshold: 1}, {ProbThreshold: -0.1}, {LogitScale: math.Inf(1)}, {ProbThreshold: math.NaN()}} {
		if sc.check() == nil {
			t.Errorf("%+v accepted", sc)
		}
	}
}

// A dataset with bad items: they are counted skips, named in the report, and leave the metrics
// of the good images exactly as without them.
func TestRunSkipsBadImages(t *testing.T) {
	ex := tinyExplainer(t)
	dir := t.TempDir()
	if err := WriteSynthetic(dir, LayoutGeneric, 4); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Methods: []clip.Method{clip.MethodRaw}, Model: ModelOptions{Templates: testTemplates}}
	ds, _ := Open(dir, DatasetOptions{})
	ds.Items = ds.Items[:2]
	clean, err := Run(context.Background(), ex, ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ds, _ = Open(dir, DatasetOptions{})
	os.Remove(ds.Items[2].Mask)
	writePNG(t, ds.Items[3].Mask, image.NewGray(image.Rect(0, 0, 3, 3)))
	rep, err := Run(context.Background(), ex, ds, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Evaluated != 2 || rep.SkipCount != 2 || !strings.Contains(rep.Skips[0].Reason, ds.Items[2].Mask) ||
		!strings.Contains(rep.Skips[1].Reason, "size") {
		t.Fatalf("evaluated %d, skips %v", rep.Evaluated, rep.Skips)
	}
	var tab bytes.Buffer
	_ = rep.WriteTable(&tab)
	if !strings.Contains(tab.String(), "2 skipped") || !strings.Contains(tab.String(), ds.Items[2].ID) {
		t.Errorf("table does not report the skips:\n%s", tab.String())
	}
	a, b := clean.Methods[0].Areas, rep.Methods[0].Areas
	for c := range a.Label {
		if a.Intersect[c] != b.Intersect[c] || a.Union[c] != b.Union[c] {
			t.Fatalf("skipped images changed the areas: %v/%v vs %v/%v", a.Intersect, a.Union, b.Intersect, b.Union)
		}
	}
	// Contradictory or invalid settings are errors before any image.
	for _, bad := range []Config{{NoBackground: true, Scoring: Scoring{ProbThreshold: 0.5}}, {Limit: -1},
		{PointingTolerance: -1}, {ExplainThresholds: []float32{2}}, {Scoring: Scoring{ProbThreshold: 1}}} {
		if _, err := Run(context.Background(), ex, ds, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	// Every image bad: an error, not a table of NaN.
	for _, it := range ds.Items[:2] {
		os.Remove(it.Mask)
	}
	if _, err := Run(context.Background(), ex, ds, cfg); !errors.Is(err, ErrNothingEvaluated) {
		t.Errorf("all bad: %v", err)
	}
}
