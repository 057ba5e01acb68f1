// Package idgen hands every node of a horizontally scaled service a unique
// worker ID leased from Redis and generates 64-bit, time-sortable Snowflake
// IDs locally, with no network call per ID.
//
// It wires three packages together: snowflake (the bit layout and a
// lock-free generator that never issues a tick above its fence), lease (the
// worker-ID lease, its heartbeat and the per-worker high-water mark) and
// clockguard (the local clock measured against Redis TIME).
//
// An ID is, from the most significant bit down (snowflake.Twitter() layout):
//
//	0 | 41 bits of milliseconds since 2010-11-04T01:42:54.657Z | 10 bits worker | 12 bits sequence
//
// # Guarantees
//
// IDs are unique within a namespace, across all nodes and restarts, and
// strictly increasing per Generator (also across a change of worker ID after
// a lease loss). Uniqueness does not rest on clocks or on pauses: a
// generator never issues a tick above its fence, and a node raises the
// worker ID's high-water mark in Redis to a fence before it uses that fence,
// so a later holder of the same worker ID starts above every tick an earlier
// holder could have issued. What it rests on is Redis not evicting the
// namespace's keys (New refuses an allkeys-* maxmemory-policy): a Redis
// that comes back with older data (a restart from a snapshot or from an
// AOF that lost its tail, a restored backup, a failover to a replica that
// missed writes) is another server incarnation, which the lease notices and
// answers with a quarantine, and a master cut off from its replicas cannot
// raise fences. Persistence and replication settings shorten outages; they
// are not needed for uniqueness. See docs/design.md.
//
// IDs from different nodes are ordered by time only as well as the nodes'
// clocks agree; the clock guard refuses to start beyond Options.MaxSkew.
package idgen

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen/clock"
	"github.com/snowlease/idgen/clockguard"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/snowflake"
)

// Errors returned by a Generator. Errors from the snowflake, lease and
// clockguard packages are passed on wrapped, so errors.Is also matches their
// sentinels (snowflake.ErrFenced, clockguard.ErrClockSkew, ...).
var (
	// ErrClosed is returned by Next and NextN after Close.
	ErrClosed = errors.New("idgen: generator closed")
	// ErrLeaseLost is the lease package's sentinel: the worker ID was lost.
	// Under the Fail policy it is permanent; under Reacquire it comes
	// together with ErrUnavailable until a new worker ID is in use.
	ErrLeaseLost = lease.ErrLeaseLost
	// ErrRedisUnreachable: New could not reach Redis (refused, timed out,
	// a lost connection). Wrapped together with the cause.
	ErrRedisUnreachable = errors.New("idgen: redis unreachable")
	// ErrRedisAuth: Redis refused the credentials (NOAUTH, WRONGPASS) or
	// the ACL user may not run a command or touch a key idgen needs
	// (NOPERM; docs/operations.md has the ACL line).
	ErrRedisAuth = errors.New("idgen: redis authentication or permission refused")
	// ErrClockSkew is the clock guard's sentinel: at start-up the local
	// clock is further from Redis TIME than MaxSkew allows.
	ErrClockSkew = clockguard.ErrClockSkew
	// ErrUnavailable means no ID can be issued at this moment, but the
	// Generator is working to fix it: renewals are failing and the fence is
	// reached (snowflake.ErrFenced), the clock guard paused issuing
	// (snowflake.ErrPaused), or a new worker ID is being acquired. Retry
	// after a short wait; Next never blocks on the network.
	ErrUnavailable = errors.New("idgen: no ID can be issued right now")
)

