package snowflake

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
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
			if err != nil {
				t.Fatalf("%s: Compose(%+v): %v", l.Fingerprint(), p, err)
			}
			if id < 0 || l.CheckID(id) != nil {
				t.Fatalf("%s: Compose(%+v) = %d, not valid", l.Fingerprint(), p, id)
			}
			got := l.Decompose(id)
			p.Time = l.Time(p.Tick)
			if got != p {
				t.Fatalf("%s: Decompose(Compose(%+v)) = %+v", l.Fingerprint(), p, got)
			}
			q := randParts()
			other, _ := l.Compose(q)
			if less := p.Tick < q.Tick || p.Tick == q.Tick && (p.Worker < q.Worker || p.Worker == q.Worker && p.Sequence < q.Sequence); less != (id < other) {
				t.Fatalf("%s: order of %+v and %+v differs from %d and %d", l.Fingerprint(), p, q, id, other)
			}

			raw := ID(rng.Int64())
			if back, err := l.Compose(l.Decompose(raw)); err != nil || back != raw {
				t.Fatalf("%s: Compose(Decompose(%d)) = %d, %v", l.Fingerprint(), raw, back, err)
			}
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
			if !errors.Is(err, tc.want) || id != 0 {
				t.Fatalf("Compose(%+v) = %d, %v; want %v", tc.p, id, err, tc.want)
			}
			var re *RangeError
			if tc.field != "" && (!errors.As(err, &re) || re.Field != tc.field || re.Min != 0) {
				t.Fatalf("error %v: want a RangeError naming %s", err, tc.field)
			}
			t.Log(err)
		})
	}
	bad := Layout{Epoch: Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 10, SequenceBits: 13}
	if _, err := bad.Compose(Parts{}); !errors.Is(err, ErrBitWidths) {
		t.Errorf("Compose with a bad layout: %v", err)
	}
	if err := bad.CheckID(1); !errors.Is(err, ErrBitWidths) {
		t.Errorf("CheckID with a bad layout: %v", err)
	}
	future := Twitter()
	future.Epoch = time.Now().Add(time.Hour)
	if _, err := future.Compose(Parts{Tick: 1}); err != nil {
		t.Errorf("Compose with a future epoch: %v", err)
	}
}

func TestComposeFromTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 2, 29, 12, 0, 0, 123_456_789, time.UTC)
	id, err := Twitter().Compose(Parts{Time: at, Worker: 3, Sequence: 9})
	if err != nil {
		t.Fatal(err)
	}
	p := Twitter().Decompose(id)
	if p.Tick != Twitter().Tick(at) || !p.Time.Equal(at.Truncate(time.Millisecond)) || p.Worker != 3 || p.Sequence != 9 {
		t.Errorf("Decompose = %+v", p)
	}
	// A set Tick wins over Time.
	id2, _ := Twitter().Compose(Parts{Time: at, Tick: 5})
	if Twitter().Decompose(id2).Tick != 5 {
		t.Errorf("Tick 5 with Time set gave tick %d", Twitter().Decompose(id2).Tick)
	}
}

func TestCheckID(t *testing.T) {
	t.Parallel()
	for _, id := range []ID{0, 1, math.MaxInt64} {
		if err := Twitter().CheckID(id); err != nil {
			t.Errorf("CheckID(%d): %v", id, err)
		}
	}
	for _, id := range []ID{-1, math.MinInt64} {
		if err := Twitter().CheckID(id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("CheckID(%d) = %v, want ErrInvalidID", id, err)
		}
	}
	// Decompose of a negative ID reads it without the sign bit.
	if p := Twitter().Decompose(-1); p.Tick != Twitter().MaxTick() || p.Worker != 1023 || p.Sequence != 4095 {
		t.Errorf("Decompose(-1) = %+v", p)
	}
}
