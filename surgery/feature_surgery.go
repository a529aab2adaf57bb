package surgery

import (
	"errors"
	"fmt"
	"math"
)

// ErrSingleClass is returned by FeatureSurgery for one text class without redundant features.
var ErrSingleClass = errors.New("surgery: feature surgery of a single class needs redundant features: " +
	"pass the features of the empty prompt \"\" (prompt ensemble of \"\") as redundant; " +
	"without them the class-mean equals the class itself and the reference returns NaN")

// FeatureSurgery is the paper's feature surgery (clip_feature_surgery of the reference).
//
// img is [N, C] (L2-normalised image tokens, token 0 = class token), text is [K, C] (normalised text
// features). Without redundant features it removes the features common to all classes:
//
//	p = softmax_k(2 · img[0]·T_k)                  class-token probabilities
//	w = p / mean_k(p)                              (returned; restrains obvious classes)
//	e[n,k,c] = F[n,c]·T[k,c]·w[k]
//	sim[n,k] = Σ_c (e[n,k,c] − mean_k e[n,k,c])
//
// Σ_c is linear, so sim[n,k] = s[n,k] − mean_k s[n,k] with s[n,k] = w_k·(F_n·T_k): that form is
// computed here, in float64 and rounded once (K·C instead of K·K·C work per token; within ~1e-7 of
// the reference's float32 order, checked against the goldens in the tests).
//
// With redundant features R [1, C] (the demo uses the prompt ensemble of ""), the redundancy is that
// explicit vector instead: sim = F @ (T − R)^T, and w is nil.
//
// Errors: no classes (K == 0), mismatched channels, a redundant matrix that is not [1, C], and
// K == 1 without redundant features (ErrSingleClass: the reference divides 0 by 0 there).
func FeatureSurgery(img, text Matrix, redundant *Matrix) (sim Matrix, w []float32, err error) {
	if err := img.check("FeatureSurgery img"); err != nil {
		return Matrix{}, nil, err
	}
	if err := text.check("FeatureSurgery text"); err != nil {
		return Matrix{}, nil, err
	}
	K, C := text.Rows, text.Cols
	switch {
	case K == 0:
		return Matrix{}, nil, errors.New("surgery: feature surgery needs at least one text class")
	case img.Cols != C:
		return Matrix{}, nil, fmt.Errorf("surgery: image features have %d channels, text features %d", img.Cols, C)
	case img.Rows == 0:
		return Matrix{}, nil, errors.New("surgery: feature surgery needs at least the class token")
	}
	if redundant != nil {
		if err := redundant.check("FeatureSurgery redundant"); err != nil {
			return Matrix{}, nil, err
		}
		if redundant.Rows != 1 || redundant.Cols != C {
			return Matrix{}, nil, fmt.Errorf("surgery: redundant features must be [1, %d], got [%d, %d]", C, redundant.Rows, redundant.Cols)
		}
		return surgeryRedundant(img, text, redundant.Data), nil, nil
	}
	if K == 1 {
		return Matrix{}, nil, ErrSingleClass
	}
	w = classWeights(img.Row(0), text)
	sim = NewMatrix(img.Rows, K)
	parallelRows(img.Rows, func(lo, hi int) {
		s64 := make([]float64, K)
		for n := lo; n < hi; n++ {
			// In float64 throughout, rounded once: see dot64Generic for why.
			f := img.Row(n)
			var sum float64
			for k := range s64 {
				s64[k] = float64(float64(w[k]) * dot64(f, text.Row(k)))
				sum += s64[k]
			}
			mean := sum / float64(K)
			for k, v := range s64 {
				sim.Data[n*K+k] = float32(v - mean)
			}
		}
	})
	return sim, w, nil
}

// classWeights is w = softmax(2·cls·T^T) / mean(softmax(...)), in float32 like the reference
// (max-subtracted exponentials, float32 sum, mean = sum/K).
func classWeights(cls []float32, text Matrix) []float32 {
	K := text.Rows
	w := make([]float32, K)
	maxL := float32(math.Inf(-1))
	for k := range w {
		w[k] = float32(dot64(cls, text.Row(k))) * 2
		maxL = max(maxL, w[k])
	}
	var sum float32
	for k := range w {
		w[k] = float32(math.Exp(float64(w[k] - maxL)))
		sum += w[k]
	}
	var psum float32
	for k := range w {
		w[k] /= sum
		psum += w[k]
	}
	mean := psum / float32(K)
	for k := range w {
		w[k] /= mean
	}
	return w
}

// surgeryRedundant is sim = F @ (T − R)^T, subtracting first as the reference does.
func surgeryRedundant(img, text Matrix, r []float32) Matrix {
	d := NewMatrix(text.Rows, text.Cols)
	for k := 0; k < text.Rows; k++ {
		t, o := text.Row(k), d.Row(k)
		for c := range o {
			o[c] = t[c] - r[c]
		}
	}
	return RawSimilarity(img, d)
}

// featureSurgeryReference is the reference's literal order (e, its class mean, Σ_c of the
// difference), O(N·K·C) extra work per class. Kept for the tests that check the fast form.
func featureSurgeryReference(img, text Matrix, w []float32) Matrix {
	K, C := text.Rows, text.Cols
	sim := NewMatrix(img.Rows, K)
	e := make([]float32, K*C)
	r := make([]float32, C)
	for n := 0; n < img.Rows; n++ {
		f := img.Row(n)
		clear(r)
		for k := 0; k < K; k++ {
			t := text.Row(k)
			for c := 0; c < C; c++ {
				v := float32(f[c]*t[c]) * w[k]
				e[k*C+c] = v
				r[c] += v
			}
		}
		for c := range r {
			r[c] /= float32(K)
		}
		for k := 0; k < K; k++ {
			var s float32
			for c := 0; c < C; c++ {
				s += e[k*C+c] - r[c]
			}
			sim.Data[n*K+k] = s
		}
	}
	return sim
}
