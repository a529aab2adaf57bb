package nbutil

import (
	"bytes"
	"context"
	"encoding/xml"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clip "github.com/clipsurgery/clipsurgery/gomlx_clip"
	"github.com/clipsurgery/clipsurgery/internal/goldens"
	"github.com/clipsurgery/clipsurgery/surgery"
)

func TestStats(t *testing.T) {
	// 4×3 map with two separate hot pixels and a peak at (3, 2).
	m := []float32{
		0.9, 0, 0, 0,
		0, 0, 0, 0,
		0, 0, 0, 1,
	}
	s, err := Stats(m, 4, 3, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if s.Blobs != 2 || s.PeakX != 3 || s.PeakY != 2 {
		t.Errorf("blobs %d peak (%d,%d), want 2 (3,2)", s.Blobs, s.PeakX, s.PeakY)
	}
	if math.Abs(s.Hot-2.0/12) > 1e-12 || math.Abs(s.Mean-1.9/12) > 1e-6 {
		t.Errorf("hot %v mean %v", s.Hot, s.Mean)
	}
	// Joining the two pixels through a hot path gives one blob.
	m[1], m[2], m[3], m[7] = 1, 1, 1, 1
	if s, _ = Stats(m, 4, 3, 0.5); s.Blobs != 1 {
		t.Errorf("blobs %d, want 1", s.Blobs)
	}
	if _, err := Stats(m, 5, 3, 0.5); err == nil {
		t.Error("size mismatch accepted")
	}
}

func TestCorrelationIoU(t *testing.T) {
	a := []float32{0, 1, 2, 3}
	b := []float32{6, 4, 2, 0}
	if c, _ := Correlation(a, b); math.Abs(c+1) > 1e-12 {
		t.Errorf("corr %v, want -1", c)
	}
	if c, _ := Correlation(a, []float32{1, 1, 1, 1}); c != 0 {
		t.Errorf("constant: %v", c)
	}
	if _, err := Correlation(a, b[:3]); err == nil {
		t.Error("length mismatch accepted")
	}
	iou, _ := HotIoU([]float32{1, 1, 0, 0}, []float32{1, 0, 1, 0}, 0.5)
	if math.Abs(iou-1.0/3) > 1e-12 {
		t.Errorf("iou %v", iou)
	}
	if iou, _ = HotIoU([]float32{0}, []float32{0}, 0.5); iou != 0 {
		t.Errorf("empty iou %v", iou)
	}
}

func TestColumn(t *testing.T) {
	c, err := Column([]float32{1, 2, 3, 4, 5, 6}, 3, 2, 1)
	if err != nil || len(c) != 3 || c[0] != 2 || c[2] != 6 {
		t.Errorf("%v %v", c, err)
	}
	if _, err := Column([]float32{1, 2}, 1, 2, 2); err == nil {
		t.Error("column out of range accepted")
	}
}

func TestDrawSAM(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 20, 20))
	for i := 3; i < len(img.Pix); i += 4 {
		img.Pix[i] = 255 // opaque black
	}
	mask := make([]bool, 400)
	mask[0] = true
	out, err := DrawSAM(img, mask, []surgery.Point{{X: 5, Y: 5, Label: 1}, {X: 19, Y: 19, Label: 0}})
	if err != nil {
		t.Fatal(err)
	}
	black := color.RGBA{A: 255}
	if got := out.RGBAAt(8, 5); got != (color.RGBA{255, 102, 0, 255}) { // orange, on the ring (distance 3)
		t.Errorf("ring pixel %v", got)
	}
	if got := out.RGBAAt(5, 5); got != black { // centre stays (ring, not disc)
		t.Errorf("centre %v", got)
	}
	if got := out.RGBAAt(16, 19); got != (color.RGBA{51, 102, 255, 255}) { // blue
		t.Errorf("negative ring %v", got)
	}
	if got := out.RGBAAt(0, 0); got.R != 127 || got.B != 76 || out.RGBAAt(1, 0) != black {
		t.Errorf("mask pixel %v", got)
	}
	if img.RGBAAt(8, 5) != black {
		t.Error("input modified")
	}
	if _, err := DrawSAM(img, mask[:10], nil); err == nil {
		t.Error("mask size mismatch accepted")
	}
}

