package evaluate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Layout is a dataset's folder layout.
type Layout string

const (
	// LayoutVOC is Pascal VOC 2012's: JPEGImages/<id>.jpg, SegmentationClass/<id>.png (palette PNG,
	// the palette index is the class), ImageSets/Segmentation/<split>.txt listing the ids.
	LayoutVOC Layout = "voc"
	// LayoutGeneric is images/<stem>.{jpg,jpeg,png} with masks/<stem>.png (8-bit grey or palette
	// PNG of class indices) and classes.txt (the class file, see ReadClassFile).
	LayoutGeneric Layout = "generic"
)

// ErrDataset: the dataset folder cannot be used.
var ErrDataset = errors.New("evaluate: bad dataset")

// DatasetOptions choose what Open reads. The zero value opens the "val" split of a VOC folder
// or every image of a generic folder, with the layout's class list.
type DatasetOptions struct {
	// Layout forces a layout ("" = detect: ImageSets/ or JPEGImages/ means VOC, images/ generic).
	Layout Layout
	// Split is the VOC split file's name without .txt ("" = "val"). Unused for generic folders.
	Split string
	// ClassFile is the class file ("" = the folder's classes.txt; for VOC, when absent, the 21
	// VOCClasses(); for a benchmark, its peers' class file).
	ClassFile string
	// Benchmark opens the folder as one of the eight benchmarks (OpenBenchmark; "" = the
	// layouts above, then a benchmark's if neither matches).
	Benchmark string
}

// Item is one image of a dataset and its mask.
type Item struct {
	ID          string
	Image, Mask string // paths
}

// Dataset is an opened dataset: its class list and its items (paths only; images are read one at
// a time while evaluating).
type Dataset struct {
	Dir    string
	Layout Layout
	// Benchmark is the benchmark whose layout and label mapping the dataset has ("" = none).
	Benchmark string
	Classes   []Class
	Items     []Item
}

// Open reads a dataset folder's layout, class list and item list. Missing masks and unreadable
// images are found later, one item at a time (they are counted skips of the evaluation).
func Open(dir string, opt DatasetOptions) (*Dataset, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDataset, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a folder", ErrDataset, dir)
	}
	if opt.Benchmark != "" || opt.Layout == LayoutBenchmark {
		return OpenBenchmark(dir, opt.Benchmark, opt.Split, opt.ClassFile)
	}
	ds := &Dataset{Dir: dir, Layout: opt.Layout}
	if ds.Layout == "" {
		ds.Layout = detectLayout(dir)
	}
	// images/ without masks/ is a benchmark's (COCO, ADE20K) rather than the generic layout.
	generic := ds.Layout == LayoutGeneric && opt.Layout == "" && !isDir(filepath.Join(dir, "masks"))
	if (ds.Layout == "" || generic) && len(DetectBenchmarks(dir)) > 0 {
		return OpenBenchmark(dir, "", opt.Split, opt.ClassFile)
	}
	switch ds.Layout {
	case LayoutVOC:
		err = ds.openVOC(opt.Split)
	case LayoutGeneric:
		err = ds.openGeneric()
	default:
		return nil, fmt.Errorf("%w: %s: unknown layout %q (want %q with JPEGImages/, SegmentationClass/, "+
			"ImageSets/Segmentation/, or %q with images/, masks/, classes.txt)", ErrDataset, dir, ds.Layout, LayoutVOC, LayoutGeneric)
	}
	if err != nil {
		return nil, err
	}
	ds.Classes, err = readClasses(dir, ds.Layout, opt.ClassFile)
	if err != nil {
		return nil, err
	}
	return ds, nil
}

func detectLayout(dir string) Layout {
	for _, d := range []string{"ImageSets", "JPEGImages", "SegmentationClass"} {
		if isDir(filepath.Join(dir, d)) {
			return LayoutVOC
		}
	}
	if isDir(filepath.Join(dir, "images")) {
		return LayoutGeneric
	}
	return ""
}

func readClasses(dir string, layout Layout, file string) ([]Class, error) {
	if file != "" {
		return ReadClassFile(file)
	}
	def := filepath.Join(dir, "classes.txt")
	if _, err := os.Stat(def); err == nil || layout == LayoutGeneric {
		return ReadClassFile(def)
	}
	return ClassesFromNames(vocClasses), nil
}

func (ds *Dataset) openVOC(split string) error {
	if split == "" {
		split = "val"
	}
	ids, err := readSplitIDs(filepath.Join(ds.Dir, "ImageSets", "Segmentation", split+".txt"), split)
	for _, id := range ids {
		ds.Items = append(ds.Items, Item{ID: id, Image: filepath.Join(ds.Dir, "JPEGImages", id+".jpg"),
			Mask: filepath.Join(ds.Dir, "SegmentationClass", id+".png")})
	}
	return err
}

// imageExts are the image files of the generic layout.
var imageExts = []string{".jpg", ".jpeg", ".png"}

func (ds *Dataset) openGeneric() error {
	dir := filepath.Join(ds.Dir, "images")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDataset, err)
	}
	seen := map[string]string{}
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || !slices.Contains(imageExts, ext) {
			continue
		}
		stem := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
		if other, dup := seen[stem]; dup {
			return fmt.Errorf("%w: %s: %s and %s share the stem %q (one mask each)", ErrDataset, dir, other, e.Name(), stem)
		}
		seen[stem] = e.Name()
		ds.Items = append(ds.Items, Item{ID: stem, Image: filepath.Join(dir, e.Name()),
			Mask: filepath.Join(ds.Dir, "masks", stem+".png")})
	}
	if len(ds.Items) == 0 {
		return fmt.Errorf("%w: %s holds no .jpg, .jpeg or .png image", ErrDataset, dir)
	}
	return nil // ReadDir sorts by name: a stable order
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
