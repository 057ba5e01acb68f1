package idgen

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/snowlease/idgen/clock"
	"github.com/snowlease/idgen/clockguard"
	"github.com/snowlease/idgen/internal/opterr"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/snowflake"
)

// LeaseLostPolicy says what a Generator does when its worker-ID lease is
// lost (another node took the ID after this one failed to renew in time, or
// the key was deleted). It is a plain value, safe for concurrent use.
type LeaseLostPolicy int

const (
	// Reacquire, the default, stops issuing IDs with the lost worker ID at
	// once, acquires a fresh worker ID and carries on. IDs stay strictly
	// increasing across the switch: the new worker ID's first ID is above
	// both its own high-water mark and the last tick issued with the old
	// one. While the new lease is being acquired Next returns an error
	// matching ErrUnavailable and ErrLeaseLost.
	Reacquire LeaseLostPolicy = iota
	// Fail stops issuing for good: Next returns an error matching
	// ErrLeaseLost, and Done is closed. Pick it when the worker ID must not
	// change during the life of the process.
	Fail
)

func (p LeaseLostPolicy) String() string {
	switch p {
	case Reacquire:
		return "Reacquire"
	case Fail:
		return "Fail"
	}
	return fmt.Sprintf("LeaseLostPolicy(%d)", int(p))
}

// Options configure New. The zero value is valid: every field documents the
// default a zero stands for. New copies the Options; changing them later has
// no effect. Options is safe for concurrent use while nobody writes to it.
type Options struct {
	// Layout is the bit layout of the IDs. Zero means snowflake.Twitter(). All
	// nodes of a namespace must use the same layout; the namespace records
	// it on first use and refuses another.
	Layout snowflake.Layout
	// Namespace separates independent sets of worker IDs in one Redis.
	// Default "idgen".
	Namespace string

	// TTL is how long a worker-ID lease lives without renewal: a crashed
	// node's worker ID becomes free after it. Default 10s.
	TTL time.Duration
	// Window is how far ahead of its last successful renewal a node may
	// issue IDs, i.e. how long it keeps going while Redis is unreachable.
	// Default TTL.
	Window time.Duration
	// RenewInterval is the time between renewals, jittered. Default TTL/3.
	RenewInterval time.Duration
	// MinReplicas is the fewest replicas that must acknowledge (WAIT) every
	// acquire and renewal; a short count is a failed renewal. Default 0:
	// every replica the namespace's Redis master has had, remembered in the
	// namespace, so that a master cut off from its replicas stops granting
	// fences (see lease.Options.MinReplicas; lease.ForgetReplicas lowers
	// the remembered count when a replica is removed for good). Above 0:
	// at least that many. lease.NoReplicaWait (-1) never waits.
	MinReplicas int
	// AllowEviction lets New run on a Redis whose maxmemory-policy is
	// allkeys-*, which can evict the namespace's high-water marks: each
	// such loss is detected and costs a quarantine (an outage), so New
	// refuses such a Redis by default (an error wrapping
	// lease.ErrEvictionPolicy). noeviction and volatile-* are always
	// accepted.
	AllowEviction bool
	// ReplicaTimeout bounds that WAIT. Default: the lease package's.
	ReplicaTimeout time.Duration
	// MaxStartWait is how far ahead of the local clock a worker ID's start
	// tick (its high-water mark) may be for New to take it and wait; a
	// worker ID further ahead means a clock fault and is refused. During a
	// start-up quarantine (new namespace, or Redis lost its data) the
	// allowance grows by Window + MaxSkew. Default Window + 2*MaxSkew.
	MaxStartWait time.Duration
	// OpTimeout bounds each Redis round trip of the lease. Default: the
	// lease package's.
	OpTimeout time.Duration
	// Host is recorded in the lease for `idgen leases`. Default
	// os.Hostname().
	Host string

	// MaxBorrow is how many ticks ahead of the clock the generator may run
	// when a tick's sequence is used up, instead of waiting for the clock.
	// Never past the fence. Default 0: wait.
	MaxBorrow int64

	// MaxSkew is the largest accepted offset of the local clock against
	// Redis TIME, beyond the measurement's uncertainty: New refuses to start
	// beyond it, and the periodic check reports (or pauses, under
	// ClockPolicy Pause) while it is exceeded. It also sizes the start-up
	// quarantine after Redis lost its data. Default 1s. It must be below
	// Window: fences are capped at Redis TIME + Window, so a node whose clock
	// is MaxSkew ahead keeps Window - MaxSkew of headroom.
	MaxSkew time.Duration
	// ClockCheckInterval is the time between periodic clock checks.
	// Default: the clockguard package's (30s).
	ClockCheckInterval time.Duration
	// ClockSamples is how many TIME round trips each clock check takes, the
	// best one counting. Default: the clockguard package's (5).
	ClockSamples int
	// ClockPolicy says what a failed periodic clock check does: Warn
	// (default) reports it; Pause stops issuing until the clock is back in
	// bound. Uniqueness never depends on it: see the package comment.
	ClockPolicy clockguard.Policy
	// OnClockEvent, if set, is called for every clock report (skew,
	// regression, recovery). It must not block.
	OnClockEvent func(clockguard.Event)

	// Clock is the local clock: the IDs' time, the clock guard's readings,
	// and the timers of the lease renewals, the clock checks, the wait
	// before the first ID and the back-offs. Default clock.System(). A test
	// injects a *clock.Fake to move time instead of sleeping.
	Clock clock.Clock
	// OnLeaseLost says what happens when the lease is lost. Default
	// Reacquire.
	OnLeaseLost LeaseLostPolicy
	// OnStartWait, if set, is called before New (or a reacquire) waits for
	// the clock to pass a worker ID's start tick, with why and how long.
	OnStartWait func(StartWait)
	// Logger receives lease, clock and reacquire reports. Nil means silent,
	// except for waits at start, which go to slog.Default() when Logger is
	// nil: a start that blocks for seconds must say why.
	Logger *slog.Logger
}

