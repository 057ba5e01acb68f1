package clockguard

import (
	"fmt"
	"log/slog"
	"time"
)

// EventKind says what an Event reports. It is a plain value, safe for
// concurrent use.
type EventKind int

const (
	// EventSkew: a check found the offset certainly beyond MaxSkew, after
	// it was within. Amount is |offset|.
	EventSkew EventKind = iota + 1
	// EventSkewCleared: the offset is no longer certainly beyond MaxSkew.
	EventSkewCleared
	// EventRegression: the wall clock moved backwards against the
	// monotonic clock since the previous check. Amount is how far.
	EventRegression
	// EventBehindHWM: the wall clock is behind the last tick this worker is
	// known to have issued (Options.HWM). Amount is how far.
	EventBehindHWM
	// EventStale: a check failed; the last good estimate stands. Err says
	// why.
	EventStale
	// EventRecovered: a check succeeded after one or more failed.
	EventRecovered
	// EventPaused: the Pause policy paused the target.
	EventPaused
	// EventResumed: the Pause policy resumed the target.
	EventResumed
)

func (k EventKind) String() string {
	switch k {
	case EventSkew:
		return "skew"
	case EventSkewCleared:
		return "skew-cleared"
	case EventRegression:
		return "regression"
	case EventBehindHWM:
		return "behind-hwm"
	case EventStale:
		return "stale"
	case EventRecovered:
		return "recovered"
	case EventPaused:
		return "paused"
	case EventResumed:
		return "resumed"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one report of a Guard, passed to Options.OnEvent and logged. It
// is a plain value, safe for concurrent use.
type Event struct {
	Kind EventKind
	// At is the local wall time of the report.
	At time.Time
	// Amount is how far: |offset| for EventSkew, how far back for
	// EventRegression and EventBehindHWM; zero otherwise.
	Amount time.Duration
	// Estimate is the estimate in force: the new one, or the last good one
	// for EventStale (zero if there never was one).
	Estimate Estimate
	// MaxSkew is the bound in force.
	MaxSkew time.Duration
	// Err is the failure, for EventStale.
	Err error
}

func (e Event) String() string {
	switch e.Kind {
	case EventSkew:
		return fmt.Sprintf("clockguard: clock skew %v beyond bound %v: %v", e.Amount, e.MaxSkew, e.Estimate)
	case EventSkewCleared:
		return fmt.Sprintf("clockguard: clock skew back within bound %v: %v", e.MaxSkew, e.Estimate)
	case EventRegression:
		return fmt.Sprintf("clockguard: wall clock moved back %v against the monotonic clock", e.Amount)
	case EventBehindHWM:
		return fmt.Sprintf("clockguard: wall clock is %v behind the last tick issued", e.Amount)
	case EventStale:
		return fmt.Sprintf("clockguard: check failed, last good estimate stands (stale): %v", e.Err)
	case EventRecovered:
		return fmt.Sprintf("clockguard: check succeeded again: %v", e.Estimate)
	case EventPaused:
		return fmt.Sprintf("clockguard: paused ID issuing: %v beyond bound %v", e.Estimate, e.MaxSkew)
	case EventResumed:
		return fmt.Sprintf("clockguard: resumed ID issuing: %v", e.Estimate)
	}
	return fmt.Sprintf("clockguard: %v", e.Kind)
}

func (e Event) level() slog.Level {
	switch e.Kind {
	case EventSkewCleared, EventRecovered, EventResumed:
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

func (e Event) attrs() []slog.Attr {
	a := []slog.Attr{slog.String("event", e.Kind.String())}
	if e.Amount != 0 {
		a = append(a, slog.Duration("amount", e.Amount))
	}
	if e.Estimate.Samples > 0 {
		a = append(a,
			slog.Duration("offset", e.Estimate.Offset),
			slog.Duration("uncertainty", e.Estimate.Uncertainty),
			slog.Duration("rtt", e.Estimate.RTT))
	}
	a = append(a, slog.Duration("max_skew", e.MaxSkew))
	if e.Err != nil {
		a = append(a, slog.String("error", e.Err.Error()))
	}
	return a
}
