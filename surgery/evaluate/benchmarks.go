package evaluate

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The eight benchmarks of the field's tables (SCLIP, ClearCLIP and NACLIP report mIoU on all of
// them), each in the folder layout mmsegmentation's dataset preparation and the peers' conversion
// scripts produce, as the peers' configs read it (configs/cfg_<benchmark>.py: data_prefix,
// ann_file, reduce_zero_label; the dataset classes' img_suffix and seg_map_suffix).

// Benchmark describes one benchmark's layout, labels and default class list.
type Benchmark struct {
	Name  string // the -benchmark name, e.g. "voc21"
	Title string
	// Classes is the number of classes the metrics count (after ReduceZeroLabel).
	Classes int
	// Background says class 0 is a background (VOC21, Context60, COCO-Object: the peers'
	// prob_thd assigns it); otherwise every class is an object (Config.NoBackground).
	Background bool
	// ReduceZeroLabel is mmsegmentation's reduce_zero_label: stored label 0 is not a class (it
	// becomes IgnoreIndex) and every other label v becomes v − 1; 255 stays ignored.
	ReduceZeroLabel bool
	// ImageDir and MaskDir are the image and label folders under the data root, SplitDir's
	// "{split}" replaced by the split (DefaultSplit unless given).
	ImageDir, MaskDir string
	// SplitFile lists the image ids ("" = every image under ImageDir, recursively, in name order,
	// as mmsegmentation scans a folder).
	SplitFile    string
	DefaultSplit string
	// ImageSuffix and MaskSuffix end an image's and its label map's file name after the id.
	ImageSuffix, MaskSuffix string
	// ClassFile is the peers' class-name file (classfiles/<peer>/<file>) read by default: one line
	// per class, its names separated by ", ".
	ClassFile string
	// Convert is the conversion step that produces this layout from the downloaded archives.
	Convert string
	// From is where the layout is read from.
	From string
	// raw are files an unconverted download leaves where the converted labels belong.
	raw []rawSign
}

// rawSign is a file pattern (under the data root, "{split}" replaced) that shows the download was
// not converted, and the step to run.
type rawSign struct{ glob, step string }

const (
	convertContext = "mmsegmentation's tools/dataset_converters/pascal_context.py (needs trainval_merged.json and the Detail API)"
	convertStuff   = "mmsegmentation's tools/dataset_converters/coco_stuff164k.py (writes *_labelTrainIds.png)"
	convertObject  = "SCLIP's datasets/cvt_coco_object.py on the COCO-Stuff164k folder (writes *_instanceTrainIds.png)"
	convertCity    = "mmsegmentation's tools/dataset_converters/cityscapes.py (writes *_gtFine_labelTrainIds.png)"
)

