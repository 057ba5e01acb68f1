package snowflake

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync/atomic"
	"time"
)

// Errors returned by Generator.Next and NextN. They are returned as they are
// (not wrapped) so that a refused call allocates nothing; errors.Is works all
// the same.
var (
	// ErrFenced: the next ID's tick would be above the fence. Raising the
	// fence (SetFence) lets the generator go on.
	ErrFenced = errors.New("snowflake: fence reached")
	// ErrPaused: the generator is paused (Pause) until Resume.
	ErrPaused = errors.New("snowflake: generator paused")
	// ErrStopped: the generator was stopped (Stop), for good.
	ErrStopped = errors.New("snowflake: generator stopped")
	// ErrTimeExhausted: the layout's time bits have run out (see
	// Layout.End), or StartAfter leaves no tick. New returns it wrapped.
	ErrTimeExhausted = errors.New("snowflake: layout's time bits exhausted")

	// errZero is what Next and NextN of a zero Generator return.
	errZero = fmt.Errorf("%w (a zero Generator: make one with New)", ErrStopped)
)

// Options configure a Generator. The zero value means: the real clock, no
// lower bound, no fence, no borrowing. New copies them. Options is a plain
// value, safe for concurrent use.
type Options struct {
	// Clock is the source of time; nil means the real clock. The wall clock
	// is read once, in New, to anchor ticks to the epoch; after that only
	// Monotonic is read.
	Clock Clock
	// StartAfter is a tick the first ID must be above: the lease's
	// high-water mark. 0 means no bound (IDs start at tick 1 at the
	// earliest). Allowed 0 to MaxTick-1. When the clock is behind it, Next
	// waits for the clock (see MaxBorrow): the lease only passes values that
	// are close.
	StartAfter int64
	// Fence is the highest tick that may be issued, raised later with
	// SetFence; 0 means no fence (MaxTick). Allowed 0 to MaxTick. A fence at
	// or below StartAfter refuses every ID until it is raised.
	Fence int64
	// MaxBorrow is how many ticks ahead of the clock the generator may run
	// when a tick's sequence is used up, instead of waiting for the clock.
	// 0 means none. Allowed 0 to MaxTick. Borrowing never passes the fence.
	MaxBorrow int64
}

// Stats are a generator's counters. They are read without stopping the
// generator, so while IDs are being issued they may lag behind by the calls
// in flight; Issued is exact when no call is in flight, never exceeds the true
// count and never decreases. Stats is a plain value, safe for concurrent use.
type Stats struct {
	// Issued is how many IDs were issued.
	Issued uint64
	// Borrowed is how many ticks were started ahead of the clock (see
	// Options.MaxBorrow).
	Borrowed uint64
	// Waited is how many calls waited for the clock because the sequence of
	// a tick was used up and no more could be borrowed, or the clock was
	// behind StartAfter.
	Waited uint64
	// Fenced is how many calls were refused with ErrFenced.
	Fenced uint64
	// Paused is how many calls were refused with ErrPaused.
	Paused uint64
}

const (
	// stopBit marks the state word of a stopped generator.
	stopBit = 1 << 63
	// pausedBit is the sign bit of the fence word: while it is set the fence
	// word is negative, so every tick is above it and the fast path's single
	// comparison catches pauses too.
	pausedBit = math.MinInt64
	// spinWindow is how close to the wanted tick a waiting call stops
	// sleeping and yields in a loop instead: time.Sleep overshoots by up to
	// about a millisecond, which at 1 ms ticks would cost a tenth of the
	// layout's capacity or more.
	spinWindow = 2 * time.Millisecond
	// busyWindow is how close to the wanted tick a waiting call stops
	// yielding and only reads the clock: a yield can take longer than that,
	// and every microsecond late at a 1 ms tick is 0.1% of the capacity.
	busyWindow = 10 * time.Microsecond
	// maxSleep bounds one sleep, so that a waiting call notices Stop, Pause
	// and the fence soon.
	maxSleep = 10 * time.Millisecond
	// cacheLine separates the contended state word from the fields that are
	// read on every call; 128 covers the adjacent-line prefetcher too.
	cacheLine = 128
)

