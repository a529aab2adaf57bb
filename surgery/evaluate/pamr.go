package evaluate

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// PAMR is pixel-adaptive mask refinement (Araslanov & Roth, "Single-Stage Semantic Segmentation
// from Image Labels", CVPR 2020, §3.2; their visinf/1-stage-wseg models/mods/pamr.py) as NACLIP's
// release runs it before postprocess_result (sinahmr/NACLIP pamr.py; naclip.py predict: the guide
// is the normalised network input resized bilinearly to the original size, the mask the per-name
// logits at that size, pamr_steps=10, pamr_stride=(8, 16)).
//
// guide holds K row-major h×w channels, mask C planes of the same size. For every pixel p and
// dilation d the 8 neighbours at offsets (dy, dx) ∈ {−d, 0, d}² without (0, 0), row by row,
// coordinates clamped to the image (the module's replicate padding), are P = 8·len(dilations)
// neighbours q_j with the affinity
//
//	a_j(p) = mean over k of −|x_k(p) − x_k(q_j)| / (1e-8 + 0.1·σ_k(p))
//
// where σ_k(p) is the unbiased standard deviation of channel k over the 3×3 dilated
// neighbourhoods of p, centre included, all dilations together (9·len(dilations) values). The
// weights are softmax_j(a_j(p)), computed once; each of the steps iterations replaces every mask
// value by the weighted sum of its neighbours' values.
//
// Precision: affinities, softmax and every weighted sum in float64; the weights and the mask
// between iterations are stored as float32 (the peer runs all of it in float32). Memory: P float32
// weights per pixel, the C refined planes and two blocks of 16 planes; the peer materialises the
// C·P neighbour values at once instead. The input planes are not changed.
func PAMR(ctx context.Context, guide, mask [][]float32, h, w, steps int, dilations []int) ([][]float32, error) {
	if h <= 0 || w <= 0 || len(guide) == 0 || len(mask) == 0 || steps < 0 || len(dilations) == 0 {
		return nil, fmt.Errorf("evaluate: PAMR of %d guide and %d mask planes of %d×%d, %d steps, dilations %v: "+
			"want planes, a positive size, steps ≥ 0 and dilations", len(guide), len(mask), w, h, steps, dilations)
	}
	for _, d := range dilations {
		if d <= 0 {
			return nil, fmt.Errorf("evaluate: PAMR dilation %d: want ≥ 1", d)
		}
	}
	for _, planes := range [][][]float32{guide, mask} {
		for _, p := range planes {
			if len(p) != h*w {
				return nil, fmt.Errorf("evaluate: PAMR plane of %d values for %d×%d", len(p), w, h)
			}
		}
	}
	nb := newNeighbours(h, w, dilations)
	weights := pamrWeights(guide, nb)
	out := make([][]float32, len(mask))
	for c := range out {
		out[c] = make([]float32, h*w)
	}
	// The mask is refined pamrBlock channels at a time, channel-last, so that each neighbour's
	// weight multiplies a contiguous run of channels.
	src, dst := make([]float32, h*w*pamrBlock), make([]float32, h*w*pamrBlock)
	for c0 := 0; c0 < len(mask); c0 += pamrBlock {
		nc := min(pamrBlock, len(mask)-c0)
		for p := range h * w {
			for i := range nc {
				src[p*pamrBlock+i] = mask[c0+i][p]
			}
		}
		for range steps {
			if err := forEachParallel(ctx, h, func(y int) { nb.propagateRow(dst, src, weights, y) }); err != nil {
				return nil, err
			}
			src, dst = dst, src
		}
		for p := range h * w {
			for i := range nc {
				out[c0+i][p] = src[p*pamrBlock+i]
			}
		}
	}
	return out, nil
}

// pamrBlock is how many mask channels one pass refines together.
const pamrBlock = 16

// neighbours indexes the P clamped neighbours of every pixel: neighbour j of (y, x) is
// row[j][y]·w + col[j][x].
type neighbours struct {
	h, w     int
	row, col [][]int
	// ring lists, per dilation, the 9 offsets of its 3×3 neighbourhood (centre included) as
	// indices into row/col, the centre being index -1.
	ring [][9]int
}

