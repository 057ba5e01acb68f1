package snowflake

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
)

// Layout describes how an ID's 63 usable bits are split between time,
// worker and sequence, and what one tick of time is.
//
// An ID is, from the most significant bit down:
//
//	0 | tick (TimeBits) | worker (WorkerBits) | sequence (SequenceBits)
//
// where tick is the number of whole TimeUnits since Epoch. The sign bit is
// always zero, so IDs are positive int64 values that sort by time.
//
// A Layout is a plain value; it is safe for concurrent use.
type Layout struct {
	// Epoch is the instant of tick 0. It must not be in the future.
	Epoch time.Time
	// TimeUnit is the length of one tick; at least 1 ms.
	TimeUnit time.Duration
	// TimeBits, WorkerBits and SequenceBits must sum to 63.
	TimeBits     uint8
	WorkerBits   uint8
	SequenceBits uint8
}

// Twitter returns the classic layout: 41 bits of milliseconds since
// 2010-11-04T01:42:54.657Z, 10 worker bits and 12 sequence bits. It is the
// layout of bwmarrin/snowflake's default node: the same time, worker and
// sequence give the same int64. It is the default layout wherever a zero
// Layout is given (see OrDefault). Each call returns a new copy, so no
// importer can change the preset another package reads.
func Twitter() Layout {
	return Layout{
		Epoch:        time.UnixMilli(1288834974657).UTC(),
		TimeUnit:     time.Millisecond,
		TimeBits:     41,
		WorkerBits:   10,
		SequenceBits: 12,
	}
}

// Sonyflake returns sony/sonyflake's default layout: 39 bits of 10 ms units
// since 2014-09-01T00:00:00Z, 16 worker bits and 8 sequence bits. Each call
// returns a new copy.
func Sonyflake() Layout {
	return Layout{
		Epoch:        time.Date(2014, 9, 1, 0, 0, 0, 0, time.UTC),
		TimeUnit:     10 * time.Millisecond,
		TimeBits:     39,
		WorkerBits:   16,
		SequenceBits: 8,
	}
}

// IsZero reports whether l is the zero Layout, which the lease, clockguard
// and idgen packages read as "the default layout" (see OrDefault).
func (l Layout) IsZero() bool {
	return l.Epoch.IsZero() && l.TimeUnit == 0 && l.TimeBits == 0 && l.WorkerBits == 0 && l.SequenceBits == 0
}

// OrDefault returns l, or Twitter() when l is the zero Layout. It is the
// one place where a zero Layout is given its meaning; every package that
// takes a Layout option resolves it with OrDefault.
func (l Layout) OrDefault() Layout {
	if l.IsZero() {
		return Twitter()
	}
	return l
}

// Errors returned by Layout.Validate, each wrapped with the field and the
// allowed range. Test for them with errors.Is.
var (
	ErrBitWidths    = errors.New("snowflake: bit widths must sum to 63")
	ErrTimeBits     = errors.New("snowflake: time bits out of range")
	ErrSequenceBits = errors.New("snowflake: sequence bits out of range")
	ErrWorkerBits   = errors.New("snowflake: worker bits out of range")
	ErrTimeUnit     = errors.New("snowflake: time unit out of range")
	ErrEpoch        = errors.New("snowflake: epoch out of range")
	// ErrFingerprint: ParseFingerprint was given text that is not a valid
	// layout's fingerprint.
	ErrFingerprint = errors.New("snowflake: not a layout fingerprint")
)

// Limits on a Layout's fields, checked by Validate.
const (
	MinTimeBits     = 20 // fewer ticks than this is not a useful lifetime
	MaxWorkerBits   = 31
	MaxSequenceBits = 31
	MinTimeUnit     = time.Millisecond
	MaxTimeUnit     = time.Hour
)

// Validate reports whether the layout can be used, naming the first field
// that is out of range.
func (l Layout) Validate() error {
	return l.validateAt(time.Now())
}

