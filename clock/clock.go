// Package clock is idgen's source of time: the wall clock, the monotonic
// clock and the timers that wait on it, real (System) or moved by a test
// (Fake).
//
// The lease's renewal loop, the clock guard's checks, a Generator's wait
// before its first ID and its back-offs all take their timers from the
// Options.Clock they are given, so a test with a Fake decides when each of
// them fires instead of sleeping. Time inside a network call (a
// context.WithTimeout around a Redis round trip, a WAIT) stays real: it is
// the network's time, not the caller's.
//
// # Guarantees
//
// System is the real clock: Now is time.Now, Monotonic is read from Go's
// monotonic clock and never decreases, and its timers and tickers are the
// time package's, with their Go 1.23 semantics (no stale value is received
// after Stop or Reset returns).
//
// A Fake's time moves only when the test says so. Advance moves the wall
// and the monotonic clock together and fires every timer that falls due on
// the way, in deadline order (timers due at the same instant in the order
// they were armed), each with the Fake's time set to its deadline, on the
// goroutine that calls Advance. StepWall moves the wall clock alone, as NTP
// or an operator would: Monotonic and the timers, which run on monotonic
// time as the time package's do, do not see it. A timer's channel holds one
// value; a ticker drops ticks while its channel is full, as time.Ticker
// does; Stop and Reset discard a value not yet received. BlockUntil waits
// until at least n timers and tickers are armed, so a test can wait for the
// code under test to reach its timer before it advances time.
//
// Every Clock, Timer and Ticker of this package is safe for concurrent use.
//
// A Clock satisfies snowflake.Clock (Now and Monotonic), so one value drives
// a snowflake.Generator and the packages that wait on timers.
package clock

import (
	"context"
	"time"
)

// Clock is a source of time: a wall clock to anchor to, a monotonic reading
// to measure elapsed time, and timers that run on the monotonic clock.
// Implementations must be safe for concurrent use, and Monotonic must never
// decrease.
type Clock interface {
	// Now is the wall-clock time.
	Now() time.Time
	// Monotonic is the time elapsed since an arbitrary fixed origin.
	Monotonic() time.Duration
	// NewTimer returns a Timer that sends the time on its channel once d
	// has passed (at once for d <= 0), like time.NewTimer.
	NewTimer(d time.Duration) Timer
	// NewTicker returns a Ticker that sends the time on its channel every
	// d, like time.NewTicker. It panics if d <= 0.
	NewTicker(d time.Duration) Ticker
}

// Timer is a single event, like *time.Timer.
type Timer interface {
	// C is the channel the time is sent on.
	C() <-chan time.Time
	// Stop prevents the Timer from firing. It reports whether the call
	// stopped it (false: it had fired or was stopped already).
	Stop() bool
	// Reset makes the Timer fire d from now. It reports whether the Timer
	// was armed before.
	Reset(d time.Duration) bool
}

// Ticker sends the time at regular intervals, like *time.Ticker.
type Ticker interface {
	// C is the channel the ticks are sent on.
	C() <-chan time.Time
	// Stop turns the Ticker off.
	Stop()
	// Reset stops the Ticker and makes it tick every d from now. It panics
	// if d <= 0.
	Reset(d time.Duration)
}

// Sleep waits until d has passed on c, or ctx ends. It returns nil after d,
// and ctx's error when ctx ended first (at once when it had ended already).
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// System returns the real clock. Values it returns compare equal.
func System() Clock { return system{} }

type system struct{}

// origin carries a monotonic reading: time.Since(origin) is read from the
// monotonic clock only and never moves backwards.
var origin = time.Now()

func (system) Now() time.Time                   { return time.Now() }
func (system) Monotonic() time.Duration         { return time.Since(origin) }
func (system) NewTimer(d time.Duration) Timer   { return realTimer{time.NewTimer(d)} }
func (system) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time   { return r.t.C }
func (r realTicker) Stop()                 { r.t.Stop() }
func (r realTicker) Reset(d time.Duration) { r.t.Reset(d) }