func newNeighbours(h, w int, dilations []int) *neighbours {
	nb := &neighbours{h: h, w: w}
	clampIdx := func(n, off int) []int {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = min(max(i+off, 0), n-1)
		}
		return idx
	}
	for _, d := range dilations {
		var ring [9]int
		for k := range 9 {
			dy, dx := (k/3-1)*d, (k%3-1)*d
			if dy == 0 && dx == 0 {
				ring[k] = -1
				continue
			}
			ring[k] = len(nb.row)
			nb.row = append(nb.row, clampIdx(h, dy))
			nb.col = append(nb.col, clampIdx(w, dx))
		}
		nb.ring = append(nb.ring, ring)
	}
	return nb
}

// pamrWeights are the softmax-normalised affinities, P planes of h×w.
func pamrWeights(guide [][]float32, nb *neighbours) [][]float32 {
	h, w, p := nb.h, nb.w, len(nb.row)
	weights := make([][]float32, p)
	for j := range weights {
		weights[j] = make([]float32, h*w)
	}
	n := float64(9 * len(nb.ring))
	_ = forEachParallel(context.Background(), h, func(y int) {
		vals := make([]float64, 0, 9*len(nb.ring))
		aff := make([]float64, p)
		for x := range w {
			i := y*w + x
			clearAVXUpper() // keeps math.Exp fast (simd_amd64.go)
			clear(aff)
			for _, g := range guide {
				vals = vals[:0]
				for _, ring := range nb.ring {
					for _, j := range ring {
						if j < 0 {
							vals = append(vals, float64(g[i]))
						} else {
							vals = append(vals, float64(g[nb.row[j][y]*w+nb.col[j][x]]))
						}
					}
				}
				var mean, ss float64
				for _, v := range vals {
					mean += v
				}
				mean /= n
				for _, v := range vals {
					ss += (v - mean) * (v - mean)
				}
				den := 1e-8 + 0.1*math.Sqrt(ss/(n-1))
				for j := range aff {
					aff[j] -= math.Abs(float64(g[i])-float64(g[nb.row[j][y]*w+nb.col[j][x]])) / den
				}
			}
			m := math.Inf(-1)
			for j := range aff {
				aff[j] /= float64(len(guide))
				m = max(m, aff[j])
			}
			var sum float64
			for j := range aff {
				aff[j] = math.Exp(aff[j] - m)
				sum += aff[j]
			}
			for j := range aff {
				weights[j][i] = float32(aff[j] / sum)
			}
		}
	})
	return weights
}

// propagateRowGeneric is one refinement step on row y of a channel-last block of pamrBlock
// channels: dst(p) = Σ_j weight_j(p)·src(q_j), each product and sum in float64, rounded to
// float32 once.
func (nb *neighbours) propagateRowGeneric(dst, src []float32, weights [][]float32, y int) {
	w := nb.w
	rows := nb.sourceRows(y)
	for x := range w {
		i := y*w + x
		var acc [pamrBlock]float64
		for j, wj := range weights {
			wt := float64(wj[i])
			q := (rows[j] + nb.col[j][x]) * pamrBlock
			s := (*[pamrBlock]float32)(src[q : q+pamrBlock])
			for k := range acc {
				acc[k] += wt * float64(s[k])
			}
		}
		d := dst[i*pamrBlock : (i+1)*pamrBlock]
		for k := range d {
			d[k] = float32(acc[k])
		}
	}
}

// sourceRows are the offsets of the P neighbours' rows for row y.
func (nb *neighbours) sourceRows(y int) []int {
	rows := make([]int, len(nb.row))
	for j := range rows {
		rows[j] = nb.row[j][y] * nb.w
	}
	return rows
}

// forEachParallel runs fn(0..n−1) on up to GOMAXPROCS workers and returns ctx's error if ctx ends
// first (remaining items are then not run).
func forEachParallel(ctx context.Context, n int, fn func(i int)) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	var err error
	for i := range n {
		if err = ctx.Err(); err != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return err
}