// Generator issues unique, time-sortable IDs from a worker ID leased in
// Redis. Make one with New (or Start). It is safe for concurrent use by any
// number of goroutines.
//
// The zero Generator is a closed one that never held a worker ID: Next,
// NextN, NextContext, Ready and Err return an error matching ErrClosed,
// Done is closed, WorkerID is -1, Stats is empty and Close returns nil. It
// does not panic.
type Generator struct {
	cur    atomic.Pointer[node] // never nil after New
	opts   Options
	client redis.UniversalClient
	guard  *clockguard.Guard
	// waitLog reports waits before the first ID: Options.Logger, or
	// slog.Default() when it is nil.
	waitLog *slog.Logger

	ctx    context.Context // cancelled by Close: stops reacquiring
	cancel context.CancelFunc
	wg     sync.WaitGroup // the watcher goroutine

	closed      atomic.Bool
	reacquiring atomic.Pointer[error] // the lease error while a new lease is sought
	lastAttempt atomic.Pointer[error] // why the last reacquire attempt failed, if it did
	leasesLost  atomic.Int64

	mu       sync.Mutex // guards the fields below and node swaps
	retired  counters   // sums over nodes no longer in use
	failErr  error      // set under the Fail policy
	doneErr  error
	done     chan struct{}
	closeErr error
	closing  bool
	closeEnd chan struct{} // closed when the first Close returns
}

// errZero is what the methods of a zero Generator return.
var errZero = fmt.Errorf("%w (a zero Generator: make one with New or Start)", ErrClosed)

// closedChan is the Done channel of a zero Generator.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// startErr adds ErrRedisUnreachable or ErrRedisAuth to a start-up error
// whose cause is one of them, so a caller can tell "Redis is down" from
// "the password is wrong" from "the clock is off" (ErrClockSkew) with
// errors.Is.
func startErr(err error) error {
	var re redis.Error
	switch {
	case errors.Is(err, lease.ErrAuth), errors.Is(err, lease.ErrPermission):
		return fmt.Errorf("%w: %w", ErrRedisAuth, err)
	case errors.As(err, &re):
		msg := re.Error()
		if strings.HasPrefix(msg, "NOAUTH") || strings.HasPrefix(msg, "WRONGPASS") || strings.HasPrefix(msg, "NOPERM") ||
			strings.Contains(msg, "no permissions") || strings.Contains(msg, "unauthenticated") {
			return fmt.Errorf("%w: %w", ErrRedisAuth, err)
		}
	case errors.Is(err, lease.ErrUnavailable), errors.Is(err, clockguard.ErrUnreachable):
		return fmt.Errorf("%w: %w", ErrRedisUnreachable, err)
	}
	return err
}

// node is one worker ID's lease and the generator bound to it.
type node struct {
	lease *lease.Lease
	gen   *snowflake.Generator
}

// counters are the Stats fields that add up across worker IDs.
type counters struct {
	issued, borrowed, fenced uint64
	renewals, renewFailures  uint64
}

// New checks the local clock against Redis, leases a worker ID in
// opts.Namespace, waits until the clock is past the worker ID's high-water
// mark (and any start-up quarantine), and returns a Generator whose fence
// the lease heartbeat raises from then on. The wait is bounded by the
// lease: a worker ID that starts more than MaxStartWait ahead of the clock
// is not taken, except during the start-up quarantine of a new namespace or
// of a Redis that lost its data, which adds Window + MaxSkew. New returns
// early when ctx is done.
//
// The caller must Close the Generator to release the worker ID at once;
// otherwise it becomes free one TTL after the process ends.
func New(ctx context.Context, client redis.UniversalClient, opts Options) (*Generator, error) {
	if client == nil {
		return nil, errNilClient()
	}
	// Every option is checked before the first network call.
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	g := &Generator{opts: o, client: client, done: make(chan struct{}), closeEnd: make(chan struct{}),
		waitLog: cmp.Or(opts.Logger, slog.Default())}

	// The guard's start-up check comes first: a clock far off Redis's
	// must not take a worker ID at all.
	guard, err := clockguard.Start(ctx, client, g.clockOptions())
	if err != nil {
		return nil, startErr(fmt.Errorf("idgen: start-up clock check: %w", err))
	}
	g.guard = guard
	n, err := g.start(ctx, 0)
	if err != nil {
		_ = guard.Close(context.Background()) // prompt: it abandons a check in flight
		return nil, startErr(err)
	}
	g.cur.Store(n)
	guard.SetTarget(n.gen)
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.wg.Add(1)
	go g.watch(n)
	o.Logger.Info("idgen: generator started", "namespace", o.Namespace, "worker", n.lease.WorkerID(),
		"layout", o.Layout.Fingerprint())
	return g, nil
}

