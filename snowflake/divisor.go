package snowflake

import "math/bits"

// divisor divides numbers below 2^63 by a constant d >= 2 with a multiply
// and a shift instead of a division instruction, which costs several times
// more on the hot path. With l = ceil(log2 d) and m = ceil(2^(63+l) / d),
// floor(x/d) = floor(x*m / 2^(63+l)) for every x < 2^63: the error of m,
// e = m*d - 2^(63+l), is below d <= 2^l, so x*e/(d*2^(63+l)) < 1/d, which
// cannot carry x/d past the next integer. m fits in 64 bits for d >= 2.
type divisor struct {
	m     uint64
	shift uint8 // l-1: the high word of x*m is x*m / 2^64
}

func newDivisor(d uint64) divisor {
	l := uint8(bits.Len64(d - 1))
	// m = ceil(2^(63+l) / d), computed as floor((2^(63+l) - 1) / d) + 1.
	hi, lo := uint64(1)<<(l-1), uint64(0)
	hi, lo = sub128(hi, lo, 0, 1)
	q, _ := bits.Div64(hi, lo, d)
	return divisor{m: q + 1, shift: l - 1}
}

func sub128(hi, lo, bhi, blo uint64) (uint64, uint64) {
	lo, borrow := bits.Sub64(lo, blo, 0)
	hi, _ = bits.Sub64(hi, bhi, borrow)
	return hi, lo
}

func (v divisor) div(x uint64) uint64 {
	hi, _ := bits.Mul64(x, v.m)
	return hi >> v.shift
}
