package clockguard

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen/snowflake"
)

// RegressionThreshold is the smallest backwards move of the wall clock
// reported as a regression. Smaller ones are within the error of reading
// the wall and monotonic clocks one after the other.
const RegressionThreshold = time.Millisecond

// Check measures the local clock against Redis TIME once (the start-up
// check, before the first ID). It returns a *SkewError (ErrClockSkew) when
// |offset| is beyond MaxSkew plus the uncertainty, an *OptionError when an
// option is out of range or MaxSkew is below the measured uncertainty, and
// an error wrapping ErrUnreachable when Redis did not answer within
// opts.Timeout. The estimate is returned with a *SkewError or the MaxSkew
// *OptionError.
func Check(ctx context.Context, client redis.UniversalClient, opts Options) (Estimate, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Estimate{}, err
	}
	if client == nil {
		return Estimate{}, errNilClient()
	}
	return startCheck(ctx, source(client, o.Key), o, nil)
}

func startCheck(ctx context.Context, src timeSource, o Options, gate *atomic.Bool) (Estimate, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	est, err := measure(ctx, src, o.Clock, o.Samples, gate)
	if err != nil {
		return Estimate{}, err
	}
	if err := o.resolvable(est); err != nil {
		return est, err
	}
	if est.Beyond(o.MaxSkew) {
		return est, &SkewError{Estimate: est, MaxSkew: o.MaxSkew}
	}
	return est, nil
}

// Stats is a snapshot of a Guard. It is a plain value, safe for concurrent
// use.
type Stats struct {
	// Estimate is the last good estimate; zero before the first.
	Estimate Estimate
	// LastGood is the local wall time of the last good check.
	LastGood time.Time
	// Stale is set while the latest check failed: Estimate is older.
	Stale bool
	// LastError is the latest check's failure, nil after a good check.
	LastError error
	// Beyond is set while the last good estimate is certainly beyond
	// MaxSkew.
	Beyond bool
	// Paused is set while the Pause policy holds the target paused.
	Paused bool
	// MaxSkew is the bound in force.
	MaxSkew time.Duration
	// ChecksOK and ChecksFailed count checks, including the start-up one.
	ChecksOK, ChecksFailed uint64
	// LargestSkew is the largest |offset| of any good estimate.
	LargestSkew time.Duration
	// Regressions counts backward moves of the wall clock against the
	// monotonic clock; LargestRegression is the furthest.
	Regressions       uint64
	LargestRegression time.Duration
	// BehindHWM counts checks that found the wall clock behind Options.HWM;
	// LargestBehindHWM is the furthest.
	BehindHWM        uint64
	LargestBehindHWM time.Duration
}

// Guard checks the local clock against Redis TIME in the background, every
// Options.Interval, and reports (and under the Pause policy, pauses) as
// Options say. Make one with Start or New. Its methods are safe for
// concurrent use.
//
// The zero Guard is a closed one that never checked: CheckNow returns
// ErrClosed, Stats is empty, SetTarget only records the target, and Close
// returns nil. It does not panic.
type Guard struct {
	opts      Options
	src       timeSource
	gate      atomic.Bool // one TIME request outstanding at most
	ctx       context.Context
	stop      context.CancelFunc
	done      chan struct{} // closed when the background checks stop
	closeOnce sync.Once
	closed    chan struct{} // closed when Close has finished

	checkMu sync.Mutex // serializes checks; guards prev
	prev    observation
	hasPrev bool

	mu    sync.Mutex // guards stats
	stats Stats

	targetMu sync.Mutex // guards target, holding, ended; held across Pause/Resume calls
	target   Pauser
	holding  bool // the policy wants the target paused
	ended    bool // Close released the target for good
}

// Start runs the start-up check like Check, and when it passes starts a
// Guard that checks again every Interval until Close. ctx bounds the
// start-up check only. No Guard is returned with an error.
func Start(ctx context.Context, client redis.UniversalClient, opts Options) (*Guard, error) {
	g, err := newGuard(client, opts)
	if err != nil {
		return nil, err
	}
	obs := observe(g.opts.Clock)
	est, err := startCheck(ctx, g.src, g.opts, &g.gate)
	if err != nil {
		g.stop()
		return nil, err
	}
	g.emit(g.record(obs, est, nil))
	go g.run(false)
	return g, nil
}