func (g *Generator) leaseOptions() lease.Options {
	o := g.opts
	return lease.Options{
		Namespace:      o.Namespace,
		Layout:         o.Layout,
		TTL:            o.TTL,
		Window:         o.Window,
		RenewInterval:  o.RenewInterval,
		MinReplicas:    o.MinReplicas,
		AllowEviction:  o.AllowEviction,
		ReplicaTimeout: o.ReplicaTimeout,
		MaxSkew:        o.MaxSkew,
		MaxStartWait:   o.MaxStartWait,
		OpTimeout:      o.OpTimeout,
		Logger:         o.Logger,
		Clock:          o.Clock,
		Host:           o.Host,
	}
}

func (g *Generator) clockOptions() clockguard.Options {
	o := g.opts
	return clockguard.Options{
		MaxSkew:      o.MaxSkew,
		Interval:     o.ClockCheckInterval,
		Samples:      o.ClockSamples,
		Policy:       o.ClockPolicy,
		Clock:        o.Clock,
		Logger:       o.Logger,
		OnEvent:      o.OnClockEvent,
		Layout:       o.Layout,
		HWM:          g.lastIssuedTick,
		HWMTolerance: time.Duration(o.MaxBorrow) * o.Layout.TimeUnit,
		Key:          lease.KeysOf(o.Namespace).Tag(),
	}
}

// lastIssuedTick is the highest tick the current generator issued, or 0
// before its first ID, for the clock guard's check that the clock is not
// behind it.
func (g *Generator) lastIssuedTick() int64 {
	n := g.cur.Load()
	if n == nil || n.gen.Stats().Issued == 0 {
		return 0
	}
	return n.gen.LastTick()
}

// start acquires a lease and a generator bound to it whose first tick is
// above both the lease's StartAfter and after, and waits until the clock is
// there.
func (g *Generator) start(ctx context.Context, after int64) (*node, error) {
	l, err := lease.Acquire(ctx, g.client, g.leaseOptions())
	if err != nil {
		return nil, fmt.Errorf("idgen: acquire a worker ID in namespace %q: %w", g.opts.Namespace, err)
	}
	startAfter := max(l.StartAfter(), after, 0)
	gen, err := snowflake.New(g.opts.Layout, l.WorkerID(), snowflake.Options{
		Clock:      generatorClock(g.opts.Clock),
		StartAfter: startAfter,
		Fence:      l.Fence(),
		MaxBorrow:  g.opts.MaxBorrow,
	})
	if err != nil {
		g.releaseQuietly(l)
		return nil, fmt.Errorf("idgen: start the generator for worker %d: %w", l.WorkerID(), err)
	}
	l.Bind(gen)
	reason := WaitHighWaterMark
	if q := l.Quarantine(); q > 0 && startAfter == q {
		reason = WaitQuarantine
	}
	if err := g.waitPast(ctx, gen, l.WorkerID(), startAfter, reason); err != nil {
		g.releaseQuietly(l)
		return nil, fmt.Errorf("idgen: worker %d: %w", l.WorkerID(), err)
	}
	return &node{lease: l, gen: gen}, nil
}

// generatorClock is the clock for snowflake.New: nil for the system clock,
// so that the generator reads time.Since on its hot path instead of calling
// through an interface (the same time).
func generatorClock(c clock.Clock) snowflake.Clock {
	if c == clock.System() {
		return nil
	}
	return c
}

