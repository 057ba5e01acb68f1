package snowflake

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPresetsValid(t *testing.T) {
	t.Parallel()
	for name, l := range map[string]Layout{"Twitter": Twitter(), "Sonyflake": Sonyflake()} {
		assert.NoError(t, l.Validate(), name)
	}
	assert.InDelta(t, 4_096_000, Twitter().Capacity(), 0, "Twitter().Capacity()")
	assert.InDelta(t, 25_600, Sonyflake().Capacity(), 0, "Sonyflake().Capacity()")
	assert.True(t, Twitter().End().Equal(time.UnixMilli(1288834974657+1<<41)), "Twitter().End() = %v", Twitter().End())
}

// TestPresetsCannotBeChanged: a preset is a fresh copy on every call, so
// changing one copy changes neither the next nor the default.
func TestPresetsCannotBeChanged(t *testing.T) {
	t.Parallel()
	l := Twitter()
	l.TimeBits = 40
	assert.Equal(t, uint8(41), Twitter().TimeBits)
	assert.Equal(t, Twitter(), Layout{}.OrDefault())
}

func TestOrDefault(t *testing.T) {
	t.Parallel()
	assert.True(t, Layout{}.IsZero())
	assert.True(t, Layout{Epoch: time.Time{}.In(time.UTC)}.IsZero(), "a zero epoch in any location")
	assert.False(t, Twitter().IsZero())
	assert.False(t, Layout{SequenceBits: 1}.IsZero())
	assert.Equal(t, Twitter(), Layout{}.OrDefault())
	assert.Equal(t, Sonyflake(), Sonyflake().OrDefault())
	// A Layout that is not zero is kept even when it is not valid.
	bad := Layout{TimeBits: 40}
	assert.Equal(t, bad, bad.OrDefault())
}

// TestValidateErrors: every fault has its own sentinel, and the message names
// the field.
func TestValidateErrors(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	ok := Layout{Epoch: Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 10, SequenceBits: 12}
	with := func(f func(*Layout)) Layout { l := ok; f(&l); return l }
	cases := []struct {
		name   string
		layout Layout
		want   error
		field  string
	}{
		{"widths sum to 62", with(func(l *Layout) { l.SequenceBits = 11 }), ErrBitWidths, "SequenceBits"},
		{"widths sum to 64", with(func(l *Layout) { l.TimeBits = 42 }), ErrBitWidths, "TimeBits"},
		{"widths overflow uint8 sum", with(func(l *Layout) { l.TimeBits, l.WorkerBits, l.SequenceBits = 200, 119, 0 }), ErrBitWidths, "TimeBits"},
		{"zero sequence bits", with(func(l *Layout) { l.SequenceBits, l.TimeBits = 0, 53 }), ErrSequenceBits, "SequenceBits"},
		{"32 sequence bits", with(func(l *Layout) { l.SequenceBits, l.WorkerBits, l.TimeBits = 32, 0, 31 }), ErrSequenceBits, "SequenceBits"},
		{"32 worker bits", with(func(l *Layout) { l.WorkerBits, l.SequenceBits, l.TimeBits = 32, 1, 30 }), ErrWorkerBits, "WorkerBits"},
		{"19 time bits", with(func(l *Layout) { l.TimeBits, l.WorkerBits, l.SequenceBits = 19, 22, 22 }), ErrTimeBits, "TimeBits"},
		{"time unit under 1ms", with(func(l *Layout) { l.TimeUnit = 999 * time.Microsecond }), ErrTimeUnit, "TimeUnit"},
		{"zero time unit", with(func(l *Layout) { l.TimeUnit = 0 }), ErrTimeUnit, "TimeUnit"},
		{"time unit over 1h", with(func(l *Layout) { l.TimeUnit = time.Hour + time.Millisecond }), ErrTimeUnit, "TimeUnit"},
		{"time unit not whole ms", with(func(l *Layout) { l.TimeUnit = 1500 * time.Microsecond }), ErrTimeUnit, "TimeUnit"},
		{"epoch not set", with(func(l *Layout) { l.Epoch = time.Time{} }), ErrEpoch, "Epoch"},
		{"epoch in the future", with(func(l *Layout) { l.Epoch = now.Add(time.Millisecond) }), ErrEpoch, "Epoch"},
	}
	sentinels := []error{ErrBitWidths, ErrTimeBits, ErrSequenceBits, ErrWorkerBits, ErrTimeUnit, ErrEpoch}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.layout.validateAt(now)
			require.ErrorIs(t, err, tc.want)
			for _, other := range sentinels {
				if other != tc.want {
					assert.NotErrorIs(t, err, other)
				}
			}
			assert.ErrorContains(t, err, tc.field)
		})
	}
	assert.NoError(t, ok.validateAt(now), "valid layout")
	assert.NoError(t, with(func(l *Layout) { l.Epoch = now }).validateAt(now), "epoch equal to now")
}

// TestTimeAndTick: Time is exact far from the epoch, and Tick inverts it.
func TestTimeAndTick(t *testing.T) {
	t.Parallel()
	long := Layout{Epoch: Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 50, WorkerBits: 1, SequenceBits: 12}
	hourly := Layout{Epoch: Twitter().Epoch, TimeUnit: time.Hour, TimeBits: 40, WorkerBits: 11, SequenceBits: 12}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, l := range []Layout{Twitter(), Sonyflake(), long, hourly} {
		ticks := []int64{0, 1, -1, l.MaxTick(), l.MaxTick() + 1, math.MaxInt64 / int64(l.TimeUnit), math.MaxInt64/int64(l.TimeUnit) + 1}
		for range 1000 {
			ticks = append(ticks, rng.Int64N(l.MaxTick()+1))
		}
		for _, tick := range ticks {
			got := l.Time(tick)
			// The exact answer, in big integers of nanoseconds since 1970.
			ns := new(big.Int).Mul(big.NewInt(tick), big.NewInt(int64(l.TimeUnit)))
			ns.Add(ns, big.NewInt(l.Epoch.UnixNano()))
			gotNs := new(big.Int).Mul(big.NewInt(got.Unix()), big.NewInt(1e9))
			gotNs.Add(gotNs, big.NewInt(int64(got.Nanosecond())))
			require.Zero(t, ns.Cmp(gotNs), "%s: Time(%d) = %v, off by %v ns", l.Fingerprint(), tick, got, new(big.Int).Sub(gotNs, ns))
			// Tick inverts Time while the difference fits a Duration.
			if d := got.Sub(l.Epoch); d > math.MinInt64 && d < math.MaxInt64 {
				require.Equal(t, tick, l.Tick(got), "%s: Tick(Time(%d))", l.Fingerprint(), tick)
				require.Equal(t, tick, l.Tick(got.Add(l.TimeUnit-1)), "%s: Tick(end of tick %d)", l.Fingerprint(), tick)
			}
		}
		assert.True(t, l.End().After(l.Time(l.MaxTick())), "%s: End %v not after the last tick", l.Fingerprint(), l.End())
	}
}

func TestParseFingerprint(t *testing.T) {
	for _, l := range []Layout{Twitter(), Sonyflake()} {
		got, err := ParseFingerprint(l.Fingerprint())
		require.NoError(t, err)
		assert.Equal(t, l, got, "ParseFingerprint(%q)", l.Fingerprint())
	}
	for _, s := range []string{"", "twitter", "v1 epoch=1288834974657ms unit=1ms bits=41/10/13"} {
		_, err := ParseFingerprint(s)
		assert.ErrorIs(t, err, ErrFingerprint, "ParseFingerprint(%q)", s)
	}
}