// Generator issues IDs for one worker ID of one layout. It is lock-free:
// one atomic word holds the tick and sequence of the last ID issued, so the
// next state is that word plus one (a carry into the next tick is borrowing),
// taken with a compare-and-swap. Make one with New.
//
// A Generator is safe for concurrent use by any number of goroutines. The
// zero Generator issues nothing: Next and NextN return an error matching
// ErrStopped.
type Generator struct {
	// Set by New and then only read, on every call.
	layout     Layout
	worker     int64
	seqBits    uint8
	workerBits uint8
	seqMask    uint64
	workerPart uint64 // worker << seqBits
	maxTick    int64
	maxBorrow  int64
	unit       int64 // TimeUnit in nanoseconds
	div        divisor
	tick0      int64 // tick of the wall clock at the anchor
	off0       int64 // nanoseconds into tick0 at the anchor
	anchor     time.Time
	clock      Clock // nil: time.Since(anchor), without an interface call
	mono0      time.Duration
	initial    uint64 // state before the first ID: StartAfter's last sequence

	// fence is the highest tick that may be issued, with pausedBit set while
	// paused. It changes rarely, so it shares the read-mostly line.
	fence atomic.Int64

	_ [cacheLine]byte
	// state is tick<<seqBits | sequence of the last ID issued (initial before
	// the first), with stopBit once stopped. It only grows.
	state atomic.Uint64
	_     [cacheLine]byte

	// Counters, updated off the fast path: skipped at most once per tick,
	// the others only when borrowing, waiting or refusing.
	skipped  atomic.Uint64 // state values jumped over when the clock moved on
	borrowed atomic.Uint64
	waited   atomic.Uint64
	fenced   atomic.Uint64
	paused   atomic.Uint64
	issued   atomic.Uint64 // highest Issued reported, so it never goes back
}

// New returns a generator for the given worker ID. It checks the layout
// against the clock (Validate), the worker ID (0 to MaxWorker) and the
// options, and returns an error naming the first field out of range: a
// Layout error (ErrBitWidths, ErrEpoch, ...) or an *OptionError wrapping
// ErrInvalidOptions (and ErrWorkerRange for the worker ID, ErrTimeExhausted
// for a StartAfter that leaves no tick).
func New(l Layout, worker int64, opts Options) (*Generator, error) {
	g := &Generator{layout: l, worker: worker, maxBorrow: opts.MaxBorrow}
	var wall time.Time
	if _, system := opts.Clock.(systemClock); opts.Clock == nil || system {
		g.anchor = time.Now()
		wall = g.anchor
	} else {
		g.clock = opts.Clock
		g.mono0 = g.clock.Monotonic()
		wall = g.clock.Now()
	}
	if err := l.validateAt(wall); err != nil {
		return nil, err
	}
	g.maxTick = l.MaxTick()
	var startErr error
	if opts.StartAfter > 0 {
		startErr = ErrTimeExhausted // the high-water mark is at the layout's end
	}
	checks := []error{
		checkRange(ErrInvalidOptions, "worker ID", worker, 0, l.MaxWorker(), ErrWorkerRange),
		checkRange(ErrInvalidOptions, "Options.StartAfter", opts.StartAfter, 0, g.maxTick-1, startErr),
		checkRange(ErrInvalidOptions, "Options.Fence", opts.Fence, 0, g.maxTick, nil),
		checkRange(ErrInvalidOptions, "Options.MaxBorrow", opts.MaxBorrow, 0, g.maxTick, nil),
	}
	if err := firstErr(checks); err != nil {
		return nil, err
	}
	g.tick0 = l.Tick(wall)
	if g.tick0 > g.maxTick {
		return nil, fmt.Errorf("%w: the clock (%s) is past the layout's end (%s)",
			ErrTimeExhausted, wall.UTC().Format(time.RFC3339), l.End().UTC().Format(time.RFC3339))
	}
	g.off0 = int64(wall.Sub(l.Time(g.tick0)))
	g.unit = int64(l.TimeUnit)
	g.div = newDivisor(uint64(g.unit))
	g.seqBits, g.workerBits = l.SequenceBits, l.WorkerBits
	g.seqMask = uint64(l.MaxSequence())
	g.workerPart = uint64(worker) << l.SequenceBits
	g.initial = uint64(opts.StartAfter)<<l.SequenceBits | g.seqMask
	g.state.Store(g.initial)
	fence := opts.Fence
	if fence == 0 {
		fence = g.maxTick
	}
	g.fence.Store(fence)
	return g, nil
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Next returns a new ID, greater than every ID this generator returned
// before. It allocates nothing and never blocks on anything but the clock:
// when the current tick's sequence is used up and MaxBorrow allows no more
// ticks ahead (or the clock is behind StartAfter), it waits for the tick it
// needs, sleeping while that is more than 2 ms away, then yielding the
// processor (runtime.Gosched) in a loop, and only in the last 10 µs reading
// the clock in a tight loop, so that it starts on the new tick at once
// without holding a core for long. It returns ErrFenced, ErrPaused,
// ErrStopped or ErrTimeExhausted at once instead of an ID it may not issue.
func (g *Generator) Next() (ID, error) {
	_, last, err := g.reserve(1)
	if err != nil {
		return 0, err
	}
	return g.id(last), nil
}

// NextN fills dst with new IDs, consecutive and increasing, taken with one
// state update, and returns how many it wrote. It writes fewer than len(dst)
// when the fence, MaxBorrow or the end of the layout's time allows no more
// without waiting; call it again for the rest. It waits for the clock, and
// refuses, as Next does; an error comes with n == 0.
func (g *Generator) NextN(dst []ID) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	first, last, err := g.reserve(uint64(len(dst)))
	if err != nil {
		return 0, err
	}
	return g.fill(dst, first, last), nil
}