// benchmarkTable is never changed: Benchmarks and LookupBenchmark hand out copies.
var benchmarkTable = [...]Benchmark{
	{Name: "voc21", Background: true, Title: "PASCAL VOC 2012 (21 classes with background)", Classes: 21,
		ImageDir: "JPEGImages", MaskDir: "SegmentationClass", SplitFile: "ImageSets/Segmentation/{split}.txt",
		DefaultSplit: "val", ImageSuffix: ".jpg", MaskSuffix: ".png", ClassFile: "clearclip/cls_voc21.txt",
		Convert: "none: VOCtrainval_11-May-2012.tar as downloaded (data root VOCdevkit/VOC2012)",
		From:    "configs/cfg_voc21.py (PascalVOCDataset)"},
	{Name: "voc20", Title: "PASCAL VOC 2012 without background (20 classes)", Classes: 20, ReduceZeroLabel: true,
		ImageDir: "JPEGImages", MaskDir: "SegmentationClass", SplitFile: "ImageSets/Segmentation/{split}.txt",
		DefaultSplit: "val", ImageSuffix: ".jpg", MaskSuffix: ".png", ClassFile: "clearclip/cls_voc20.txt",
		Convert: "none: VOCtrainval_11-May-2012.tar as downloaded (data root VOCdevkit/VOC2012)",
		From:    "configs/cfg_voc20.py (PascalVOC20Dataset, reduce_zero_label=True)"},
	{Name: "context60", Background: true, Title: "PASCAL Context (60 classes with background)", Classes: 60,
		ImageDir: "JPEGImages", MaskDir: "SegmentationClassContext", SplitFile: "ImageSets/SegmentationContext/{split}.txt",
		DefaultSplit: "val", ImageSuffix: ".jpg", MaskSuffix: ".png", ClassFile: "clearclip/cls_context60.txt",
		Convert: convertContext + " on VOCdevkit/VOC2010", From: "configs/cfg_context60.py (PascalContext60Dataset)",
		raw: []rawSign{{"trainval_merged.json", convertContext}}},
	{Name: "context59", Title: "PASCAL Context without background (59 classes)", Classes: 59, ReduceZeroLabel: true,
		ImageDir: "JPEGImages", MaskDir: "SegmentationClassContext", SplitFile: "ImageSets/SegmentationContext/{split}.txt",
		DefaultSplit: "val", ImageSuffix: ".jpg", MaskSuffix: ".png", ClassFile: "clearclip/cls_context59.txt",
		Convert: convertContext + " on VOCdevkit/VOC2010", From: "configs/cfg_context59.py (PascalContext59Dataset, reduce_zero_label=True)",
		raw: []rawSign{{"trainval_merged.json", convertContext}}},
	{Name: "coco_object", Background: true, Title: "COCO-Object (80 things and background)", Classes: 81,
		ImageDir: "images/{split}", MaskDir: "annotations/{split}", DefaultSplit: "val2017",
		ImageSuffix: ".jpg", MaskSuffix: "_instanceTrainIds.png", ClassFile: "clearclip/cls_coco_object.txt",
		Convert: convertObject, From: "configs/cfg_coco_object.py (COCOObjectDataset)",
		raw: []rawSign{{"annotations/instances_{split}.json", convertObject},
			{"annotations/{split}/*_labelTrainIds.png", convertObject}, {"annotations/{split}/*.png", convertObject}}},
	{Name: "coco_stuff164k", Title: "COCO-Stuff164k (171 classes)", Classes: 171,
		ImageDir: "images/{split}", MaskDir: "annotations/{split}", DefaultSplit: "val2017",
		ImageSuffix: ".jpg", MaskSuffix: "_labelTrainIds.png", ClassFile: "clearclip/cls_coco_stuff.txt",
		Convert: convertStuff, From: "configs/cfg_coco_stuff164k.py (COCOStuffDataset)",
		raw: []rawSign{{"annotations/{split}/*.png", convertStuff}, {"annotations/stuff_{split}.json", convertStuff}}},
	{Name: "cityscapes", Title: "Cityscapes (19 classes)", Classes: 19,
		ImageDir: "leftImg8bit/{split}", MaskDir: "gtFine/{split}", DefaultSplit: "val",
		ImageSuffix: "_leftImg8bit.png", MaskSuffix: "_gtFine_labelTrainIds.png", ClassFile: "clearclip/cls_city_scapes.txt",
		Convert: convertCity, From: "configs/cfg_city_scapes.py (CityscapesDataset)",
		raw: []rawSign{{"gtFine/{split}/*/*_gtFine_labelIds.png", convertCity}}},
	{Name: "ade20k", Title: "ADE20K (150 classes)", Classes: 150, ReduceZeroLabel: true,
		ImageDir: "images/{split}", MaskDir: "annotations/{split}", DefaultSplit: "validation",
		ImageSuffix: ".jpg", MaskSuffix: ".png", ClassFile: "clearclip/cls_ade20k.txt",
		Convert: "none: ADEChallengeData2016.zip as downloaded (data root ADEChallengeData2016)",
		From:    "configs/cfg_ade20k.py (ADE20KDataset, reduce_zero_label=True)"},
}

// benchmarkAliases are other spellings users type (the peers' config file names among them).
var benchmarkAliases = map[string]string{"voc": "voc21", "context": "context60", "pascal_context": "context60",
	"coco-object": "coco_object", "cocoobject": "coco_object", "coco_stuff": "coco_stuff164k",
	"coco-stuff164k": "coco_stuff164k", "cocostuff": "coco_stuff164k", "city_scapes": "cityscapes", "ade": "ade20k"}