func TestMapAndRGB(t *testing.T) {
	m, err := MapImage([]float32{0, 1, float32(math.NaN()), 2}, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if m.RGBAAt(0, 0) == m.RGBAAt(1, 0) || m.RGBAAt(0, 1) != m.RGBAAt(0, 0) || m.RGBAAt(1, 1) != m.RGBAAt(1, 0) {
		t.Error("JET map: 0 and 1 must differ, NaN paints as 0 and 2 as 1")
	}
	if _, err := MapImage([]float32{0}, 2, 2); err == nil {
		t.Error("size mismatch accepted")
	}
	rgb, err := FromRGB([]uint8{1, 2, 3, 4, 5, 6}, 2, 1)
	if err != nil || rgb.RGBAAt(1, 0) != (color.RGBA{4, 5, 6, 255}) {
		t.Errorf("%v %v", rgb, err)
	}
	if _, err := FromRGB([]uint8{1}, 1, 1); err == nil {
		t.Error("short pixels accepted")
	}
}

func TestCharts(t *testing.T) {
	svg, err := BarChartSVG("a<b", []Bar{{"x", 1}, {"y & z", -0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Errorf("not well-formed XML: %v", err)
	}
	if strings.Count(svg, "<rect") != 2 {
		t.Error("want 2 bars")
	}
	if _, err := BarChartSVG("t", nil); err == nil {
		t.Error("no bars accepted")
	}
	if _, err := BarChartSVG("t", []Bar{{"n", math.NaN()}}); err == nil {
		t.Error("NaN accepted")
	}
	h, err := HeatMapImage([]float64{0, 1, 2, 3}, 2, 2, 3)
	if err != nil || h.Bounds().Dx() != 6 || h.RGBAAt(0, 0) == h.RGBAAt(5, 5) {
		t.Errorf("heat map: %v", err)
	}
	if _, err := HeatMapImage([]float64{0}, 2, 2, 3); err == nil {
		t.Error("size mismatch accepted")
	}
	tb := Table([]string{"a", "b"}, [][]string{{"1", "x|y"}})
	if !strings.Contains(tb, `| 1 | x\|y |`) || !strings.Contains(tb, "| --- | --- |") {
		t.Errorf("table:\n%s", tb)
	}
	if _, err := PanelHTML(0, Panel{Caption: "none"}); err == nil {
		t.Error("panel without image accepted")
	}
	ph, err := PanelHTML(100, Panel{"c&d", image.NewRGBA(image.Rect(0, 0, 300, 10))})
	if err != nil || !strings.Contains(ph, "width:100px") || !strings.Contains(ph, "c&amp;d") || !strings.Contains(ph, "data:image/png;base64,") {
		t.Errorf("panel html %q %v", ph, err)
	}
}

func TestImagePath(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "x.png"))
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 3, 2))); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Setenv(EnvCache, t.TempDir())
	t.Setenv(EnvOffline, "1")
	t.Setenv(EnvImages, dir)
	img, from, err := Image{Name: "x.png", URL: "http://invalid.example/x.png"}.Load(context.Background())
	if err != nil || img.Bounds().Dx() != 3 || from != "$"+EnvImages {
		t.Fatalf("%v %q %v", img, from, err)
	}
	// Offline and nowhere to be found: a clear error naming the variable, no download.
	_, _, err = Image{Name: "y.png", URL: "http://invalid.example/y.png"}.Path(context.Background())
	if err == nil || !strings.Contains(err.Error(), EnvOffline) {
		t.Errorf("offline miss: %v", err)
	}
	// The per-image override wins, and a missing override file is an error.
	t.Setenv("NBUTIL_TEST_IMG", filepath.Join(dir, "x.png"))
	if _, from, err := (Image{Name: "z.png", Env: "NBUTIL_TEST_IMG"}).Path(context.Background()); err != nil || from != "$NBUTIL_TEST_IMG" {
		t.Errorf("override: %q %v", from, err)
	}
	t.Setenv("NBUTIL_TEST_IMG", filepath.Join(dir, "missing.png"))
	if _, _, err := (Image{Name: "x.png", Env: "NBUTIL_TEST_IMG"}).Path(context.Background()); err == nil {
		t.Error("missing override accepted")
	}
	// LoadOr: the user's file when present, else the fallback, saying so.
	if _, used, fb, err := LoadOr(context.Background(), filepath.Join(dir, "x.png"), Chelsea); err != nil || fb || !strings.HasSuffix(used, "x.png") {
		t.Errorf("LoadOr present: %q %v %v", used, fb, err)
	}
	if _, used, fb, err := LoadOr(context.Background(), filepath.Join(dir, "dog.jpg"), Image{Name: "x.png"}); err != nil || !fb || !strings.Contains(used, "dog.jpg") {
		t.Errorf("LoadOr fallback: %q %v %v", used, fb, err)
	}
	// A corrupt file is an error, not a panic.
	os.WriteFile(filepath.Join(dir, "bad.png"), []byte("not a png"), 0o644)
	if _, _, err := (Image{Name: "bad.png"}).Load(context.Background()); err == nil {
		t.Error("corrupt image accepted")
	}
}