// reserve takes the states first to last, n of them at most (n >= 1) and
// at least one, with one compare-and-swap of the state word: the states
// after the last one issued, or from sequence 0 of the clock's tick when
// the clock has moved past them. It stops at the limit (the fence, MaxBorrow
// ticks ahead of the clock), waits for the clock when not even one state is
// within it, and returns the error of a refusal (see refuse). Next and NextN
// are this plus turning states into IDs.
func (g *Generator) reserve(n uint64) (first, last uint64, err error) {
	// g.now(), by hand: three calls deep costs a few percent of a call.
	var ns int64
	if g.clock == nil {
		ns = int64(time.Since(g.anchor))
	} else {
		ns = int64(g.clock.Monotonic() - g.mono0)
	}
	now := g.tickAt(ns)
	waited := false
	for {
		lim := now + g.maxBorrow
		if f := g.fence.Load(); f < lim {
			lim = f // also negative while paused
		}
		old := g.state.Load()
		first = old + 1
		var skip uint64
		if g.tickOf(first) < now {
			// The clock has moved on: start its tick at sequence 0. A
			// stopped state can wrap to 0 here, so stopBit is checked.
			if now > g.maxTick || old&stopBit != 0 {
				if err := g.refuse(old, now, now, &waited); err != nil {
					return 0, 0, err
				}
				now = g.now()
				continue
			}
			first = g.stateAt(now)
			skip = first - old - 1
			g.skipped.Add(skip) // before the CAS, so Stats never over-counts
		}
		tick := g.tickOf(first) // a stopped state gives a tick above any fence
		if tick > lim {
			if err := g.refuse(old, tick, now, &waited); err != nil {
				return 0, 0, err
			}
			now = g.now()
			continue
		}
		last = first
		if n > 1 { // a batch stops at the limit's last state
			last = min(first+n-1, g.stateAt(lim)|g.seqMask)
		}
		if !g.state.CompareAndSwap(old, last) {
			if skip != 0 {
				g.skipped.Add(-skip)
			}
			continue
		}
		// Ticks started ahead of the clock, after the last one issued, were
		// borrowed. (Computed this way round, Next pays two comparisons.)
		if lastTick := g.tickOf(last); lastTick > now && lastTick > g.tickOf(old) {
			g.borrowed.Add(uint64(lastTick - max(g.tickOf(old), now)))
		}
		return first, last, nil
	}
}

// fill writes the IDs of states first to last into dst, a tick at a time:
// within a tick consecutive states are consecutive IDs.
func (g *Generator) fill(dst []ID, first, last uint64) int {
	n := int(last - first + 1)
	dst = dst[:n]
	for i := 0; i < n; {
		id := g.id(first)
		k := min(n-i, int(g.seqMask-first&g.seqMask)+1)
		run := dst[i : i+k]
		for j := range run {
			run[j] = id + ID(j)
		}
		i += k
		first += uint64(k)
	}
	return n
}

// refuse handles a call that cannot take tick now: it returns the error to
// give, or waits a little for the clock and returns nil to retry.
func (g *Generator) refuse(old uint64, tick, now int64, waited *bool) error {
	if old&stopBit != 0 {
		return ErrStopped
	}
	if g.unit == 0 {
		// The zero Generator: its limit is tick 0, so every call ends here.
		return errZero
	}
	f := g.fence.Load()
	switch {
	case f < 0:
		g.paused.Add(1)
		return ErrPaused
	case tick > g.maxTick:
		return ErrTimeExhausted
	case tick > f:
		g.fenced.Add(1)
		return ErrFenced
	}
	// Ahead of the clock by more than MaxBorrow: wait for it.
	if !*waited {
		*waited = true
		g.waited.Add(1)
	}
	g.wait(tick-g.maxBorrow, now)
	return nil
}