func (g *Generator) releaseQuietly(l *lease.Lease) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.Close(ctx)
}

// waitPast sleeps until the generator's clock is past tick, or ctx ends.
// How far ahead tick may lie is bounded by the lease: Acquire refuses a
// worker ID that starts more than MaxStartWait (plus any data-loss
// quarantine) ahead of the clock. A wait is reported with its reason to
// OnStartWait and to the logger (slog.Default() when Options.Logger is nil).
func (g *Generator) waitPast(ctx context.Context, gen *snowflake.Generator, worker, tick int64, reason WaitReason) error {
	unit := g.opts.Layout.TimeUnit
	behind := tick - gen.CurrentTick()
	if behind < 0 {
		return nil
	}
	wait := time.Duration(behind+1) * unit
	w := StartWait{Namespace: g.opts.Namespace, WorkerID: worker, Reason: reason, Wait: wait,
		Until: g.opts.Layout.Time(tick)}
	if g.opts.OnStartWait != nil {
		g.opts.OnStartWait(w)
	}
	g.waitLog.Info("idgen: waiting before the first ID", "namespace", w.Namespace, "worker", worker,
		"reason", reason.String(), "wait", wait.Round(time.Millisecond), "until", w.Until)
	t := g.opts.Clock.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting %v for the %s: %w", wait.Round(time.Millisecond), reason, ctx.Err())
		case <-t.C():
		}
		behind = tick - gen.CurrentTick()
		if behind < 0 {
			return nil
		}
		t.Reset(time.Duration(behind+1) * unit)
	}
}

// watch waits for the lease of n to end. A lost lease stops n at once; then,
// by policy, the Generator fails or moves to a fresh worker ID.
func (g *Generator) watch(n *node) {
	defer g.wg.Done()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-n.lease.Done():
		}
		if g.ctx.Err() != nil {
			return // Close released it
		}
		lerr := n.lease.Err()
		n.gen.Stop()
		g.leasesLost.Add(1)
		g.opts.Logger.Error("idgen: worker-ID lease lost; no more IDs with this worker ID",
			"worker", n.lease.WorkerID(), "err", lerr, "policy", g.opts.OnLeaseLost.String())
		if g.opts.OnLeaseLost == Fail {
			g.fail(fmt.Errorf("idgen: worker %d: %w", n.lease.WorkerID(), lerr))
			return
		}
		g.lastAttempt.Store(nil)
		g.reacquiring.Store(&lerr)
		next, ok := g.reacquire(n)
		if !ok {
			return
		}
		n = next
	}
}

// reacquire gets a fresh worker ID, retrying with backoff until it works,
// the Generator is closed, or the failure is one retrying cannot fix.
func (g *Generator) reacquire(old *node) (*node, bool) {
	backoff := 50 * time.Millisecond
	for {
		n, err := g.start(g.ctx, old.gen.LastTick())
		if err == nil {
			if !g.swap(old, n) {
				return nil, false
			}
			g.reacquiring.Store(nil)
			g.opts.Logger.Info("idgen: new worker ID acquired after lease loss",
				"old_worker", old.lease.WorkerID(), "worker", n.lease.WorkerID())
			return n, true
		}
		if g.ctx.Err() != nil {
			return nil, false
		}
		if errors.Is(err, lease.ErrLayoutMismatch) || errors.Is(err, lease.ErrInvalidOptions) {
			g.fail(err)
			return nil, false
		}
		g.lastAttempt.Store(&err)
		g.opts.Logger.Warn("idgen: reacquiring a worker ID failed; retrying", "err", err, "retry_in", backoff)
		if clock.Sleep(g.ctx, g.opts.Clock, backoff) != nil {
			return nil, false
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// swap makes n the current node, adding old's counters to the retired
// sums. It reports false, and releases n, when Close came first: Close
// releases only the node it finds current.
func (g *Generator) swap(old, n *node) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		go g.releaseQuietly(n.lease)
		return false
	}
	g.retired.add(nodeCounters(old))
	g.guard.SetTarget(n.gen)
	g.cur.Store(n)
	return true
}

func nodeCounters(n *node) counters {
	gs := n.gen.Stats()
	ls := n.lease.Stats()
	return counters{
		issued:        gs.Issued,
		borrowed:      gs.Borrowed,
		fenced:        gs.Fenced,
		renewals:      ls.Renewals,
		renewFailures: ls.RenewFailures,
	}
}

func (c *counters) add(o counters) {
	c.issued += o.issued
	c.borrowed += o.borrowed
	c.fenced += o.fenced
	c.renewals += o.renewals
	c.renewFailures += o.renewFailures
}

// fail ends the Generator for good with err.
func (g *Generator) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failErr != nil || g.doneErr != nil {
		return
	}
	g.failErr = err
	g.doneErr = err
	close(g.done)
}