func TestLoadCLIPBadPath(t *testing.T) {
	t.Setenv(EnvWeights, filepath.Join(t.TempDir(), "missing.safetensors"))
	if _, _, err := LoadCLIP(context.Background(), nil); err == nil || !strings.Contains(err.Error(), EnvWeights) {
		t.Errorf("missing weights: %v", err)
	}
}

// TestLoadCLIPGolden loads the tiny golden checkpoint (skips without ../shared/golden, fails under
// CI) and checks that it is
// reported as tiny.
func TestLoadCLIPGolden(t *testing.T) {
	p := goldens.Path(t, "models", "vit16.openai.safetensors")
	t.Setenv(EnvWeights, p)
	m, info, err := LoadCLIP(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Tiny || info.Size != 224 || m == nil || !strings.Contains(info.String(), "random") {
		t.Errorf("info %+v", info)
	}
}

func TestMethodOptions(t *testing.T) {
	if names := MethodNames(); len(names) != len(clip.AllMethods()) || names[0] != "surgery" {
		t.Errorf("MethodNames() = %v", names)
	}
	o, err := MethodOptions("NACLIP", "on", true, 56)
	if err != nil || o.Method != clip.MethodNACLIP || o.FeatureSurgery != surgery.FeatureSurgeryOn || !o.Slide || o.Stride != 56 {
		t.Errorf("MethodOptions: %+v, %v", o, err)
	}
	if o, _ := MethodOptions("", "", false, 56); o.Stride != 0 || o.Method != clip.MethodDefault {
		t.Errorf("stride without slide kept: %+v", o)
	}
	if o, err := MethodOptions("naclip+resclip", "", false, 0); err != nil || o.Method != clip.MethodNACLIP || o.Modifiers != "resclip" {
		t.Errorf("MethodOptions(naclip+resclip) = %+v, %v", o, err)
	}
	for _, bad := range [][2]string{{"gemini", ""}, {"raw", "maybe"}, {"maskclip+resclip", ""}} {
		if _, err := MethodOptions(bad[0], bad[1], false, 0); err == nil {
			t.Errorf("MethodOptions(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

// TestImageDownload: an example image is downloaded through the registry into the cache (mode
// 0644); a response that is not an image is refused and leaves nothing behind.
func TestImageDownload(t *testing.T) { // not parallel: t.Setenv
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 3))); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/good.png" {
			w.Write(buf.Bytes())
			return
		}
		w.Write([]byte("<html>not an image</html>"))
	}))
	defer srv.Close()
	t.Setenv(EnvCache, t.TempDir())
	t.Setenv(EnvOffline, "")
	t.Setenv(EnvImages, "")
	p, from, err := Image{Name: "good.png", URL: srv.URL + "/good.png"}.Path(context.Background())
	if err != nil || from != srv.URL+"/good.png" || p != filepath.Join(CacheDir(), "good.png") {
		t.Fatalf("%q %q %v", p, from, err)
	}
	if st, err := os.Stat(p); err != nil || st.Mode().Perm()&0o044 != 0o044 { // not CreateTemp's 0600
		t.Errorf("mode %v, %v", st.Mode(), err)
	}
	if _, from, err := (Image{Name: "good.png", URL: srv.URL + "/good.png"}).Path(context.Background()); err != nil || from != "cache" {
		t.Errorf("second call: %q %v", from, err)
	}
	_, _, err = Image{Name: "bad.png", URL: srv.URL + "/bad.png"}.Path(context.Background())
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("non-image accepted: %v", err)
	}
	entries, _ := os.ReadDir(CacheDir())
	for _, e := range entries {
		if e.Name() != "good.png" && !strings.HasSuffix(e.Name(), ".lock") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
