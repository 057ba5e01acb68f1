package clockguard

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/snowlease/idgen/clock"
	"github.com/snowlease/idgen/internal/opterr"
	"github.com/snowlease/idgen/snowflake"
)

// Defaults and limits of Options.
const (
	DefaultMaxSkew  = time.Second
	DefaultInterval = 30 * time.Second
	DefaultSamples  = 5
	DefaultTimeout  = 2 * time.Second

	// MinMaxSkew is the smallest MaxSkew accepted: below a millisecond a
	// round trip to Redis cannot tell skew from network delay.
	MinMaxSkew = time.Millisecond
	// MinInterval is the shortest Interval accepted.
	MinInterval = 10 * time.Millisecond
	// MaxSamples is the largest Samples accepted.
	MaxSamples = 64

	// TimeResolution is the granularity of Redis TIME (microseconds), added
	// to every estimate's uncertainty.
	TimeResolution = time.Microsecond
)

// Errors of this package. Test for them with errors.Is.
var (
	// ErrClockSkew: the local clock is off Redis TIME by more than MaxSkew
	// plus the uncertainty. The error is a *SkewError.
	ErrClockSkew = errors.New("clockguard: clock skew beyond bound")
	// ErrInvalidOptions: an option is out of range. The error is an
	// *OptionError naming the field.
	ErrInvalidOptions = errors.New("clockguard: invalid options")
	// ErrUnreachable: no TIME sample could be read: a timeout, a lost
	// connection, or an authentication or ACL error (wrapped).
	ErrUnreachable = errors.New("clockguard: could not read redis TIME")
	// ErrClosed: the Guard was closed.
	ErrClosed = errors.New("clockguard: guard closed")
)

// Policy says what a running Guard does when the skew is beyond the bound.
// It is a plain value, safe for concurrent use.
type Policy int

const (
	// Warn reports through the logger, Stats and OnEvent, and changes
	// nothing else. It is the default.
	Warn Policy = iota
	// Pause also calls Target.Pause while the skew is certainly beyond the
	// bound, and Target.Resume once it no longer is.
	Pause
)

