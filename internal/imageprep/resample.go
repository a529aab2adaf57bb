package imageprep

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// precisionBits is Pillow's fixed-point precision for 8-bit images: 32 - 8 (sample) - 2 (headroom
// for negative lobes), so that sums of 255*k stay inside int32.
const precisionBits = 22

// kernel holds one axis' fixed-point filter: output i reads input [start[i], start[i]+n[i]) with
// weights k[i*ksize : i*ksize+n[i]].
type kernel struct {
	start, n []int
	k        []int32
	ksize    int
}

// bicubic is Pillow's Keys cubic (a = -0.5), evaluated in Pillow's order. The float64()
// conversions forbid fused multiply-adds, which would change the last bit and, rarely, a
// fixed-point coefficient.
func bicubic(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		t := float64((a+2)*x) - (a + 3)
		t = float64(t * x)
		t = float64(t * x)
		return t + 1
	}
	if x < 2 {
		t := float64((x-5)*x) + 8
		t = float64(t*x) - 4
		return t * a
	}
	return 0
}

// filter is one of Pillow's resampling filters: its function and its support at scale 1.
type filter struct {
	fn      func(float64) float64
	support float64
}

var bicubicFilter = filter{fn: bicubic, support: 2}

// newFilterKernel mirrors Pillow 9.4's precompute_coeffs + normalize_coeffs_8bpc for a resize
// of inSize samples to outSize (box = the whole axis) with filter f.
func newFilterKernel(inSize, outSize int, f filter) *kernel {
	// Pillow keeps the box in float32: in1 - in0 is float32(inSize).
	scale := float64(float32(inSize)) / float64(outSize)
	filterscale := max(scale, 1)
	support := f.support * filterscale // widened when downscaling (antialias)
	ksize := int(math.Ceil(support))*2 + 1
	kn := &kernel{start: make([]int, outSize), n: make([]int, outSize), k: make([]int32, outSize*ksize), ksize: ksize}
	ss := 1 / filterscale // Pillow multiplies by the reciprocal rather than dividing
	w := make([]float64, ksize)
	for xx := range outSize {
		center := float64(float64(xx)+0.5) * scale
		xmin := max(int(center-support+0.5), 0) // int() truncates toward zero, like C's (int)
		xmax := min(int(center+support+0.5), inSize)
		n := xmax - xmin
		ww := 0.0
		for x := range n {
			w[x] = f.fn(float64(float64(x+xmin)-center+0.5) * ss)
			ww += w[x]
		}
		k := kn.k[xx*ksize : xx*ksize+n]
		for x := range n {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			// Round half away from zero to 22-bit fixed point (the product is exact).
			if v < 0 {
				k[x] = int32(-0.5 + float64(v*(1<<precisionBits)))
			} else {
				k[x] = int32(0.5 + float64(v*(1<<precisionBits)))
			}
		}
		kn.start[xx], kn.n[xx] = xmin, n
	}
	return kn
}

// clip8 is Pillow's rounding-shift-and-clamp of a fixed-point sum (already holding the 0.5 bias).
func clip8(ss int32) uint8 {
	v := ss >> precisionBits // arithmetic shift, as in C for these values
	if v <= 0 {
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(v)
}

const half = 1 << (precisionBits - 1)

// horizontalRow resamples one row of c-channel pixels (src) into dst.
func horizontalRow(dst, src []uint8, c int, kn *kernel) {
	for xx, xmin := range kn.start {
		n := kn.n[xx]
		k := kn.k[xx*kn.ksize : xx*kn.ksize+n]
		switch c {
		case 1:
			s := src[xmin : xmin+n]
			ss := int32(half)
			for i, kv := range k {
				ss += int32(s[i]) * kv
			}
			dst[xx] = clip8(ss)
		case 3:
			s := src[3*xmin : 3*(xmin+n)]
			ss0, ss1, ss2 := int32(half), int32(half), int32(half)
			for i, kv := range k {
				p := s[3*i : 3*i+3]
				ss0 += int32(p[0]) * kv
				ss1 += int32(p[1]) * kv
				ss2 += int32(p[2]) * kv
			}
			d := dst[3*xx : 3*xx+3]
			d[0], d[1], d[2] = clip8(ss0), clip8(ss1), clip8(ss2)
		case 4:
			s := src[4*xmin : 4*(xmin+n)]
			ss0, ss1, ss2, ss3 := int32(half), int32(half), int32(half), int32(half)
			for i, kv := range k {
				p := s[4*i : 4*i+4]
				ss0 += int32(p[0]) * kv
				ss1 += int32(p[1]) * kv
				ss2 += int32(p[2]) * kv
				ss3 += int32(p[3]) * kv
			}
			d := dst[4*xx : 4*xx+4]
			d[0], d[1], d[2], d[3] = clip8(ss0), clip8(ss1), clip8(ss2), clip8(ss3)
		}
	}
}

// verticalRow writes output row yy: a weighted sum of rows of tmp (rowLen bytes each). It sums
// row by row into acc (cache friendly); integer addition is exact, so the order does not matter.
func verticalRow(dst, tmp []uint8, rowLen, yy int, kn *kernel, acc []int32) {
	ymin, n := kn.start[yy], kn.n[yy]
	for i := range acc {
		acc[i] = half
	}
	for y, kv := range kn.k[yy*kn.ksize : yy*kn.ksize+n] {
		row := tmp[(ymin+y)*rowLen : (ymin+y+1)*rowLen]
		for i, v := range row {
			acc[i] += int32(v) * kv
		}
	}
	for i, s := range acc {
		dst[i] = clip8(s)
	}
}

// parallel runs f over [0, n) split into contiguous chunks, one per CPU, when the work is large
// enough to pay for goroutines. Each output element is computed by exactly one call, so the
// result does not depend on the split.
func parallel(n, workPerItem int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	if workers <= 1 || n*workPerItem < 1<<16 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi)
		}()
	}
	wg.Wait()
}