// New starts a Guard without the start-up check: its first check runs at
// once in the background, and a failure or a skew is reported like any
// later one. MaxSkew is not compared with the measured uncertainty.
func New(client redis.UniversalClient, opts Options) (*Guard, error) {
	g, err := newGuard(client, opts)
	if err != nil {
		return nil, err
	}
	go g.run(true)
	return g, nil
}

func newGuard(client redis.UniversalClient, opts Options) (*Guard, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if client == nil {
		return nil, errNilClient()
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &Guard{
		opts:   o,
		src:    source(client, o.Key),
		ctx:    ctx,
		stop:   cancel,
		done:   make(chan struct{}),
		closed: make(chan struct{}),
		target: o.Target,
	}
	g.stats.MaxSkew = o.MaxSkew
	return g, nil
}

func (g *Guard) run(first bool) {
	defer close(g.done)
	if first {
		_, _ = g.check(g.ctx)
	}
	t := g.opts.Clock.NewTicker(g.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-t.C():
			_, _ = g.check(g.ctx)
		}
	}
}

// CheckNow runs a check at once, reporting as a background check does, and
// returns its estimate. The error is a *SkewError (with the estimate) when
// the skew is beyond the bound, wraps ErrUnreachable when Redis did not
// answer within Options.Timeout or before ctx ended (counted as a failed
// check, like any other), and is ErrClosed after Close. It waits for a
// check already running.
func (g *Guard) CheckNow(ctx context.Context) (Estimate, error) {
	if g.ctx == nil || g.ctx.Err() != nil { // closed, or the zero Guard
		return Estimate{}, ErrClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(g.ctx, cancel)()
	return g.check(ctx)
}

func (g *Guard) check(ctx context.Context) (Estimate, error) {
	g.checkMu.Lock()
	defer g.checkMu.Unlock()
	obs := observe(g.opts.Clock)
	mctx, cancel := context.WithTimeout(ctx, g.opts.Timeout)
	est, err := measure(mctx, g.src, g.opts.Clock, g.opts.Samples, &g.gate)
	cancel()
	if g.ctx.Err() != nil {
		return Estimate{}, ErrClosed // closing: a cancelled check is no news
	}
	evs := g.record(obs, est, err)
	evs = append(evs, g.applyPolicy(est, err)...)
	g.emit(evs)
	if err != nil {
		return Estimate{}, err
	}
	if est.Beyond(g.opts.MaxSkew) {
		return est, &SkewError{Estimate: est, MaxSkew: g.opts.MaxSkew}
	}
	return est, nil
}

// record updates the statistics with one check and returns its events.
// Called with checkMu held.
func (g *Guard) record(obs observation, est Estimate, err error) []Event {
	var back time.Duration
	if g.hasPrev {
		back = regression(g.prev, obs)
	}
	g.prev, g.hasPrev = obs, true
	behind := g.behindHWM()

	g.mu.Lock()
	defer g.mu.Unlock()
	st := &g.stats
	var evs []Event
	if back >= RegressionThreshold {
		st.Regressions++
		st.LargestRegression = max(st.LargestRegression, back)
		evs = append(evs, Event{Kind: EventRegression, Amount: back})
	}
	if behind > 0 && behind > g.opts.HWMTolerance {
		st.BehindHWM++
		st.LargestBehindHWM = max(st.LargestBehindHWM, behind)
		evs = append(evs, Event{Kind: EventBehindHWM, Amount: behind})
	}
	if err != nil {
		st.ChecksFailed++
		st.Stale = true
		st.LastError = err
		evs = append(evs, Event{Kind: EventStale, Err: err})
	} else {
		if st.Stale {
			evs = append(evs, Event{Kind: EventRecovered})
		}
		st.ChecksOK++
		st.Stale = false
		st.LastError = nil
		st.Estimate = est
		st.LastGood = est.At
		st.LargestSkew = max(st.LargestSkew, est.Offset.Abs())
		beyond := est.Beyond(g.opts.MaxSkew)
		switch {
		case beyond && !st.Beyond:
			evs = append(evs, Event{Kind: EventSkew, Amount: est.Offset.Abs()})
		case !beyond && st.Beyond:
			evs = append(evs, Event{Kind: EventSkewCleared})
		}
		st.Beyond = beyond
	}
	for i := range evs {
		evs[i].At = obs.wall
		evs[i].Estimate = st.Estimate
		evs[i].MaxSkew = g.opts.MaxSkew
	}
	return evs
}

// applyPolicy pauses or resumes the target after a good check. A failed
// check changes nothing: the last good estimate stands.
func (g *Guard) applyPolicy(est Estimate, err error) []Event {
	if g.opts.Policy != Pause || err != nil {
		return nil
	}
	want := est.Beyond(g.opts.MaxSkew)
	g.targetMu.Lock()
	defer g.targetMu.Unlock()
	if g.ended || want == g.holding {
		return nil
	}
	g.holding = want
	kind := EventResumed
	if want {
		kind = EventPaused
	}
	if g.target != nil {
		if want {
			g.target.Pause()
		} else {
			g.target.Resume()
		}
	}
	g.mu.Lock()
	g.stats.Paused = want
	g.mu.Unlock()
	return []Event{{Kind: kind, At: est.At, Estimate: est, MaxSkew: g.opts.MaxSkew}}
}

func (g *Guard) emit(evs []Event) {
	for _, e := range evs {
		g.opts.Logger.LogAttrs(context.Background(), e.level(), e.String(), e.attrs()...)
		if g.opts.OnEvent != nil {
			g.opts.OnEvent(e)
		}
	}
	if len(evs) == 0 {
		g.opts.Logger.LogAttrs(context.Background(), slog.LevelDebug, "clockguard: check")
	}
}

// behindHWM is how far the wall clock is behind the start of the last
// issued tick; zero or negative when it is not.
func (g *Guard) behindHWM() time.Duration {
	if g.opts.HWM == nil {
		return 0
	}
	hwm := g.opts.HWM()
	if hwm <= 0 {
		return 0
	}
	hwm = min(hwm, g.opts.Layout.MaxTick())
	return g.opts.Layout.Time(hwm).Sub(g.opts.Clock.Now().Round(0))
}

// SetTarget replaces the target of the Pause policy. While the Guard holds
// issuing paused, the new target is paused before the old one is resumed,
// so a generator swapped in after a lease is reacquired starts paused. A
// nil target detaches the current one.
func (g *Guard) SetTarget(p Pauser) {
	g.targetMu.Lock()
	defer g.targetMu.Unlock()
	old := g.target
	g.target = p
	if !g.holding || samePauser(old, p) {
		return
	}
	if p != nil {
		p.Pause()
	}
	if old != nil {
		old.Resume()
	}
}

func samePauser(a, b Pauser) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta.Comparable() && a == b
}

