package imageprep_test

import (
	"bytes"
	"image"
	"image/jpeg"
	"runtime"
	"sync"
	"testing"

	"github.com/clipsurgery/clipsurgery/internal/imageprep"
	"github.com/clipsurgery/clipsurgery/internal/racedetect"
)

// photoJPEG encodes a w×h photo-like image (smooth gradients plus texture) as a 4:2:0 JPEG, the
// layout of camera files.
func photoJPEG(tb testing.TB, w, h int) []byte {
	m := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := range h {
		for x := range w {
			m.Y[y*m.YStride+x] = uint8((x*255/w + y*255/h + (x*y)%17) / 2)
		}
	}
	for i := range m.Cb {
		m.Cb[i], m.Cr[i] = uint8(i*7), uint8(128+i%40)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 85}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// decodeAndPreprocess is the image path of the CLI and Explainer: bytes → image → 3×n×n tensor.
func decodeAndPreprocess(tb testing.TB, data []byte, n int) {
	img, _, err := imageprep.Decode(bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := imageprep.Preprocess(img, n); err != nil {
		tb.Fatal(err)
	}
}

// TestPreprocessMemory bounds what a decode + preprocess allocates, in units of the photo's RGB
// size (3 bytes a pixel): Go's JPEG decoder holds 4:2:0 YCbCr (1.5 bytes a pixel), the file is
// read into memory once, and Preprocess resamples from the decoder's buffer without an RGB copy.
// A regression that materialises an RGB (or RGBA) copy of the photo pushes this over 1.
func TestPreprocessMemory(t *testing.T) {
	if racedetect.Enabled {
		t.Skip("the race detector's instrumentation changes what is allocated")
	}
	const w, h = 1500, 1000
	data := photoJPEG(t, w, h)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	decodeAndPreprocess(t, data, 224)
	runtime.ReadMemStats(&after)
	copies := float64(after.TotalAlloc-before.TotalAlloc-uint64(len(data))) / (3 * w * h)
	t.Logf("%dx%d JPEG of %d bytes: %.2f RGB-sized copies allocated besides the file", w, h, len(data), copies)
	if copies > 1 {
		t.Errorf("decode + preprocess allocated %.2f RGB-sized copies of the image (want < 1)", copies)
	}
}

var (
	bigOnce sync.Once
	bigJPEG []byte
)

// BenchmarkPreprocessLargeJPEG decodes and preprocesses a generated 6000×4000 JPEG (24 MP) at 224.
// Besides B/op it reports rgb-copies/op, the allocation in units of the photo's 72 MB RGB size,
// and peak-heap-MB, the largest live heap seen during one operation (sampled by a goroutine).
func BenchmarkPreprocessLargeJPEG(b *testing.B) {
	const w, h = 6000, 4000
	bigOnce.Do(func() { bigJPEG = photoJPEG(b, w, h) })
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	peak := uint64(0)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // sample the live heap
		defer close(done)
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			default:
			}
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}()
	ops := 0
	for b.Loop() {
		decodeAndPreprocess(b, bigJPEG, 224)
		ops++
	}
	close(stop)
	<-done
	runtime.ReadMemStats(&after)
	perOp := float64(after.TotalAlloc-before.TotalAlloc) / float64(ops)
	b.ReportMetric(perOp/(3*w*h), "rgb-copies/op")
	b.ReportMetric(float64(peak-before.HeapAlloc)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(len(bigJPEG))/(1<<20), "file-MB")
}
