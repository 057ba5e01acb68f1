package snowflake

import (
	"errors"
	"fmt"
	"time"

	"github.com/snowlease/idgen/internal/opterr"
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
// in an *OptionError, which names the field and the range; test for them
// with errors.Is.
var (
	ErrTickRange     = errors.New("snowflake: tick out of range")
	ErrWorkerRange   = errors.New("snowflake: worker ID out of range")
	ErrSequenceRange = errors.New("snowflake: sequence out of range")
	// ErrInvalidOptions: an argument of New (the worker ID or an Options
	// field) is out of range. The error is an *OptionError naming it.
	ErrInvalidOptions = errors.New("snowflake: invalid options")
)

// OptionError reports an option or argument out of range: Field, the Value
// given and what is Allowed. It is the type every package of the module
// returns for that (lease.OptionError, clockguard.OptionError and
// idgen.OptionError are the same type). From New it unwraps to
// ErrInvalidOptions and, for a worker ID or a StartAfter out of range, to
// ErrWorkerRange or ErrTimeExhausted; from Compose, to ErrTickRange,
// ErrWorkerRange or ErrSequenceRange. An *OptionError is not changed after
// it is returned, so it is safe for concurrent use.
type OptionError = opterr.Error

// checkRange reports v outside lo to hi as an *OptionError: an option (of
// New) when invalid is ErrInvalidOptions, a part of an ID when it is nil;
// err is the specific sentinel, or nil.
func checkRange(invalid error, field string, v, lo, hi int64, err error) error {
	if v < lo || v > hi {
		return opterr.New(invalid, field, v, fmt.Sprintf("%d to %d", lo, hi), err)
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
// MaxSequence), or the error is an *OptionError naming it. The layout must pass
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
	if err := checkRange(nil, field, tick, 0, l.MaxTick(), ErrTickRange); err != nil {
		return 0, err
	}
	if err := checkRange(nil, "Parts.Worker", p.Worker, 0, l.MaxWorker(), ErrWorkerRange); err != nil {
		return 0, err
	}
	if err := checkRange(nil, "Parts.Sequence", p.Sequence, 0, l.MaxSequence(), ErrSequenceRange); err != nil {
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