// Stats returns a snapshot. It never waits for a check in progress.
func (g *Guard) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats
}

// Close stops the background checks and, if the Pause policy holds the
// target paused, resumes it: a closed Guard holds nothing. It does not wait
// for Redis (an outstanding TIME request is abandoned), only for the check
// in progress to notice, and returns nil when that is done, or ctx.Err()
// if ctx ends first (the Guard then finishes closing in the background).
// It is idempotent; CheckNow returns ErrClosed afterwards.
func (g *Guard) Close(ctx context.Context) error {
	if g.done == nil {
		return nil // the zero Guard: nothing runs
	}
	g.closeOnce.Do(func() {
		g.stop()
		go func() {
			defer close(g.closed)
			<-g.done
			g.release()
		}()
	})
	select {
	case <-g.closed:
		return nil
	case <-ctx.Done():
		select {
		case <-g.closed:
			return nil
		default:
			return ctx.Err()
		}
	}
}

// release resumes a target the Pause policy holds paused, for good.
func (g *Guard) release() {
	g.targetMu.Lock()
	defer g.targetMu.Unlock()
	g.ended = true
	if g.holding && g.target != nil {
		g.target.Resume()
	}
	g.holding = false
	g.mu.Lock()
	g.stats.Paused = false
	g.mu.Unlock()
}

// observation pairs a wall-clock reading with a monotonic one.
type observation struct {
	wall time.Time
	mono time.Duration
}

// observe reads the two clocks as close together as it can: a few tries,
// keeping the pair whose monotonic bracket is narrowest.
func observe(c snowflake.Clock) observation {
	var best observation
	bestGap := time.Duration(-1)
	for range 3 {
		m0 := c.Monotonic()
		w := c.Now().Round(0) // wall reading only: no monotonic shortcut in Sub
		m1 := c.Monotonic()
		gap := m1 - m0
		if bestGap < 0 || gap < bestGap {
			best, bestGap = observation{wall: w, mono: m0 + gap/2}, gap
		}
		if gap < 50*time.Microsecond {
			break
		}
	}
	return best
}

// regression is how far the wall clock fell behind the monotonic clock
// from a to b; negative when it moved ahead.
func regression(a, b observation) time.Duration {
	return (b.mono - a.mono) - b.wall.Sub(a.wall)
}