// ErrInvalidOptions is matched (errors.Is) by every option error New, Start,
// Init and Options.Validate return, this package's and the lease's and
// clock guard's they pass on.
var ErrInvalidOptions = errors.New("idgen: invalid options")

// OptionError reports an option or argument out of range: Field (the
// field's name in Options, such as "TTL", or "client"), the Value given and
// what is Allowed. It unwraps to ErrInvalidOptions, and to Err when a
// nested check failed (such as snowflake.ErrBitWidths for a bad Layout). It
// is the one option-error type of the module: snowflake.OptionError,
// lease.OptionError and clockguard.OptionError are the same type, so
// errors.As with a *idgen.OptionError also finds the lease's or the clock
// guard's error in what New returns. An *OptionError is not changed after
// it is returned, so it is safe for concurrent use.
type OptionError = opterr.Error

func optErr(field string, value any, allowed string, err error) error {
	return opterr.New(ErrInvalidOptions, field, value, allowed, err)
}

// errNilClient is what New, Start and Init return for a nil client.
func errNilClient() error { return optErr("client", nil, "a non-nil Redis client", nil) }

const defaultNamespace = "idgen"

// withDefaults fills the defaults this package owns; the rest are left zero
// for the lease and clockguard packages to fill.
func (o Options) withDefaults() Options {
	o.Layout = o.Layout.OrDefault()
	if o.Namespace == "" {
		o.Namespace = defaultNamespace
	}
	if o.Clock == nil {
		o.Clock = clock.System()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate reports the first option out of range, as New would, without
// any network call: this package's fields, then the lease's and the clock
// guard's (their errors match ErrInvalidOptions as well as
// lease.ErrInvalidOptions or clockguard.ErrInvalidOptions). A MaxSkew below
// what the round trip to Redis can resolve is found only by New.
func (o Options) Validate() error {
	d := o.withDefaults()
	if err := d.validate(); err != nil {
		return err
	}
	g := &Generator{opts: d}
	if err := g.leaseOptions().Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	if err := g.clockOptions().Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return nil
}

// validate checks the fields this package interprets itself; the lease,
// clockguard and snowflake packages check theirs, and New passes their
// errors on.
func (o Options) validate() error {
	if err := o.Layout.Validate(); err != nil {
		return optErr("Layout", o.Layout.Fingerprint(), "a valid snowflake.Layout", err)
	}
	neg := func(field string, d time.Duration) error {
		if d < 0 {
			return optErr(field, d, "0 (the default) or more", nil)
		}
		return nil
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"TTL", o.TTL}, {"Window", o.Window}, {"RenewInterval", o.RenewInterval},
		{"ReplicaTimeout", o.ReplicaTimeout}, {"MaxStartWait", o.MaxStartWait}, {"OpTimeout", o.OpTimeout},
		{"MaxSkew", o.MaxSkew}, {"ClockCheckInterval", o.ClockCheckInterval},
	} {
		if err := neg(f.name, f.d); err != nil {
			return err
		}
	}
	// Every fence is capped at Redis TIME + Window (see docs/design.md), so a
	// clock MaxSkew ahead of Redis leaves Window - MaxSkew of headroom; at or
	// below zero such a node would pass the clock check and issue nothing.
	// (A Window below the lease's minimum TTL is left to the lease to report.)
	if window, skew := o.effectiveWindow(), cmp.Or(o.MaxSkew, clockguard.DefaultMaxSkew); window >= lease.MinTTL && skew >= window {
		return optErr("MaxSkew", skew,
			fmt.Sprintf("below Window (%v): fences are capped at Redis TIME + Window", window), nil)
	}
	switch {
	case o.MinReplicas < lease.NoReplicaWait:
		return optErr("MinReplicas", o.MinReplicas, "-1 (lease.NoReplicaWait), 0 (every replica the master has had) or more", nil)
	case o.ClockSamples < 0:
		return optErr("ClockSamples", o.ClockSamples, "0 (the default) or more", nil)
	case o.MaxBorrow < 0:
		return optErr("MaxBorrow", o.MaxBorrow, "0 or more ticks", nil)
	case o.OnLeaseLost != Reacquire && o.OnLeaseLost != Fail:
		return optErr("OnLeaseLost", o.OnLeaseLost, "Reacquire or Fail", nil)
	}
	return nil
}

// effectiveWindow is Window after the lease package's defaults: Window, else
// TTL, else lease.DefaultTTL.
func (o Options) effectiveWindow() time.Duration {
	return cmp.Or(o.Window, o.TTL, lease.DefaultTTL)
}