func (l Layout) validateAt(now time.Time) error {
	switch {
	case int(l.TimeBits)+int(l.WorkerBits)+int(l.SequenceBits) != 63:
		return fmt.Errorf("%w: TimeBits %d + WorkerBits %d + SequenceBits %d = %d",
			ErrBitWidths, l.TimeBits, l.WorkerBits, l.SequenceBits,
			int(l.TimeBits)+int(l.WorkerBits)+int(l.SequenceBits))
	case l.SequenceBits < 1 || l.SequenceBits > MaxSequenceBits:
		return fmt.Errorf("%w: SequenceBits is %d, allowed 1 to %d", ErrSequenceBits, l.SequenceBits, MaxSequenceBits)
	case l.WorkerBits > MaxWorkerBits:
		return fmt.Errorf("%w: WorkerBits is %d, allowed 0 to %d", ErrWorkerBits, l.WorkerBits, MaxWorkerBits)
	case l.TimeBits < MinTimeBits:
		return fmt.Errorf("%w: TimeBits is %d, allowed %d to 63", ErrTimeBits, l.TimeBits, MinTimeBits)
	case l.TimeUnit < MinTimeUnit || l.TimeUnit > MaxTimeUnit:
		return fmt.Errorf("%w: TimeUnit is %v, allowed %v to %v", ErrTimeUnit, l.TimeUnit, MinTimeUnit, MaxTimeUnit)
	case l.TimeUnit%time.Millisecond != 0:
		return fmt.Errorf("%w: TimeUnit is %v, must be a whole number of milliseconds", ErrTimeUnit, l.TimeUnit)
	case l.Epoch.IsZero():
		return fmt.Errorf("%w: Epoch is not set", ErrEpoch)
	case l.Epoch.After(now):
		return fmt.Errorf("%w: Epoch %s is in the future, allowed up to now", ErrEpoch, l.Epoch.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// MaxTick is the largest tick the time bits can hold.
func (l Layout) MaxTick() int64 { return 1<<l.TimeBits - 1 }

// MaxWorker is the largest worker ID; worker IDs run from 0 to MaxWorker.
func (l Layout) MaxWorker() int64 { return 1<<l.WorkerBits - 1 }

// MaxSequence is the largest sequence number within one tick.
func (l Layout) MaxSequence() int64 { return 1<<l.SequenceBits - 1 }

// Capacity is how many IDs one worker can issue per second at most.
func (l Layout) Capacity() float64 {
	return float64(int64(1)<<l.SequenceBits) * float64(time.Second) / float64(l.TimeUnit)
}

// End is the first instant the time bits cannot represent: no ID can be
// issued at or after it.
func (l Layout) End() time.Time { return l.Time(l.MaxTick()).Add(l.TimeUnit) }

// Tick is the number of whole time units from Epoch to t. Times before the
// epoch give negative ticks.
func (l Layout) Tick(t time.Time) int64 {
	d := t.Sub(l.Epoch)
	tick := int64(d / l.TimeUnit)
	if d < 0 && d%l.TimeUnit != 0 {
		tick-- // floor, not truncation, so tick boundaries are the same on both sides of the epoch
	}
	return tick
}

// Time is the start of the given tick. It stays exact for ticks more than
// 292 years from the epoch (where tick*TimeUnit overflows a Duration), which
// layouts with 44 or more time bits of milliseconds reach before End.
func (l Layout) Time(tick int64) time.Time {
	d := time.Duration(tick) * l.TimeUnit
	if l.TimeUnit <= 0 || d/l.TimeUnit == time.Duration(tick) {
		return l.Epoch.Add(d)
	}
	// |tick| * TimeUnit in 128 bits, then in whole seconds and nanoseconds.
	mag := uint64(tick)
	if tick < 0 {
		mag = -mag
	}
	hi, lo := bits.Mul64(mag, uint64(l.TimeUnit))
	const maxSec = 1 << 62 // about 1.5e11 years; time.Time holds twice that
	var sec, nsec uint64
	if hi < uint64(time.Second) {
		sec, nsec = bits.Div64(hi, lo, uint64(time.Second))
	}
	if hi >= uint64(time.Second) || sec > maxSec {
		sec, nsec = maxSec, 0 // saturate rather than wrap
	}
	d = time.Duration(nsec)
	if tick < 0 {
		sec, d = -sec, -d
	}
	return time.Unix(l.Epoch.Unix()+int64(sec), int64(l.Epoch.Nanosecond())).Add(d).In(l.Epoch.Location())
}

// Ticks is how many whole ticks d spans, rounded up: a duration that must be
// waited out in ticks is never shortened.
func (l Layout) Ticks(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + l.TimeUnit - 1) / l.TimeUnit)
}

// ParseFingerprint is the inverse of Fingerprint: it returns the layout a
// fingerprint describes (Epoch in UTC), or an error wrapping ErrFingerprint
// when the text is not one Fingerprint writes or the layout is not valid.
func ParseFingerprint(s string) (Layout, error) {
	var epochMs, unitMs int64
	var t, w, q uint8
	var rest string
	n, _ := fmt.Sscanf(s, "v1 epoch=%dms unit=%dms bits=%d/%d/%d%s", &epochMs, &unitMs, &t, &w, &q, &rest)
	if n != 5 || unitMs <= 0 || unitMs > int64(math.MaxInt64/time.Millisecond) {
		return Layout{}, fmt.Errorf("%w: %q", ErrFingerprint, s)
	}
	l := Layout{Epoch: time.UnixMilli(epochMs).UTC(), TimeUnit: time.Duration(unitMs) * time.Millisecond,
		TimeBits: t, WorkerBits: w, SequenceBits: q}
	if l.Fingerprint() != s {
		return Layout{}, fmt.Errorf("%w: %q", ErrFingerprint, s)
	}
	if err := l.Validate(); err != nil {
		return Layout{}, fmt.Errorf("%w: %q: %w", ErrFingerprint, s, err)
	}
	return l, nil
}

// Fingerprint identifies the layout: two layouts with the same fingerprint
// produce the same IDs for the same inputs. The lease package stores it per
// namespace so that nodes with different layouts cannot share worker IDs.
func (l Layout) Fingerprint() string {
	return fmt.Sprintf("v1 epoch=%dms unit=%dms bits=%d/%d/%d",
		l.Epoch.UnixMilli(), l.TimeUnit.Milliseconds(), l.TimeBits, l.WorkerBits, l.SequenceBits)
}
