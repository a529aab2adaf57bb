package evaluate

import (
	"errors"
	"math"
	"math/big"
)

// exactSumPrec is the precision of exactSum: every finite float64 is an integer multiple of
// 2^-1074 below 2^1024, so a sum of fewer than 2^100 of them is such a multiple below 2^1124 and
// fits in 2198 bits — the additions never round.
const exactSumPrec = 2200

// exactSum is a sum of float64 values kept exactly, so that its value does not depend on the
// order in which the values were added or partial sums merged: a distributed evaluation
// (Report.Merge) combines its workers' sums in whatever order they finish, and still gets Run's
// value bit for bit. Value rounds once, to the nearest float64. The zero value is 0.
type exactSum struct{ f *big.Float }

// add adds a finite value (the caller checks: big.Float refuses NaN).
func (s *exactSum) add(v float64) {
	s.addBig(new(big.Float).SetFloat64(v))
}

func (s *exactSum) addBig(v *big.Float) {
	if s.f == nil {
		s.f = new(big.Float).SetPrec(exactSumPrec)
	}
	s.f.Add(s.f, v)
}

// merge adds o's sum to s.
func (s *exactSum) merge(o exactSum) {
	if o.f != nil {
		s.addBig(o.f)
	}
}

// value is the sum rounded to the nearest float64.
func (s exactSum) value() float64 {
	if s.f == nil {
		return 0
	}
	v, _ := s.f.Float64()
	return v
}

// MarshalText writes the sum exactly (hexadecimal mantissa and binary exponent).
func (s exactSum) MarshalText() ([]byte, error) {
	if s.f == nil {
		return []byte("0"), nil
	}
	return []byte(s.f.Text('p', 0)), nil
}

// UnmarshalText reads what MarshalText wrote.
func (s *exactSum) UnmarshalText(b []byte) error {
	f, _, err := new(big.Float).SetPrec(exactSumPrec).Parse(string(b), 0)
	if err != nil {
		return err
	}
	if f.IsInf() {
		return errors.New("evaluate: infinite sum")
	}
	s.f = f
	return nil
}

// finite says whether v can be added to an exactSum.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