// Next returns a new ID, greater than every ID this Generator returned
// before. It never blocks on the network and does not allocate. When no ID
// can be issued it returns an error: ErrClosed after Close; one matching
// ErrUnavailable while the Generator recovers (retry shortly); one matching
// ErrLeaseLost under the Fail policy; snowflake.ErrTimeExhausted when the
// layout's time bits have run out.
func (g *Generator) Next() (snowflake.ID, error) {
	n := g.cur.Load()
	if n == nil {
		return 0, errZero
	}
	id, err := n.gen.Next()
	if err != nil {
		return 0, g.explain(err)
	}
	return id, nil
}

// NextN fills dst with new, increasing IDs and returns how many it wrote.
// When it returns fewer than len(dst) the error says why, as for Next.
func (g *Generator) NextN(dst []snowflake.ID) (int, error) {
	n := g.cur.Load()
	if n == nil {
		return 0, errZero
	}
	k, err := n.gen.NextN(dst)
	if err != nil {
		return k, g.explain(err)
	}
	return k, nil
}

// Ready reports whether Next would return an ID now: nil if so, else the
// error Next would return (matching ErrUnavailable while the Generator
// recovers, ErrClosed after Close, ErrLeaseLost under the Fail policy). It
// issues nothing and never touches the network, so a readiness probe can
// call it as often as it likes.
func (g *Generator) Ready() error {
	n := g.cur.Load()
	if n == nil {
		return errZero
	}
	switch gen := n.gen; {
	case g.closed.Load() || g.reacquiring.Load() != nil || n.lease.Err() != nil:
		return g.explain(snowflake.ErrStopped)
	case gen.Paused():
		return g.explain(snowflake.ErrPaused)
	case max(gen.CurrentTick(), gen.LastTick()) > gen.Fence():
		return g.explain(snowflake.ErrFenced)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failErr
}

// NextContext is Next for callers that would rather wait than handle
// ErrUnavailable: while the Generator recovers (renewals failing, a new
// worker ID being acquired, issuing paused) it retries with a short
// back-off until an ID comes or ctx ends, and then returns ctx's error
// wrapped with the last reason. Other errors (ErrClosed, ErrLeaseLost under
// Fail, snowflake.ErrTimeExhausted) return at once.
func (g *Generator) NextContext(ctx context.Context) (snowflake.ID, error) {
	id, err := g.Next()
	if err == nil || !errors.Is(err, ErrUnavailable) {
		return id, err
	}
	t := g.opts.Clock.NewTimer(time.Millisecond)
	defer t.Stop()
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 100*time.Millisecond) {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w (while: %w)", ctx.Err(), err)
		case <-t.C():
		}
		if id, err = g.Next(); err == nil || !errors.Is(err, ErrUnavailable) {
			return id, err
		}
		t.Reset(backoff)
	}
}

