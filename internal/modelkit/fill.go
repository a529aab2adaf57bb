package modelkit

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/clipsurgery/clipsurgery/weights"
	"github.com/gomlx/compute"
	"github.com/gomlx/compute/gobackend"
)

// Filling a weight buffer from a checkpoint tensor: the values are read (for a lazy tensor, from
// the file) in blocks of rows that stay in cache and, for dense weights, transposed from there
// into the buffer, so a transpose costs no extra pass over memory. Large tensors are split across
// the cores by rows.

// blockRows is how many source rows a transpose moves at once: 16 float32 of one destination
// column are one 64-byte cache line.
const blockRows = 16

// stageBytes bounds the staging buffer of a lazy dense tensor (a few blocks of rows).
const stageBytes = 256 << 10

// splitMin is the fewest elements worth handing to another goroutine.
const splitMin = 1 << 16

// fillWeight writes t's values into dst: as stored, or, with dense, transposed from [out, in] to
// [in, out].
func fillWeight(dst []float32, t *weights.Tensor, dense bool) error {
	if !dense {
		return inParallel(len(dst), 1, len(dst), func(lo, hi int) error { return t.ReadF32(dst[lo:hi], lo) })
	}
	rows, cols := t.Shape[0], t.Shape[1]
	if rows == 0 || cols == 0 {
		return nil
	}
	return inParallel(rows, blockRows, len(dst), func(lo, hi int) error {
		if t.F32 != nil { // a host tensor: transpose from it directly
			transposeRows(dst, t.F32[lo*cols:hi*cols], rows, cols, lo)
			return nil
		}
		step := max(blockRows, stageBytes/4/cols/blockRows*blockRows)
		stage := make([]float32, min(step, hi-lo)*cols)
		for r := lo; r < hi; r += step {
			k := min(step, hi-r)
			if err := t.ReadF32(stage[:k*cols], r*cols); err != nil {
				return err
			}
			transposeRows(dst, stage[:k*cols], rows, cols, r)
		}
		return nil
	})
}

// transposeRows writes rows [r0, r0+len(src)/cols) of a row-major [rows, cols] matrix, given as
// src, into their places in out, the matrix's [cols, rows] transpose. It moves blockRows rows at
// a time, so each destination column gets whole cache lines while the source rows stay in cache.
func transposeRows(out, src []float32, rows, cols, r0 int) {
	n := len(src) / cols
	b := 0
	for ; b+blockRows <= n; b += blockRows {
		transposeBlock(out[r0+b:], rows, src[b*cols:(b+blockRows)*cols], cols, cols)
	}
	if k := n - b; k > 0 {
		blk := src[b*cols : n*cols]
		for j := 0; j < cols; j++ {
			d := out[j*rows+r0+b:][:k]
			for i := range d {
				d[i] = blk[i*cols+j]
			}
		}
	}
}

// transposeBlock writes the first cols values of blockRows rows of blk (stride blkStride) as the
// first blockRows elements of cols rows of out (stride outStride).
func transposeBlock(out []float32, outStride int, blk []float32, blkStride, cols int) {
	var r [blockRows][]float32
	for i := range r {
		r[i] = blk[i*blkStride : i*blkStride+cols]
	}
	for j := 0; j < cols; j++ {
		d := (*[blockRows]float32)(out[j*outStride:])
		d[0], d[1], d[2], d[3] = r[0][j], r[1][j], r[2][j], r[3][j]
		d[4], d[5], d[6], d[7] = r[4][j], r[5][j], r[6][j], r[7][j]
		d[8], d[9], d[10], d[11] = r[8][j], r[9][j], r[10][j], r[11][j]
		d[12], d[13], d[14], d[15] = r[12][j], r[13][j], r[14][j], r[15][j]
	}
}

// fillPacked writes the dense weight t, torch's [out, in], into dst in the layout the go backend's
// kernel reads (gobackend.DensePackedPanels): each strip of 32 output features, 32 rows of t,
// is read once (for a lazy tensor, in one read from the file) and transposed from there into its
// place in every panel, blockRows rows at a time. Strips are split across the cores. One pass,
// as for an unpacked dense weight (fillWeight).
func fillPacked(dst []float32, t *weights.Tensor) error {
	out, in := t.Shape[0], t.Shape[1]
	const strip = compute.DensePackedStrip
	panels := gobackend.DensePackedPanels(in, out)
	if panels == nil || len(dst) != out*in {
		return fmt.Errorf("dense weight of shape %v cannot be packed", t.Shape)
	}
	return inParallel(out, strip, len(dst), func(lo, hi int) error {
		var stage []float32
		if t.F32 == nil {
			stage = make([]float32, strip*in)
		}
		for c := lo; c < hi; c += strip {
			src := stage
			if t.F32 != nil {
				src = t.F32[c*in : (c+strip)*in]
			} else if err := t.ReadF32(src, c*in); err != nil {
				return err
			}
			for _, p := range panels {
				if c < p.C0 || c >= p.C0+p.Cols {
					continue
				}
				base := p.Offset + (c-p.C0)*p.Rows // the strip's [p.Rows, strip] block
				for h := 0; h < strip; h += blockRows {
					transposeBlock(dst[base+h:], strip, src[h*in+p.K0:], in, p.Rows)
				}
			}
		}
		return nil
	})
}

// inParallel calls fn on consecutive ranges [lo, hi) covering [0, n), one per core (fewer when
// the work, in elements, is small), with boundaries at multiples of align; it returns the first
// error.
func inParallel(n, align, work int, fn func(lo, hi int) error) error {
	parts := min(runtime.GOMAXPROCS(0), work/splitMin, n/align)
	if parts <= 1 {
		return fn(0, n)
	}
	per := (n + parts - 1) / parts
	per = (per + align - 1) / align * align
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := 0; p < parts; p++ {
		lo, hi := p*per, min((p+1)*per, n)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[p] = fn(lo, hi)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