// classFiles are the peers' class-name files (configs/cls_<benchmark>.txt): SCLIP's (NACLIP ships
// the same files) and ClearCLIP's, which differ on VOC21, VOC20 and COCO-Object (no synonyms).
//
//go:embed classfiles
var classFiles embed.FS

// ErrBenchmark: an unknown benchmark, or a folder that is not (yet) in its layout.
var ErrBenchmark = errors.New("evaluate: bad benchmark")

// Benchmarks lists the eight benchmarks in the order of the field's tables.
func Benchmarks() []Benchmark {
	out := benchmarkTable[:]
	res := make([]Benchmark, len(out))
	for i, b := range out {
		res[i] = b.clone()
	}
	return res
}

func (b Benchmark) clone() Benchmark { b.raw = slices.Clone(b.raw); return b }

// BenchmarkNames are the benchmarks' names, for help texts.
func BenchmarkNames() []string {
	var out []string
	for _, b := range benchmarkTable {
		out = append(out, b.Name)
	}
	return out
}

// LookupBenchmark finds a benchmark by name or alias (case-insensitive).
func LookupBenchmark(name string) (Benchmark, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if a, ok := benchmarkAliases[n]; ok {
		n = a
	}
	for _, b := range benchmarkTable {
		if b.Name == n {
			return b.clone(), nil
		}
	}
	return Benchmark{}, fmt.Errorf("%w: unknown benchmark %q (want one of %s)", ErrBenchmark, name, strings.Join(BenchmarkNames(), ", "))
}

// DefaultClasses reads the benchmark's class file (its ClassFile).
func (b Benchmark) DefaultClasses() ([]Class, error) { return PeerClasses(b.ClassFile) }

// PeerClasses reads one of the embedded peers' class files ("sclip/cls_voc21.txt"). Unlike
// ParseClasses a name may name two classes (SCLIP's COCO-Object file lists "bed" as a background
// synonym and as a class): each line is scored on its own, the first class winning ties.
func PeerClasses(file string) ([]Class, error) {
	data, err := classFiles.ReadFile("classfiles/" + file)
	if err != nil {
		return nil, fmt.Errorf("%w: no embedded class file %q", ErrClassFile, file)
	}
	// Split as the peers' get_cls_idx splits: on ", ", names kept as written (Context's "wood "
	// keeps its space; CLIP's tokenizer cleans it).
	var cs []Class
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		cs = append(cs, Class{Names: strings.Split(line, ", ")})
	}
	return cs, nil
}

func (b Benchmark) dir(pattern, split string) string {
	return filepath.FromSlash(strings.ReplaceAll(pattern, "{split}", split))
}

// matches says whether root holds b's image and label folders (and split file) for split.
func (b Benchmark) matches(root, split string) bool {
	if !isDir(filepath.Join(root, b.dir(b.ImageDir, split))) || !isDir(filepath.Join(root, b.dir(b.MaskDir, split))) {
		return false
	}
	if b.SplitFile != "" {
		_, err := os.Stat(filepath.Join(root, b.dir(b.SplitFile, split)))
		return err == nil
	}
	return true
}

// unconverted returns the conversion step when root holds an unconverted download of b.
func (b Benchmark) unconverted(root, split string) string {
	for _, r := range b.raw {
		if m, _ := filepath.Glob(filepath.Join(root, b.dir(r.glob, split))); len(m) > 0 {
			return r.step
		}
	}
	return ""
}

// DetectBenchmarks lists the benchmarks whose layout root holds (for their default split).
// Benchmarks that share files (VOC21 and VOC20, Context60 and Context59, COCO-Object and
// COCO-Stuff164k when both conversions were run) all match: -benchmark then chooses.
func DetectBenchmarks(root string) []string {
	var out []string
	for _, b := range benchmarkTable {
		if b.matches(root, b.DefaultSplit) && b.hasMasks(root, b.DefaultSplit) {
			out = append(out, b.Name)
		}
	}
	return out
}

// hasMasks says whether the mask folder holds at least one converted label map.
func (b Benchmark) hasMasks(root, split string) bool {
	found := false
	_ = filepath.WalkDir(filepath.Join(root, b.dir(b.MaskDir, split)), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(d.Name(), b.MaskSuffix) {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}
