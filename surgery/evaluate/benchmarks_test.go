package evaluate

import (
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeBenchmark builds a tiny dataset of b in its layout: two images (in two Cityscapes city
// folders), each with a label map whose stored values are stored(i) per pixel index i.
func writeBenchmark(t *testing.T, root string, b Benchmark, stored func(i int) uint8) []string {
	t.Helper()
	split := b.DefaultSplit
	ids := []string{"a_000001", "b_000002"}
	if b.Name == "cityscapes" {
		ids = []string{"aachen/aachen_000001", "bonn/bonn_000002"}
	}
	for _, id := range ids {
		img := image.NewRGBA(image.Rect(0, 0, 6, 4))
		lab := image.NewGray(image.Rect(0, 0, 6, 4))
		for i := range 24 {
			img.Set(i%6, i/6, color.RGBA{uint8(i * 10), 50, 90, 255})
			lab.Pix[i] = stored(i)
		}
		ip := filepath.Join(root, b.dir(b.ImageDir, split), filepath.FromSlash(id)+b.ImageSuffix)
		mp := filepath.Join(root, b.dir(b.MaskDir, split), filepath.FromSlash(id)+b.MaskSuffix)
		for _, p := range []string{ip, mp} {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if strings.HasSuffix(ip, ".jpg") {
			f, err := os.Create(ip)
			if err != nil {
				t.Fatal(err)
			}
			if err := jpeg.Encode(f, img, nil); err != nil {
				t.Fatal(err)
			}
			f.Close()
		} else {
			writePNG(t, ip, img)
		}
		writePNG(t, mp, lab)
	}
	if b.SplitFile != "" {
		p := filepath.Join(root, b.dir(b.SplitFile, split))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// Every benchmark: its layout is detected (alone, or with its sibling that shares the files),
// opened by name with its class list, and its labels mapped as mmsegmentation maps them.
func TestBenchmarkLayouts(t *testing.T) {
	siblings := map[string][]string{"voc21": {"voc21", "voc20"}, "voc20": {"voc21", "voc20"},
		"context60": {"context60", "context59"}, "context59": {"context60", "context59"}}
	for _, b := range Benchmarks() {
		t.Run(b.Name, func(t *testing.T) {
			root := t.TempDir()
			stored := b.Classes // the stored labels run over 0..stored-1
			if b.ReduceZeroLabel {
				stored++
			}
			ids := writeBenchmark(t, root, b, func(i int) uint8 {
				if i == 23 {
					return IgnoreIndex
				}
				return uint8(i * 7 % stored)
			})
			found := DetectBenchmarks(root)
			want := siblings[b.Name]
			if want == nil {
				want = []string{b.Name}
			}
			if strings.Join(found, ",") != strings.Join(want, ",") {
				t.Fatalf("detected %v, want %v", found, want)
			}
			ds, err := Open(root, DatasetOptions{Benchmark: b.Name})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Benchmark != b.Name || len(ds.Classes) != b.Classes || len(ds.Items) != 2 || ds.Items[0].ID != ids[0] {
				t.Fatalf("opened %s with %d classes, items %+v", ds.Benchmark, len(ds.Classes), ds.Items)
			}
			if err := checkClasses(ds.Classes); err != nil {
				t.Fatalf("default class list unusable: %v", err)
			}
			_, lab, err := ds.Load(ds.Items[1])
			if err != nil {
				t.Fatal(err)
			}
			for i, got := range lab.Pix {
				v := uint8(i * 7 % stored)
				want := v
				switch {
				case i == 23:
					want = IgnoreIndex
				case b.ReduceZeroLabel && v == 0:
					want = IgnoreIndex
				case b.ReduceZeroLabel:
					want = v - 1
				}
				if got != want {
					t.Fatalf("pixel %d: stored %d read as %d, want %d", i, v, got, want)
				}
			}
			if len(found) == 1 { // detected without -benchmark
				if ds, err := Open(root, DatasetOptions{}); err != nil || ds.Benchmark != b.Name {
					t.Fatalf("detection opened %v, %v", ds, err)
				}
			} else if _, err := Open(root, DatasetOptions{Layout: LayoutBenchmark}); !errors.Is(err, ErrBenchmark) ||
				!strings.Contains(err.Error(), "-benchmark") {
				t.Fatalf("ambiguous folder: %v", err)
			}
		})
	}
}

func TestBenchmarkBadInput(t *testing.T) {
	voc, _ := LookupBenchmark("voc21")
	ade, _ := LookupBenchmark("ade20k")
	city, _ := LookupBenchmark("cityscapes")
	stuff, _ := LookupBenchmark("coco_stuff164k")

	t.Run("layout does not match -benchmark", func(t *testing.T) {
		root := t.TempDir()
		writeBenchmark(t, root, ade, func(int) uint8 { return 1 })
		_, err := OpenBenchmark(root, "voc21", "", "")
		if !errors.Is(err, ErrBenchmark) || !strings.Contains(err.Error(), "SegmentationClass") ||
			!strings.Contains(err.Error(), "looks like ade20k") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("label outside the range", func(t *testing.T) {
		root := t.TempDir()
		writeBenchmark(t, root, voc, func(i int) uint8 { return uint8(i) }) // 21, 22, 23 are no VOC class
		ds, err := OpenBenchmark(root, "voc21", "", "")
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = ds.Load(ds.Items[0])
		if !errors.Is(err, ErrLabelRange) || !strings.Contains(err.Error(), "voc21 stores labels 0..20") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ADE20K label 150 is its last class", func(t *testing.T) {
		root := t.TempDir()
		writeBenchmark(t, root, ade, func(i int) uint8 { return 150 })
		ds, err := OpenBenchmark(root, "", "", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, lab, err := ds.Load(ds.Items[0]); err != nil || lab.Pix[0] != 149 {
			t.Fatalf("got %v, %v", lab, err)
		}
	})
	t.Run("raw COCO polygons", func(t *testing.T) {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, "images", "val2017"), 0o755)
		os.MkdirAll(filepath.Join(root, "annotations", "val2017"), 0o755)
		os.WriteFile(filepath.Join(root, "annotations", "instances_val2017.json"), []byte("{}"), 0o644)
		_, err := OpenBenchmark(root, "coco_object", "", "")
		if !errors.Is(err, ErrBenchmark) || !strings.Contains(err.Error(), "cvt_coco_object.py") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("COCO-Stuff maps not converted to trainIds", func(t *testing.T) {
		root := t.TempDir()
		writeBenchmark(t, root, stuff, func(int) uint8 { return 1 })
		os.MkdirAll(filepath.Join(root, "annotations", "val2017"), 0o755)
		for _, m := range must(filepath.Glob(filepath.Join(root, "annotations", "val2017", "*"))) {
			os.Rename(m, strings.Replace(m, "_labelTrainIds.png", ".png", 1))
		}
		_, err := OpenBenchmark(root, "coco_stuff164k", "", "")
		if !errors.Is(err, ErrBenchmark) || !strings.Contains(err.Error(), "coco_stuff164k.py") {
			t.Fatalf("got %v", err)
		}
		if _, err := OpenBenchmark(root, "coco_object", "", ""); err == nil || !strings.Contains(err.Error(), "cvt_coco_object.py") {
			t.Fatalf("coco_object: got %v", err)
		}
	})
	t.Run("Cityscapes labelIds instead of trainIds", func(t *testing.T) {
		root := t.TempDir()
		writeBenchmark(t, root, city, func(int) uint8 { return 7 })
		for _, m := range must(filepath.Glob(filepath.Join(root, "gtFine", "val", "*", "*"))) {
			os.Rename(m, strings.Replace(m, "_labelTrainIds.png", "_labelIds.png", 1))
		}
		_, err := OpenBenchmark(root, "cityscapes", "", "")
		if !errors.Is(err, ErrBenchmark) || !strings.Contains(err.Error(), "cityscapes.py") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unknown benchmark", func(t *testing.T) {
		if _, err := OpenBenchmark(t.TempDir(), "voc22", "", ""); !errors.Is(err, ErrBenchmark) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("nothing to detect", func(t *testing.T) {
		if _, err := OpenBenchmark(t.TempDir(), "", "", ""); !errors.Is(err, ErrBenchmark) {
			t.Fatalf("got %v", err)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
