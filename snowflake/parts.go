package snowflake

import (
	"errors"
	"fmt"
	"time"
)

// Parts are the fields of an ID under a Layout. Parts is a plain value, safe
// for concurrent use.
type Parts struct {
	// Time is the start of the ID's tick. Compose ignores it when Tick is
	// set; see Compose.
	Time time.Time
	// Tick is the number of TimeUnits since the layout's Epoch.
	Tick int64
	// Worker is the worker ID.
	Worker int64
	// Sequence is the ID's number within its tick and worker.
	Sequence int64
}

// Errors about values out of their allowed range. They are returned wrapped
// in a *RangeError, which names the field and the range; test for them with
// errors.Is.
var (
	ErrTickRange     = errors.New("snowflake: tick out of range")
	ErrWorkerRange   = errors.New("snowflake: worker ID out of range")
	ErrSequenceRange = errors.New("snowflake: sequence out of range")
	ErrOptionRange   = errors.New("snowflake: option out of range")
)

// RangeError reports a value outside its allowed range, inclusive of Min and
// Max. Err is the sentinel it wraps (ErrTickRange, ErrWorkerRange,
// ErrSequenceRange, ErrOptionRange or ErrTimeExhausted). A *RangeError is not
// changed after it is returned, so it is safe for concurrent use.
type RangeError struct {
	Field    string
	Value    int64
	Min, Max int64
	Err      error
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("%v: %s is %d, allowed %d to %d", e.Err, e.Field, e.Value, e.Min, e.Max)
}

func (e *RangeError) Unwrap() error { return e.Err }

func checkRange(field string, v, lo, hi int64, err error) error {
	if v < lo || v > hi {
		return &RangeError{Field: field, Value: v, Min: lo, Max: hi, Err: err}
	}
	return nil
}

// Decompose splits id into its parts. It does not check id: for a valid
// layout every non-negative ID has parts in range; a negative ID is read as
// if its sign bit were clear. Use CheckID to check.
func (l Layout) Decompose(id ID) Parts {
	u := uint64(id) &^ (1 << 63)
	tick := int64(u >> (l.WorkerBits + l.SequenceBits))
	return Parts{
		Time:     l.Time(tick),
		Tick:     tick,
		Worker:   int64(u>>l.SequenceBits) & l.MaxWorker(),
		Sequence: int64(u) & l.MaxSequence(),
	}
}

// Compose builds the ID with the given parts. The tick is p.Tick; when p.Tick
// is 0 and p.Time is set, it is the tick that holds p.Time. Each part must be
// in range (tick 0 to MaxTick, worker 0 to MaxWorker, sequence 0 to
// MaxSequence), or the error is a *RangeError naming it. The layout must pass
// Validate, except that its epoch may be in the future.
func (l Layout) Compose(p Parts) (ID, error) {
	if err := l.checkShape(); err != nil {
		return 0, err
	}
	tick, field := p.Tick, "Parts.Tick"
	if tick == 0 && !p.Time.IsZero() {
		if p.Time.Before(l.Epoch) || !p.Time.Before(l.End()) {
			return 0, fmt.Errorf("%w: Parts.Time %s is outside the layout's time, allowed from %s until (not at) %s",
				ErrTickRange, p.Time.Format(time.RFC3339Nano),
				l.Epoch.Format(time.RFC3339Nano), l.End().Format(time.RFC3339Nano))
		}
		tick, field = l.Tick(p.Time), "Parts.Time's tick"
	}
	if err := checkRange(field, tick, 0, l.MaxTick(), ErrTickRange); err != nil {
		return 0, err
	}
	if err := checkRange("Parts.Worker", p.Worker, 0, l.MaxWorker(), ErrWorkerRange); err != nil {
		return 0, err
	}
	if err := checkRange("Parts.Sequence", p.Sequence, 0, l.MaxSequence(), ErrSequenceRange); err != nil {
		return 0, err
	}
	return ID(tick<<(l.WorkerBits+l.SequenceBits) | p.Worker<<l.SequenceBits | p.Sequence), nil
}

// CheckID reports whether id can be an ID of this layout: it must not be
// negative, and the layout must pass Validate, except that its epoch may be
// in the future. For such a layout every non-negative int64 has its tick,
// worker and sequence in range, so the sign is all there is to check of the
// ID itself. CheckID cannot tell whether the ID was really issued, nor under
// which layout.
func (l Layout) CheckID(id ID) error {
	if err := l.checkShape(); err != nil {
		return err
	}
	if id < 0 {
		return fmt.Errorf("%w: %d is negative (the sign bit is never set)", ErrInvalidID, int64(id))
	}
	return nil
}

// checkShape is Validate without the check that the epoch is not in the
// future: composing and checking IDs of a layout does not depend on today.
func (l Layout) checkShape() error {
	if err := l.validateAt(l.Epoch); err != nil && !errors.Is(err, ErrEpoch) {
		return err
	}
	return nil
}
