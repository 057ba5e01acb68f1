package snowflake

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDivisor(t *testing.T) {
	t.Parallel()
	divisors := []uint64{2, 3, 7, 1000, 1 << 20, uint64(time.Millisecond), uint64(10 * time.Millisecond),
		uint64(7 * time.Millisecond), uint64(time.Second), uint64(time.Hour), 1<<62 + 1, math.MaxInt64}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, d := range divisors {
		v := newDivisor(d)
		xs := []uint64{0, 1, d - 1, d, d + 1, math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64 / d * d, math.MaxInt64/d*d - 1}
		for range 100000 {
			x := rng.Uint64() >> 1
			q := x / d
			xs = append(xs, x, q*d)
			if q > 0 {
				xs = append(xs, q*d-1)
			}
		}
		for _, x := range xs {
			if v.div(x) != x/d { // require.Equal on every x would take seconds
				require.Equal(t, x/d, v.div(x), "%d / %d", x, d)
			}
		}
	}
}

// divSink keeps the benchmarks' results alive.
var divSink uint64

// BenchmarkDivisor compares the multiply-shift divisor with a division
// instruction, dividing elapsed nanoseconds (up to about 50 days of them) by
// a tick length the compiler cannot see, as tickAt does on every call. Each
// dividend depends on the previous quotient, so that the benchmark measures
// the latency of a division, as in Next, where the compare-and-swap waits
// for the tick, and not the throughput of independent ones.
func BenchmarkDivisor(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	xs := make([]uint64, 1024)
	for i := range xs {
		xs[i] = rng.Uint64() >> 22
	}
	for _, unit := range []time.Duration{time.Millisecond, 10 * time.Millisecond} {
		g := &Generator{unit: int64(unit), div: newDivisor(uint64(unit))}
		b.Run("multiply-shift/"+unit.String(), func(b *testing.B) {
			b.ReportAllocs()
			var q uint64
			i := 0
			for b.Loop() {
				q = g.div.div(xs[i&1023] ^ q&1)
				i++
			}
			divSink = q
		})
		b.Run("division/"+unit.String(), func(b *testing.B) {
			b.ReportAllocs()
			var q uint64
			i := 0
			for b.Loop() {
				q = (xs[i&1023] ^ q&1) / uint64(g.unit)
				i++
			}
			divSink = q
		})
	}
}
