package evaluate

import (
	"bufio"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/safefile"
)

// LayoutBenchmark is the layout of a dataset opened as one of the eight benchmarks
// (Dataset.Benchmark says which).
const LayoutBenchmark Layout = "benchmark"

// OpenBenchmark opens root as the named benchmark ("" = detect it: exactly one benchmark's layout
// must match). split "" is the benchmark's DefaultSplit; classFile "" its peers' class file. A
// folder in another layout, or an unconverted download, is one error naming what to do.
func OpenBenchmark(root, name, split, classFile string) (*Dataset, error) {
	if !isDir(root) {
		return nil, fmt.Errorf("%w: %s is not a folder", ErrDataset, root)
	}
	if name == "" {
		found := DetectBenchmarks(root)
		switch len(found) {
		case 0:
			return nil, fmt.Errorf("%w: %s is in no benchmark's layout (%s); name one with -benchmark to see what is missing",
				ErrBenchmark, root, strings.Join(BenchmarkNames(), ", "))
		case 1:
			name = found[0]
		default:
			return nil, fmt.Errorf("%w: %s holds the layouts of %s: choose one with -benchmark", ErrBenchmark, root,
				strings.Join(found, " and "))
		}
	}
	b, err := LookupBenchmark(name)
	if err != nil {
		return nil, err
	}
	if split == "" {
		split = b.DefaultSplit
	}
	if strings.ContainsAny(split, `/\`) || split == "." || split == ".." {
		return nil, fmt.Errorf("%w: split %q is not a name", ErrDataset, split)
	}
	if !b.matches(root, split) || !b.hasMasks(root, split) {
		return nil, b.layoutError(root, split)
	}
	ds := &Dataset{Dir: root, Layout: LayoutBenchmark, Benchmark: b.Name}
	if b.SplitFile != "" {
		err = ds.listSplit(b, split)
	} else {
		err = ds.listFolder(b, split)
	}
	if err != nil {
		return nil, err
	}
	if classFile != "" {
		ds.Classes, err = ReadClassFile(classFile)
	} else {
		ds.Classes, err = b.DefaultClasses()
	}
	if err != nil {
		return nil, err
	}
	if len(ds.Classes) != b.Classes {
		return nil, fmt.Errorf("%w: %d classes for %s, which has %d", ErrClassFile, len(ds.Classes), b.Name, b.Classes)
	}
	return ds, nil
}

// layoutError says why root is not in b's layout: an unconverted download (the step to run) or
// the folders it lacks, and which benchmarks it does look like.
func (b Benchmark) layoutError(root, split string) error {
	if step := b.unconverted(root, split); step != "" {
		return fmt.Errorf("%w: %s: %s labels are not converted (no *%s under %s): run %s", ErrBenchmark, root, b.Name,
			b.MaskSuffix, b.dir(b.MaskDir, split), step)
	}
	want := []string{b.dir(b.ImageDir, split) + "/", b.dir(b.MaskDir, split) + "/*" + b.MaskSuffix}
	if b.SplitFile != "" {
		want = append(want, b.dir(b.SplitFile, split))
	}
	msg := fmt.Sprintf("%s is not in %s's layout (want %s; %s)", root, b.Name, strings.Join(want, ", "), b.Convert)
	if found := DetectBenchmarks(root); len(found) > 0 {
		msg += fmt.Sprintf("; it looks like %s", strings.Join(found, " or "))
	}
	return fmt.Errorf("%w: %s", ErrBenchmark, msg)
}

func (ds *Dataset) listSplit(b Benchmark, split string) error {
	ids, err := readSplitIDs(filepath.Join(ds.Dir, b.dir(b.SplitFile, split)), split)
	for _, id := range ids {
		ds.Items = append(ds.Items, Item{ID: id, Image: filepath.Join(ds.Dir, b.dir(b.ImageDir, split), id+b.ImageSuffix),
			Mask: filepath.Join(ds.Dir, b.dir(b.MaskDir, split), id+b.MaskSuffix)})
	}
	return err
}

// readSplitIDs reads a split file's image ids (one a line; at least one; no paths).
func readSplitIDs(list, split string) ([]string, error) {
	f, _, err := safefile.Open(list) // a FIFO or device is refused, never read
	if err != nil {
		return nil, fmt.Errorf("%w: split %q: %w", ErrDataset, split, err)
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id := strings.TrimSpace(sc.Text())
		if id == "" {
			continue
		}
		if strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
			return nil, fmt.Errorf("%w: %s: %q is not an image id", ErrDataset, list, id)
		}
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrDataset, list, err)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: %s lists no image", ErrDataset, list)
	}
	return ids, nil
}

// listFolder lists every image under the image folder, recursively and sorted by path, as
// mmsegmentation's BaseSegDataset scans img_path with img_suffix (Cityscapes' city folders).
func (ds *Dataset) listFolder(b Benchmark, split string) error {
	imgRoot := filepath.Join(ds.Dir, b.dir(b.ImageDir, split))
	maskRoot := filepath.Join(ds.Dir, b.dir(b.MaskDir, split))
	err := filepath.WalkDir(imgRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), b.ImageSuffix) {
			return nil
		}
		rel, err := filepath.Rel(imgRoot, p)
		if err != nil {
			return err
		}
		id := strings.TrimSuffix(rel, b.ImageSuffix)
		ds.Items = append(ds.Items, Item{ID: filepath.ToSlash(id), Image: p, Mask: filepath.Join(maskRoot, id+b.MaskSuffix)})
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDataset, err)
	}
	if len(ds.Items) == 0 {
		return fmt.Errorf("%w: %s holds no *%s image", ErrDataset, imgRoot, b.ImageSuffix)
	}
	sort.Slice(ds.Items, func(i, j int) bool { return ds.Items[i].ID < ds.Items[j].ID })
	return nil
}

// Load reads an item's image and label map, with the benchmark's label mapping (a dataset opened
// by Open has none: LoadItem).
func (ds *Dataset) Load(it Item) (*imageprep.Pixels, *Label, error) {
	if ds.Benchmark == "" {
		return LoadItem(it, len(ds.Classes))
	}
	b, err := LookupBenchmark(ds.Benchmark)
	if err != nil {
		return nil, nil, err
	}
	stored := b.Classes
	if b.ReduceZeroLabel {
		stored++
	}
	pix, lab, err := LoadItem(it, stored)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (%s stores labels 0..%d and 255%s)", err, b.Name, stored-1, b.convertHint())
	}
	if b.ReduceZeroLabel {
		ReduceZeroLabel(lab)
	}
	return pix, lab, nil
}

func (b Benchmark) convertHint() string {
	if len(b.raw) == 0 {
		return ""
	}
	return "; an unconverted label map? run " + b.raw[0].step
}

// ReduceZeroLabel is mmsegmentation's reduce_zero_label (LoadAnnotations): 0 → 255, v → v − 1,
// 255 stays 255.
func ReduceZeroLabel(lab *Label) {
	for i, v := range lab.Pix {
		switch v {
		case 0, IgnoreIndex:
			lab.Pix[i] = IgnoreIndex
		default:
			lab.Pix[i] = v - 1
		}
	}
}