// wait sleeps or yields once on the way to tick target.
func (g *Generator) wait(target, now int64) {
	if target-now > int64(maxSleep)/g.unit+1 {
		time.Sleep(maxSleep)
		return
	}
	left := time.Duration((target-g.tick0)*g.unit - g.off0 - g.elapsed())
	switch {
	case left > spinWindow:
		time.Sleep(min(left-spinWindow, maxSleep))
	case left > busyWindow:
		runtime.Gosched()
	}
	// Within busyWindow: back to the caller's loop at once, which reads the
	// clock again.
}

// The shifts are masked to 63 so that the compiler drops its checks for
// shifts of 64 or more: New made sure they are below.

func (g *Generator) id(state uint64) ID {
	return ID((state&^g.seqMask)<<(g.workerBits&63) | g.workerPart | state&g.seqMask)
}

func (g *Generator) tickOf(state uint64) int64 { return int64(state >> (g.seqBits & 63)) }

func (g *Generator) stateAt(tick int64) uint64 { return uint64(tick) << (g.seqBits & 63) }

// elapsed is the monotonic time since the anchor, in nanoseconds.
func (g *Generator) elapsed() int64 {
	if g.clock == nil {
		return int64(time.Since(g.anchor)) // monotonic: the anchor came from time.Now
	}
	return int64(g.clock.Monotonic() - g.mono0)
}

func (g *Generator) now() int64 { return g.tickAt(g.elapsed()) }

// tickAt is the tick at ns nanoseconds of monotonic time after the anchor.
func (g *Generator) tickAt(ns int64) int64 {
	ns += g.off0
	if ns < 0 { // only a Clock whose Monotonic went backwards
		return g.tick0 - 1
	}
	return g.tick0 + int64(g.div.div(uint64(ns)))
}

// CurrentTick is the generator's current tick by its monotonic clock (not a
// time: Layout.Time converts it).
func (g *Generator) CurrentTick() int64 { return g.now() }

// LastTick is the tick of the last ID issued, or StartAfter if none was. It
// is the highest tick issued: after Stop it no longer changes, and the lease
// writes it back as the high-water mark.
func (g *Generator) LastTick() int64 {
	return g.tickOf(g.state.Load() &^ stopBit)
}

// SetFence raises the fence, the highest tick that may be issued, to tick. A
// lower value than the current fence is ignored; a value above MaxTick is
// taken as MaxTick.
func (g *Generator) SetFence(tick int64) {
	tick = min(tick, g.maxTick)
	for {
		old := g.fence.Load()
		if tick <= old&math.MaxInt64 || g.fence.CompareAndSwap(old, old&pausedBit|tick) {
			return
		}
	}
}

// Fence is the highest tick that may be issued (MaxTick when there is no
// fence).
func (g *Generator) Fence() int64 { return g.fence.Load() & math.MaxInt64 }

// Pause makes Next and NextN return ErrPaused until Resume. Calls already
// past their check when Pause is called may still return an ID. Pausing
// keeps the fence and the state.
func (g *Generator) Pause() { g.fence.Or(pausedBit) }

// Resume ends a Pause. It does not undo Stop.
func (g *Generator) Resume() { g.fence.And(math.MaxInt64) }

// Paused reports whether the generator is paused.
func (g *Generator) Paused() bool { return g.fence.Load() < 0 }

// Stop stops the generator for good: Next and NextN return ErrStopped. Stop
// changes the same atomic word that issuing does, so once it returns no call
// can issue an ID with a tick above LastTick, which is then final. Stop is
// idempotent.
func (g *Generator) Stop() { g.state.Or(stopBit) }

// WorkerID is the generator's worker ID.
func (g *Generator) WorkerID() int64 { return g.worker }

// Layout is the generator's layout.
func (g *Generator) Layout() Layout { return g.layout }

// Stats returns the generator's counters.
func (g *Generator) Stats() Stats {
	// State first, skipped second: skipped then holds every jump the state
	// shows (and maybe some it does not yet), so the difference never
	// over-counts.
	span := g.state.Load()&^stopBit - g.initial
	var issued uint64
	if skipped := g.skipped.Load(); skipped < span {
		issued = span - skipped
	}
	for {
		seen := g.issued.Load()
		if issued <= seen {
			issued = seen
			break
		}
		if g.issued.CompareAndSwap(seen, issued) {
			break
		}
	}
	return Stats{
		Issued:   issued,
		Borrowed: g.borrowed.Load(),
		Waited:   g.waited.Load(),
		Fenced:   g.fenced.Load(),
		Paused:   g.paused.Load(),
	}
}