// resample is Pillow's ImagingResample for 8-bit images with BICUBIC: the horizontal pass first,
// over only the source rows the vertical pass will read, into a uint8 intermediate of the new
// width, then the vertical pass. A pass whose size does not change is skipped (it would be the
// identity). Rows are pulled from src one at a time, so no converted copy of the input is kept.
func resample(src source, ow, oh int) *Pixels { return resampleFilter(src, ow, oh, bicubicFilter) }

// resampleFilter is resample with any of Pillow's filters.
func resampleFilter(src source, ow, oh int, f filter) *Pixels {
	c := src.c
	var kh, kv *kernel
	if ow != src.w {
		kh = newFilterKernel(src.w, ow, f)
	}
	y0, y1 := 0, src.h
	if oh != src.h {
		kv = newFilterKernel(src.h, oh, f)
		y0, y1 = kv.start[0], kv.start[oh-1]+kv.n[oh-1]
	}
	rowLen := ow * c

	// Horizontal pass (or a plain copy of the needed rows).
	tmp := make([]uint8, (y1-y0)*rowLen)
	hwork := rowLen
	if kh != nil {
		hwork *= kh.ksize
	}
	parallel(y1-y0, hwork, func(lo, hi int) {
		buf := make([]uint8, src.w*c)
		for y := lo; y < hi; y++ {
			row := src.row(y0+y, buf)
			if kh != nil {
				horizontalRow(tmp[y*rowLen:(y+1)*rowLen], row, c, kh)
			} else {
				copy(tmp[y*rowLen:(y+1)*rowLen], row)
			}
		}
	})
	if kv == nil {
		return &Pixels{W: ow, H: oh, C: c, Pix: tmp}
	}

	// Vertical pass: the row offsets are relative to y0.
	for i := range kv.start {
		kv.start[i] -= y0
	}
	out := make([]uint8, oh*rowLen)
	parallel(oh, rowLen*kv.ksize, func(lo, hi int) {
		acc := make([]int32, rowLen)
		for yy := lo; yy < hi; yy++ {
			verticalRow(out[yy*rowLen:(yy+1)*rowLen], tmp, rowLen, yy, kv, acc)
		}
	})
	return &Pixels{W: ow, H: oh, C: c, Pix: out}
}

// resizeSource is Pillow's Image.resize((w, h), BICUBIC) in the source's mode, including the
// RGBA -> RGBa -> resize -> RGBA detour and the plain copy when the size does not change.
func resizeSource(src source, w, h int) *Pixels { return resizeSourceFilter(src, w, h, bicubicFilter) }

// resizeSourceFilter is resizeSource with any of Pillow's filters.
func resizeSourceFilter(src source, w, h int, f filter) *Pixels {
	if w == src.w && h == src.h {
		return materialize(src)
	}
	if src.c != 4 {
		return resampleFilter(src, w, h, f)
	}
	inner := src.row
	pre := source{w: src.w, h: src.h, c: 4, row: func(y int, buf []uint8) []uint8 {
		row := inner(y, buf)
		premultiplyRow(buf[:len(row)], row)
		return buf[:len(row)]
	}}
	out := resampleFilter(pre, w, h, f)
	unpremultiplyRow(out.Pix)
	return out
}

func materialize(src source) *Pixels {
	stride := src.w * src.c
	p := &Pixels{W: src.w, H: src.h, C: src.c, Pix: make([]uint8, src.h*stride)}
	parallel(src.h, stride, func(lo, hi int) {
		buf := make([]uint8, stride)
		for y := lo; y < hi; y++ {
			copy(p.Pix[y*stride:(y+1)*stride], src.row(y, buf))
		}
	})
	return p
}

func checkSize(w, h int) {
	if w <= 0 || h <= 0 {
		panic(fmt.Sprintf("imageprep: resize to %dx%d: sizes must be positive", w, h))
	}
}

// Resize is Pillow 9.4's Image.resize((w, h), BICUBIC) of an RGB image, bit for bit: antialiased
// when downscaling, any factor, non-square allowed. It panics on non-positive sizes or a Pix of
// the wrong length (programming errors).
func Resize(src *RGB, w, h int) *RGB {
	checkSize(w, h)
	if len(src.Pix) != src.W*src.H*3 || src.W <= 0 || src.H <= 0 {
		panic(fmt.Sprintf("imageprep: Resize of a %dx%d RGB image with %d bytes", src.W, src.H, len(src.Pix)))
	}
	p := resizeSource(pixelsSource(&Pixels{W: src.W, H: src.H, C: 3, Pix: src.Pix}), w, h)
	return &RGB{W: p.W, H: p.H, Pix: p.Pix}
}

// ResizePixels is Pillow's Image.resize((w, h), BICUBIC) in the image's mode: L and RGB resample
// directly, RGBA goes through premultiplied alpha (see the package doc). Panics like Resize.
func ResizePixels(src *Pixels, w, h int) *Pixels {
	checkSize(w, h)
	if _, err := PixelsFromArray(src.H, src.W, src.C, src.Pix); err != nil {
		panic(err.Error())
	}
	return resizeSource(pixelsSource(src), w, h)
}