func (p Policy) String() string {
	switch p {
	case Warn:
		return "warn"
	case Pause:
		return "pause"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// Pauser is what the Pause policy stops and restarts; *snowflake.Generator
// satisfies it. Pause and Resume must be safe for concurrent use, return
// promptly and never call back into the Guard.
type Pauser interface {
	Pause()
	Resume()
}

// Options configure Check, Start and New. The zero value of each field
// means its default. Options is a plain value, safe for concurrent use while
// nobody writes to it; it is copied when passed. The functions in it
// (OnEvent, HWM) must be safe to call from the Guard's goroutine.
type Options struct {
	// MaxSkew is the largest tolerated |offset| between the local wall
	// clock and Redis TIME. Default 1s; at least MinMaxSkew, and at least the
	// uncertainty measured at start.
	MaxSkew time.Duration
	// Interval between background checks, on Clock (real time by
	// default). Default 30s; at least MinInterval. Negative is an error.
	Interval time.Duration
	// Samples is the number of TIME commands per check; the one with the
	// smallest round trip is kept. Default 5; 1 to MaxSamples.
	Samples int
	// Timeout bounds one check (all its samples). Default 2s.
	Timeout time.Duration
	// Policy when the skew is beyond the bound. Default Warn.
	Policy Policy
	// Clock is the local clock measured, and the one whose ticker times the
	// background checks. Default clock.System().
	Clock clock.Clock
	// Logger receives reports; nil means silent.
	Logger *slog.Logger
	// OnEvent, when set, is called for every Event, one at a time, from the
	// checking goroutine. It must return promptly and must not call Close
	// or CheckNow.
	OnEvent func(Event)
	// Target is paused and resumed under the Pause policy; it may be set
	// later with SetTarget.
	Target Pauser
	// HWM, when set, returns the highest tick this worker has issued or
	// must start above: Generator.LastTick, which is the lease's StartAfter
	// until the first ID. Each check reports a wall clock behind it, with
	// how far: that is how long a generator anchored now would wait before
	// its next ID (after a takeover, or a data-loss quarantine, a wait is
	// expected; a long one is the clock's fault). Zero or negative means
	// none.
	HWM func() int64
	// Layout turns HWM's ticks into time. Default snowflake.Twitter().
	Layout snowflake.Layout
	// HWMTolerance is how far behind HWM the clock may be before it is
	// reported; set it to the generator's MaxBorrow ticks, since borrowing
	// runs ahead of the clock on purpose. Default 0: any amount.
	HWMTolerance time.Duration
	// Key, for a *redis.ClusterClient, sends TIME to the master of Key's
	// hash slot (use the lease namespace's hash tag, such as "{idgen}").
	// Ignored by other clients.
	Key string
}

// OptionError reports an option or argument out of range: Field (the
// Options field, or "samples" and "client" for the arguments), the Value
// given and what is Allowed. It unwraps to ErrInvalidOptions, and to Err
// when a nested check failed (a Layout's). It is the one option-error type
// of the module: snowflake.OptionError, lease.OptionError and
// idgen.OptionError are the same type. An *OptionError is not changed
// after it is returned, so it is safe for concurrent use.
type OptionError = opterr.Error

func optErr(field string, value any, allowed string) error {
	return opterr.New(ErrInvalidOptions, field, value, allowed, nil)
}

// errNilClient is what every function that takes a client returns for nil.
func errNilClient() error { return optErr("client", nil, "a non-nil Redis client") }

// Validate reports the first field out of range as an *OptionError. It
// does not contact Redis: the check of MaxSkew against the measured
// uncertainty happens in Check and Start.
func (o Options) Validate() error {
	_, err := o.withDefaults()
	return err
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.MaxSkew < 0 || (o.MaxSkew > 0 && o.MaxSkew < MinMaxSkew):
		return o, optErr("MaxSkew", o.MaxSkew, fmt.Sprintf("%v or more (0 means %v)", MinMaxSkew, DefaultMaxSkew))
	case o.Interval < 0 || (o.Interval > 0 && o.Interval < MinInterval):
		return o, optErr("Interval", o.Interval, fmt.Sprintf("%v or more (0 means %v)", MinInterval, DefaultInterval))
	case o.Samples < 0 || o.Samples > MaxSamples:
		return o, optErr("Samples", o.Samples, fmt.Sprintf("1 to %d (0 means %d)", MaxSamples, DefaultSamples))
	case o.Timeout < 0:
		return o, optErr("Timeout", o.Timeout, fmt.Sprintf("more than 0 (0 means %v)", DefaultTimeout))
	case o.Policy != Warn && o.Policy != Pause:
		return o, optErr("Policy", o.Policy, "Warn or Pause")
	case o.HWMTolerance < 0:
		return o, optErr("HWMTolerance", o.HWMTolerance, "0 or more")
	}
	if o.MaxSkew == 0 {
		o.MaxSkew = DefaultMaxSkew
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Samples == 0 {
		o.Samples = DefaultSamples
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Clock == nil {
		o.Clock = clock.System()
	}
	o.Layout = o.Layout.OrDefault()
	if o.HWM != nil {
		if err := o.Layout.Validate(); err != nil {
			return o, opterr.New(ErrInvalidOptions, "Layout", o.Layout.Fingerprint(), "a valid snowflake.Layout when HWM is set", err)
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// resolvable checks MaxSkew against what the round trip can resolve.
func (o Options) resolvable(e Estimate) error {
	if o.MaxSkew < e.Uncertainty {
		return optErr("MaxSkew", o.MaxSkew, fmt.Sprintf(
			"at least the measured uncertainty %v (round trip %v to Redis)", e.Uncertainty, e.RTT))
	}
	return nil
}
