package evaluate

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/clipsurgery/clipsurgery/internal/safefile"
)

// Class is one class of a dataset: its label value is its index in the class list, and Names are
// the texts whose scores represent it. Several names make one class score by taking the best of
// them per pixel, as the name files of SCLIP, ClearCLIP and NACLIP do (configs/cls_*.txt, one
// class per line, names separated by ", "; e.g. VOC's background line lists "sky, wall, tree, …"
// so that the background is predicted from stuff names instead of the word "background").
type Class struct {
	Names []string
}

// Name is the class's display name: its first name.
func (c Class) Name() string { return c.Names[0] }

// ErrClassFile: the class list cannot be used.
var ErrClassFile = errors.New("evaluate: bad class file")

// VOCClasses returns (a fresh copy of) the 21 class names of Pascal VOC 2012 in label order
// (0 = background), the default class list of the VOC layout.
func VOCClasses() []string { return slices.Clone(vocClasses) }

var vocClasses = []string{"background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
	"cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep",
	"sofa", "train", "tvmonitor"}

// ClassesFromNames makes one single-name class per name.
func ClassesFromNames(names []string) []Class {
	cs := make([]Class, len(names))
	for i, n := range names {
		cs[i] = Class{Names: []string{n}}
	}
	return cs
}

// ReadClassFile reads a class file: line i (from 0) is class i, its names separated by commas.
// Blank lines inside the list are errors (they would shift every later label); trailing blank
// lines are ignored.
func ReadClassFile(path string) ([]Class, error) {
	f, _, err := safefile.Open(path) // a FIFO or device is refused, never read
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClassFile, err)
	}
	defer f.Close()
	cs, err := ParseClasses(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cs, nil
}

// ParseClasses parses the class-file format (see ReadClassFile). Every name must be unique over
// all classes (a name in two classes would make the label ambiguous), at most 255 classes.
func ParseClasses(r io.Reader) ([]Class, error) {
	var lines []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
		if len(lines) > IgnoreIndex {
			return nil, fmt.Errorf("%w: more than %d classes (label values are 8-bit, %d is ignored)",
				ErrClassFile, IgnoreIndex, IgnoreIndex)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClassFile, err)
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%w: no class", ErrClassFile)
	}
	seen := map[string]int{}
	cs := make([]Class, len(lines))
	for i, line := range lines {
		for _, n := range strings.Split(line, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				return nil, fmt.Errorf("%w: line %d: empty class name", ErrClassFile, i+1)
			}
			if j, dup := seen[n]; dup {
				return nil, fmt.Errorf("%w: line %d: name %q already names class %d (line %d)", ErrClassFile, i+1, n, j, j+1)
			}
			seen[n] = i
			cs[i].Names = append(cs[i].Names, n)
		}
	}
	return cs, nil
}

// queries flattens the classes' names (the label set the model scores) and gives each name's class.
func queries(cs []Class) (names []string, class []int) {
	for i, c := range cs {
		for _, n := range c.Names {
			names = append(names, n)
			class = append(class, i)
		}
	}
	return names, class
}