// explain turns a generator error into what the caller can act on. It is
// off the hot path.
func (g *Generator) explain(err error) error {
	if g.closed.Load() {
		return ErrClosed
	}
	g.mu.Lock()
	failErr := g.failErr
	g.mu.Unlock()
	if failErr != nil {
		return failErr
	}
	if p := g.reacquiring.Load(); p != nil {
		if a := g.lastAttempt.Load(); a != nil {
			return fmt.Errorf("%w: worker ID lost, acquiring a new one (last attempt: %v): %w", ErrUnavailable, *a, *p)
		}
		return fmt.Errorf("%w: worker ID lost, acquiring a new one: %w", ErrUnavailable, *p)
	}
	switch {
	case errors.Is(err, snowflake.ErrFenced):
		return fmt.Errorf("%w: the fence is reached: lease renewals are failing, or the local clock runs ahead of Redis by nearly the Window: %w", ErrUnavailable, err)
	case errors.Is(err, snowflake.ErrPaused):
		return fmt.Errorf("%w: the clock guard paused issuing: %w", ErrUnavailable, err)
	case errors.Is(err, snowflake.ErrStopped):
		// The watcher has not yet seen the lost lease that stopped it.
		return fmt.Errorf("%w: the worker ID's lease ended: %w", ErrUnavailable, err)
	}
	return err
}

// WorkerID is the worker ID in use now (-1 for a zero Generator). It
// changes after a lease loss under the Reacquire policy.
func (g *Generator) WorkerID() int64 {
	n := g.cur.Load()
	if n == nil {
		return -1
	}
	return n.lease.WorkerID()
}

// Layout is the bit layout of the IDs.
func (g *Generator) Layout() snowflake.Layout { return g.opts.Layout }

// Namespace is the lease namespace.
func (g *Generator) Namespace() string { return g.opts.Namespace }

// Done is closed when the Generator can issue no more IDs: after Close, or
// after a lease loss under the Fail policy. Err says which.
func (g *Generator) Done() <-chan struct{} {
	if g.done == nil {
		return closedChan
	}
	return g.done
}

// Err is nil while the Generator runs; after Done is closed it is ErrClosed
// or the error that ended it (matching ErrLeaseLost under Fail).
func (g *Generator) Err() error {
	if g.done == nil {
		return errZero
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.doneErr
}

// Close stops issuing IDs, stops the clock guard and the heartbeat, and
// releases the worker ID, writing the last issued tick as its high-water
// mark so the ID can be taken again at once. It is idempotent: later calls
// return the first call's result. ctx bounds the release; when it ends
// first the lease simply expires after its TTL.
func (g *Generator) Close(ctx context.Context) error {
	if g.done == nil {
		return nil // the zero Generator holds nothing
	}
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		select {
		case <-g.closeEnd:
		case <-ctx.Done():
			return ctx.Err()
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.closeErr
	}
	g.closing = true
	g.mu.Unlock()

	g.closed.Store(true)
	g.cancel()
	waited := make(chan struct{})
	go func() { g.wg.Wait(); close(waited) }()
	var err error
	select {
	case <-waited:
	case <-ctx.Done():
		err = fmt.Errorf("idgen: close: waiting for a reacquire to stop: %w", ctx.Err())
	}
	if gerr := g.guard.Close(ctx); gerr != nil && err == nil {
		err = fmt.Errorf("idgen: close: stopping the clock guard: %w", gerr)
	}
	n := g.cur.Load()
	n.gen.Stop()
	if rerr := n.lease.Close(ctx); rerr != nil && !errors.Is(rerr, lease.ErrLeaseLost) && err == nil {
		err = fmt.Errorf("idgen: release worker %d: %w", n.lease.WorkerID(), rerr)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	g.closeErr = err
	close(g.closeEnd)
	if g.doneErr == nil {
		g.doneErr = ErrClosed
		close(g.done)
	}
	return err
}
