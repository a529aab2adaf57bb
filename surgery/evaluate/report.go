package evaluate

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// This file writes a Report: the terminal table, JSON and the per-class CSV. Undefined values
// (NaN: a class never labelled or never predicted) are "-" in the table, empty in the CSV and
// null in the JSON.

// WriteTable writes the summary (one row per method) and the per-class IoU of every method side
// by side.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %d of %d images evaluated", r.Dataset, r.Layout, r.Evaluated, r.Listed)
	if r.SkipCount > 0 {
		fmt.Fprintf(&b, ", %d skipped", r.SkipCount)
	}
	if r.Interrupted {
		b.WriteString(", INTERRUPTED (partial metrics)")
	}
	fmt.Fprintf(&b, "; class names encoded in %.1fs, images in %.1fs\n", r.TextSeconds, r.Seconds)
	if r.Protocol != nil {
		fmt.Fprintf(&b, "%s\n\n", r.Protocol.Summary())
	} else {
		fmt.Fprintf(&b, "%s\n\n", r.Inference())
	}
	header := []string{"method", "mIoU", "mAcc", "aAcc", "expl mIoU", "t*", "mSC", "PG", "img/s"}
	rows := [][]string{}
	for _, m := range r.Methods {
		pg := fmt.Sprintf("%s (%d/%d @%gpx)", pct(m.Pointing.Accuracy()), m.Pointing.Hits, m.Pointing.Total, m.Pointing.Tolerance)
		rows = append(rows, []string{string(m.Method), pct(m.Seg.MIoU), pct(m.Seg.MAcc), pct(m.Seg.AAcc),
			pct(m.Explain.MIoU), fmt.Sprintf("%.2f", m.Explain.BestThreshold), pct(m.Explain.MSC), pg,
			fmt.Sprintf("%.2f", m.ImagesPerSecond)})
	}
	writeAligned(&b, header, rows)
	b.WriteString("\nper-class IoU (segmentation)\n")
	header = []string{"class"}
	for _, m := range r.Methods {
		header = append(header, string(m.Method))
	}
	rows = rows[:0]
	for c, cl := range r.Classes {
		row := []string{fmt.Sprintf("%d %s", c, cl.Name())}
		for _, m := range r.Methods {
			row = append(row, pct(m.Seg.IoU[c]))
		}
		rows = append(rows, row)
	}
	writeAligned(&b, header, rows)
	if r.SkipCount > 0 {
		fmt.Fprintf(&b, "\nskipped %d image(s):\n", r.SkipCount)
		for _, s := range r.Skips {
			fmt.Fprintf(&b, "  %s: %s\n", s.ID, s.Reason)
		}
		if r.SkipCount > len(r.Skips) {
			fmt.Fprintf(&b, "  … %d more\n", r.SkipCount-len(r.Skips))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Inference says how the images were fed to the model: sliding windows and their stride, or the
// whole image resized.
func (r *Report) Inference() string {
	switch {
	case r.Slide && r.Size > 0:
		return fmt.Sprintf("inference: slide mode, %d×%d windows, stride %d px, averaged where they overlap", r.Size, r.Size, r.Stride)
	case r.Slide:
		return "inference: slide mode"
	case r.Size > 0:
		return fmt.Sprintf("inference: whole image resized to %d×%d", r.Size, r.Size)
	default:
		return "inference: whole image resized to the model's input"
	}
}

// pct formats a fraction as a percentage with two decimals ("-" for NaN).
func pct(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.2f", 100*v)
}

func writeAligned(b *strings.Builder, header []string, rows [][]string) {
	width := make([]int, len(header))
	for _, row := range append([][]string{header}, rows...) {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(row []string) {
		for i, c := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		b.WriteString("\n")
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
}

// jsonFloat is a float64 that encodes NaN as null.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

func jsonFloats(v []float64) []jsonFloat {
	out := make([]jsonFloat, len(v))
	for i, x := range v {
		out[i] = jsonFloat(x)
	}
	return out
}

type jsonMethod struct {
	Method        string      `json:"method"`
	MIoU          jsonFloat   `json:"mIoU"`
	MAcc          jsonFloat   `json:"mAcc"`
	AAcc          jsonFloat   `json:"aAcc"`
	IoU           []jsonFloat `json:"iou"`
	Acc           []jsonFloat `json:"acc"`
	AreaIntersect []int64     `json:"area_intersect"`
	AreaUnion     []int64     `json:"area_union"`
	AreaPred      []int64     `json:"area_pred"`
	AreaLabel     []int64     `json:"area_label"`
	Explain       struct {
		Thresholds    []float32   `json:"thresholds"`
		MIoUCurve     []jsonFloat `json:"mIoU_curve"`
		BestThreshold float32     `json:"best_threshold"`
		MIoU          jsonFloat   `json:"mIoU"`
		IoU           []jsonFloat `json:"iou"`
		SC            []jsonFloat `json:"sc"`
		MSC           jsonFloat   `json:"mSC"`
	} `json:"explainability"`
	Pointing struct {
		Tolerance float64   `json:"tolerance_px"`
		Hits      int64     `json:"hits"`
		Total     int64     `json:"total"`
		Accuracy  jsonFloat `json:"accuracy"`
	} `json:"pointing_game"`
	Seconds         float64 `json:"seconds"`
	ImagesPerSecond float64 `json:"images_per_second"`
}

type jsonReport struct {
	Dataset     string       `json:"dataset"`
	Layout      Layout       `json:"layout"`
	Protocol    *Protocol    `json:"protocol,omitempty"`
	Slide       bool         `json:"slide"`
	Size        int          `json:"size"`
	Stride      int          `json:"stride"`
	Classes     [][]string   `json:"classes"`
	Listed      int          `json:"listed"`
	Evaluated   int          `json:"evaluated"`
	Skipped     int          `json:"skipped"`
	Skips       []Skip       `json:"skips"`
	Interrupted bool         `json:"interrupted"`
	Seconds     float64      `json:"seconds"`
	TextSeconds float64      `json:"text_seconds"`
	Methods     []jsonMethod `json:"methods"`
}

// WriteJSON writes the whole report (fractions, not percentages; null where undefined).
func (r *Report) WriteJSON(w io.Writer) error {
	jr := jsonReport{Dataset: r.Dataset, Layout: r.Layout, Protocol: r.Protocol, Slide: r.Slide, Size: r.Size, Stride: r.Stride, Listed: r.Listed, Evaluated: r.Evaluated,
		Skipped: r.SkipCount, Skips: r.Skips, Interrupted: r.Interrupted, Seconds: r.Seconds, TextSeconds: r.TextSeconds}
	if jr.Skips == nil {
		jr.Skips = []Skip{}
	}
	for _, c := range r.Classes {
		jr.Classes = append(jr.Classes, c.Names)
	}
	for _, m := range r.Methods {
		jm := jsonMethod{Method: string(m.Method), MIoU: jsonFloat(m.Seg.MIoU), MAcc: jsonFloat(m.Seg.MAcc),
			AAcc: jsonFloat(m.Seg.AAcc), IoU: jsonFloats(m.Seg.IoU), Acc: jsonFloats(m.Seg.Acc),
			AreaIntersect: m.Areas.Intersect, AreaUnion: m.Areas.Union, AreaPred: m.Areas.Pred,
			AreaLabel: m.Areas.Label, Seconds: m.Seconds, ImagesPerSecond: m.ImagesPerSecond}
		e := m.Explain
		jm.Explain.Thresholds, jm.Explain.MIoUCurve = e.Thresholds, jsonFloats(e.MIoUCurve)
		jm.Explain.BestThreshold, jm.Explain.MIoU = e.BestThreshold, jsonFloat(e.MIoU)
		jm.Explain.IoU, jm.Explain.SC, jm.Explain.MSC = jsonFloats(e.IoU), jsonFloats(e.SC), jsonFloat(e.MSC)
		jm.Pointing.Tolerance, jm.Pointing.Hits, jm.Pointing.Total = m.Pointing.Tolerance, m.Pointing.Hits, m.Pointing.Total
		jm.Pointing.Accuracy = jsonFloat(m.Pointing.Accuracy())
		jr.Methods = append(jr.Methods, jm)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(jr)
}

// CSVHeader returns (a fresh copy of) the per-class CSV's header: one row per (method, class).
func CSVHeader() []string { return slices.Clone(csvHeader) }

var csvHeader = []string{"method", "class_index", "class", "iou", "acc", "area_intersect", "area_union",
	"area_pred", "area_label", "explain_iou", "score_contrast"}

// WriteCSV writes the per-class CSV (fractions; empty where undefined).
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	f := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, m := range r.Methods {
		for c, cl := range r.Classes {
			row := []string{string(m.Method), strconv.Itoa(c), strings.Join(cl.Names, ", "), f(m.Seg.IoU[c]),
				f(m.Seg.Acc[c]), i(m.Areas.Intersect[c]), i(m.Areas.Union[c]), i(m.Areas.Pred[c]),
				i(m.Areas.Label[c]), f(m.Explain.IoU[c]), f(m.Explain.SC[c])}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
