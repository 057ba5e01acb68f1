package snowflake

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestComposeDecomposeRoundTrip: a property over random parts and IDs of
// several layouts: Decompose(Compose(p)) == p, Compose(Decompose(id)) == id,
// and IDs order like (tick, worker, sequence).
func TestComposeDecomposeRoundTrip(t *testing.T) {
	t.Parallel()
	layouts := []Layout{Twitter(), Sonyflake(), tinyLayout,
		{Epoch: Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 32, WorkerBits: 0, SequenceBits: 31},
		{Epoch: Twitter().Epoch, TimeUnit: time.Second, TimeBits: 20, WorkerBits: 31, SequenceBits: 12}}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, l := range layouts {
		randParts := func() Parts {
			// Mostly random, sometimes at the edges.
			pick := func(max int64) int64 {
				switch rng.IntN(4) {
				case 0:
					return 0
				case 1:
					return max
				default:
					return rng.Int64N(max + 1)
				}
			}
			return Parts{Tick: pick(l.MaxTick()), Worker: pick(l.MaxWorker()), Sequence: pick(l.MaxSequence())}
		}
		for range 2000 {
			p := randParts()
			id, err := l.Compose(p)
			require.NoError(t, err, "%s: Compose(%+v)", l.Fingerprint(), p)
			require.NoError(t, l.CheckID(id), "%s: Compose(%+v)", l.Fingerprint(), p)
			got := l.Decompose(id)
			p.Time = l.Time(p.Tick)
			require.Equal(t, p, got, "%s: Decompose(Compose(p))", l.Fingerprint())
			q := randParts()
			other, err := l.Compose(q)
			require.NoError(t, err)
			less := p.Tick < q.Tick || p.Tick == q.Tick && (p.Worker < q.Worker || p.Worker == q.Worker && p.Sequence < q.Sequence)
			require.Equal(t, less, id < other, "%s: order of %+v and %+v against %d and %d", l.Fingerprint(), p, q, id, other)

			raw := ID(rng.Int64())
			back, err := l.Compose(l.Decompose(raw))
			require.NoError(t, err)
			require.Equal(t, raw, back, "%s: Compose(Decompose(%d))", l.Fingerprint(), raw)
		}
	}
}

func TestComposeErrors(t *testing.T) {
	t.Parallel()
	l := Twitter()
	cases := []struct {
		name  string
		p     Parts
		want  error
		field string
	}{
		{"negative tick", Parts{Tick: -1}, ErrTickRange, "Parts.Tick"},
		{"tick above MaxTick", Parts{Tick: l.MaxTick() + 1}, ErrTickRange, "Parts.Tick"},
		{"negative worker", Parts{Tick: 1, Worker: -1}, ErrWorkerRange, "Parts.Worker"},
		{"worker above MaxWorker", Parts{Tick: 1, Worker: 1024}, ErrWorkerRange, "Parts.Worker"},
		{"negative sequence", Parts{Tick: 1, Sequence: -1}, ErrSequenceRange, "Parts.Sequence"},
		{"sequence above MaxSequence", Parts{Tick: 1, Sequence: 4096}, ErrSequenceRange, "Parts.Sequence"},
		{"time before the epoch", Parts{Time: l.Epoch.Add(-time.Millisecond)}, ErrTickRange, ""},
		{"time at the end", Parts{Time: l.End()}, ErrTickRange, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := l.Compose(tc.p)
			require.ErrorIs(t, err, tc.want)
			assert.Zero(t, id)
			assert.NotErrorIs(t, err, ErrInvalidOptions, "a part of an ID is not an option")
			if tc.field != "" {
				var oe *OptionError
				require.ErrorAs(t, err, &oe)
				assert.Equal(t, tc.field, oe.Field)
				assert.ErrorContains(t, err, tc.field+" is ")
				assert.ErrorContains(t, err, ", allowed 0 to ")
			}
			t.Log(err)
		})
	}
	bad := Layout{Epoch: Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 10, SequenceBits: 13}
	_, err := bad.Compose(Parts{})
	assert.ErrorIs(t, err, ErrBitWidths, "Compose with a bad layout")
	assert.ErrorIs(t, bad.CheckID(1), ErrBitWidths, "CheckID with a bad layout")
	future := Twitter()
	future.Epoch = time.Now().Add(time.Hour)
	_, err = future.Compose(Parts{Tick: 1})
	assert.NoError(t, err, "Compose with a future epoch")
}

func TestComposeFromTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 2, 29, 12, 0, 0, 123_456_789, time.UTC)
	l := Twitter()
	id, err := l.Compose(Parts{Time: at, Worker: 3, Sequence: 9})
	require.NoError(t, err)
	p := l.Decompose(id)
	assert.Equal(t, Parts{Time: l.Time(l.Tick(at)), Tick: l.Tick(at), Worker: 3, Sequence: 9}, p)
	assert.True(t, p.Time.Equal(at.Truncate(time.Millisecond)), "Decompose = %+v", p)
	// A set Tick wins over Time.
	id2, err := l.Compose(Parts{Time: at, Tick: 5})
	require.NoError(t, err)
	assert.Equal(t, int64(5), l.Decompose(id2).Tick)
}

func TestCheckID(t *testing.T) {
	t.Parallel()
	l := Twitter()
	for _, id := range []ID{0, 1, math.MaxInt64} {
		assert.NoError(t, l.CheckID(id), "CheckID(%d)", id)
	}
	for _, id := range []ID{-1, math.MinInt64} {
		assert.ErrorIs(t, l.CheckID(id), ErrInvalidID, "CheckID(%d)", id)
	}
	// Decompose of a negative ID reads it without the sign bit.
	p := l.Decompose(-1)
	assert.Equal(t, []int64{l.MaxTick(), 1023, 4095}, []int64{p.Tick, p.Worker, p.Sequence}, "Decompose(-1)")
}
