package snowflake

import "time"

// Clock is the generator's source of time: a wall clock to anchor ticks to
// the epoch, and a monotonic reading to measure elapsed time. The real clock
// is used when none is given; tests inject one to move time without sleeping
// and to step the wall clock independently of the monotonic one.
//
// Implementations must be safe for concurrent use, and Monotonic must never
// decrease.
type Clock interface {
	// Now is the wall-clock time.
	Now() time.Time
	// Monotonic is the time elapsed since an arbitrary fixed origin.
	Monotonic() time.Duration
}

// SystemClock returns the real clock: time.Now for the wall, and Go's
// monotonic clock for elapsed time. It is safe for concurrent use.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

// processStart carries a monotonic reading; time.Since(processStart) is read
// from the monotonic clock only and never moves backwards.
var processStart = time.Now()

func (systemClock) Now() time.Time           { return time.Now() }
func (systemClock) Monotonic() time.Duration { return time.Since(processStart) }
