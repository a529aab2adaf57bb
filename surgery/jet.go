package surgery

import "math"

// JET returns OpenCV's COLORMAP_JET colour of v, in RGB order (OpenCV itself stores BGR).
//
// The table is built the way OpenCV 4.x builds it (modules/imgproc/src/colormap.cpp, class Jet),
// not copied: OpenCV samples MATLAB's piecewise-linear jet at 256 points x_i = i/255
//
//	r(x) = clamp(min(4x − 1.5, 4.5 − 4x), 0, 1)
//	g(x) = clamp(min(4x − 0.5, 3.5 − 4x), 0, 1)
//	b(x) = clamp(min(4x + 0.5, 2.5 − 4x), 0, 1)
//
// stored as float32, re-interpolates them with its float32 interp1 at linspace(0, 1, 256), and
// converts with convertTo(CV_8U, 255): float32 v·255 rounded half to even. Nearly every ramp value
// lands on .5 after the ·255, so the float32 noise of interp1 decides the level; the emulation
// reproduces OpenCV's table exactly (tested against the stored LUT).
func JET(v uint8) [3]uint8 { return jetLUT[v] }

var jetLUT = buildJetLUT()

func buildJetLUT() (lut [256][3]uint8) {
	const n = 256
	x := linspace32(n)
	var r, g, b [n]float32
	for i := range n {
		t := float64(i) / (n - 1)
		r[i] = float32(jetRamp(4*t-1.5, 4.5-4*t))
		g[i] = float32(jetRamp(4*t-0.5, 3.5-4*t))
		b[i] = float32(jetRamp(4*t+0.5, 2.5-4*t))
	}
	for c, ch := range [3]*[n]float32{&r, &g, &b} {
		for i, yi := range interp1(x[:], ch[:], x[:]) {
			lut[i][c] = saturateRound(yi * 255)
		}
	}
	return lut
}

func jetRamp(up, down float64) float64 { return min(max(min(up, down), 0), 1) }

// linspace32 is OpenCV's linspace(0, 1, n): x0 + i·step in float32.
func linspace32(n int) []float32 {
	step := float32(1) / float32(n-1)
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(i) * step
	}
	return out
}

// interp1 is OpenCV's float32 interp1 for sorted X: binary search for the bracketing pair, then
// Y[lo] + (xi − X[lo])·(Y[hi] − Y[lo]) / (X[hi] − X[lo]), evaluated left to right in float32.
func interp1(X, Y, XI []float32) []float32 {
	out := make([]float32, len(XI))
	for i, xi := range XI {
		lo, hi := 0, len(X)-1
		if xi < X[lo] {
			hi = 1
		}
		if xi > X[hi] {
			lo = hi - 1
		}
		for hi-lo > 1 {
			c := lo + (hi-lo)>>1
			if xi > X[c] {
				lo = c
			} else {
				hi = c
			}
		}
		num := float32((xi - X[lo]) * (Y[hi] - Y[lo]))
		out[i] = Y[lo] + num/(X[hi]-X[lo])
	}
	return out
}

// saturateRound is OpenCV's saturate_cast<uchar>(float): round half to even, clamp to 0..255.
func saturateRound(v float32) uint8 {
	return uint8(min(max(math.RoundToEven(float64(v)), 0), 255))
}
