package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen/snowflake"
)

// Fenced is what a lease drives: an ID generator that never issues a tick
// above its fence. *snowflake.Generator satisfies it. Implementations must
// be safe for concurrent use: the lease calls them from its renewal
// goroutine while IDs are being issued.
type Fenced interface {
	// SetFence raises the highest tick the target may issue. It is never
	// called with a lower value than before.
	SetFence(tick int64)
	// Stop ends issuing for good: after it returns, no tick above
	// LastTick is ever issued.
	Stop()
	// LastTick is the highest tick issued so far.
	LastTick() int64
}

// maxWindowKeys is how many worker IDs one acquire round trip looks at.
const maxWindowKeys = 1024

// Lease is one worker ID held in Redis. It renews itself in the
// background (unless RenewInterval is ManualRenewal: then Renew does) until
// it is closed or lost. Make one with Acquire. Its methods are safe for
// concurrent use.
//
// The zero Lease holds nothing and has ended: Err and Renew return an error
// matching ErrClosed, Done is closed, Bind stops its target at once and
// Close returns nil. It does not panic.
type Lease struct {
	opts   Options
	keys   Keys
	run    runner
	log    *slog.Logger
	anchor clockAnchor

	id         int64
	token      string
	epoch      string // dataset epoch value seen at acquire
	startAfter int64
	quarantine int64
	workers    int64
	window     int64 // Window in ticks

	fence atomic.Int64
	// waitFor is how many replicas the next script's WAIT waits for: what
	// the namespace's server last asked for (at least MinReplicas).
	waitFor atomic.Int64

	mu       sync.Mutex
	targets  []Fenced
	state    int // live, lost or closed
	err      error
	done     chan struct{}
	stats    Stats
	stopLoop context.CancelFunc
	loopDone chan struct{}

	releaseOnce sync.Once
	released    chan struct{}
	releaseErr  error
}

const (
	live = iota
	lost
	closed
)

// errZero is what Err and Renew of a zero Lease return.
var errZero = fmt.Errorf("%w (a zero Lease: make one with Acquire)", ErrClosed)

// closedChan is the Done channel of a zero Lease.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// zero reports whether l is the zero Lease, which Acquire never returns.
func (l *Lease) zero() bool { return l.done == nil }

// Stats is a snapshot of a lease's life. It is a plain value, safe for
// concurrent use.
type Stats struct {
	WorkerID      int64
	StartAfter    int64 // tick the first ID must be above
	Fence         int64 // highest tick that may be issued now
	Renewals      uint64
	RenewFailures uint64
	// ConsecutiveFailures counts the failed renewals since the last
	// successful one.
	ConsecutiveFailures uint64
	LastRenew           time.Time // when the last successful renewal was sent
	// ExpiresAt is the local clock's guess of when the key expires if no
	// renewal succeeds: the send time of the last success plus TTL.
	// Informational: safety rests on the fence, not on this.
	ExpiresAt time.Time
	LastError error // the last renewal error, nil after a success
	Lost      bool
	Closed    bool
}

// Acquire takes a free worker ID in the namespace, in one round trip
// unless more than 1024 worker IDs must be searched, and starts renewing
// it every RenewInterval until Close, or until it is lost (with
// RenewInterval = ManualRenewal the caller renews it with Renew instead).
//
// Among free worker IDs it takes the one whose high-water mark is lowest,
// starting from a random offset. The first ID issued under the lease must
// have a tick above StartAfter(); waiting for the clock to get there is the
// caller's job. Bind a generator to have the fence applied to it.
//
// Errors wrap ErrInvalidOptions, ErrNoWorkerAvailable (with ErrStartTooFar
// or ErrForeignKey when those are why), ErrLayoutMismatch, ErrForeignKey,
// ErrReplication, ErrUnavailable, ErrAuth or ErrPermission. A failed
// Acquire holds nothing; if the reply was lost or ctx ended while the
// script was in flight, the key it may have taken is deleted in the
// background, and otherwise expires after TTL.
func Acquire(ctx context.Context, client redis.UniversalClient, opts Options) (*Lease, error) {
	if client == nil {
		return nil, errNilClient()
	}
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	if _, ring := client.(*redis.Ring); ring && o.MinReplicas > 0 {
		return nil, optErr("MinReplicas", o.MinReplicas, "0 or NoReplicaWait on a redis.Ring (WAIT cannot be routed)")
	}
	l := &Lease{
		opts:     o,
		keys:     KeysOf(o.Namespace),
		run:      runner{client: client, replicaTimeout: o.ReplicaTimeout},
		log:      o.Logger,
		anchor:   newClockAnchor(o.Clock),
		token:    uuid.NewString(),
		workers:  o.Layout.MaxWorker() + 1,
		window:   o.Layout.Ticks(o.Window),
		done:     make(chan struct{}),
		released: make(chan struct{}),
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.waitFor.Store(int64(max(o.MinReplicas, 0)))
	if err := l.acquire(ctx); err != nil {
		return nil, err
	}
	l.loopDone = make(chan struct{})
	if o.RenewInterval < 0 { // ManualRenewal: the caller calls Renew
		l.stopLoop = func() {}
		close(l.loopDone)
	} else {
		loopCtx, cancel := context.WithCancel(context.Background())
		l.stopLoop = cancel
		go l.renewLoop(loopCtx)
	}
	l.log.Info("lease acquired", "namespace", o.Namespace, "worker", l.id,
		"start_after", l.startAfter, "fence", l.fence.Load(), "quarantine", l.quarantine,
		"replicas", l.waitFor.Load())
	return l, nil
}

// acquireReply is acquire.lua's answer.
type acquireReply struct {
	status                     int64
	id, startAfter, quarantine int64
	epoch                      string
	nowMs                      int64
	fence                      int64 // granted: the proposed fence capped at Redis TIME + Window
	replicas                   int64 // how many replicas must have the write before it counts
	free, tooFar, foreign      int64
	minTooFar                  int64
}

func (l *Lease) acquire(ctx context.Context) error {
	var tooFar, foreign int64
	minTooFar := int64(-1)
	width := min(l.workers, maxWindowKeys)
	offset := rand.Int64N(l.workers)
	for tried := int64(0); tried < l.workers; tried += width {
		n := min(width, l.workers-tried)
		first := (offset + tried) % l.workers
		r, err := l.acquireWindow(ctx, first, n)
		if err != nil {
			return err
		}
		switch r.status {
		case 1:
			return nil
		case 2:
			wait := l.opts.Layout.Time(r.quarantine).Sub(l.anchor.wallNow())
			return fmt.Errorf("%w: namespace %q is quarantined after a possible loss of Redis data until tick %d, "+
				"%v from the local clock, more than Window + MaxSkew + MaxStartWait = %v: is the local clock behind Redis?",
				ErrStartTooFar, l.opts.Namespace, r.quarantine, wait.Round(time.Millisecond),
				l.opts.Window+l.opts.MaxSkew+l.opts.MaxStartWait)
		}
		tooFar += r.tooFar
		foreign += r.foreign
		if r.tooFar > 0 && (minTooFar < 0 || r.minTooFar < minTooFar) {
			minTooFar = r.minTooFar
		}
	}
	return l.noWorker(tooFar, foreign, minTooFar)
}

func (l *Lease) noWorker(tooFar, foreign, minTooFar int64) error {
	base := fmt.Sprintf("all %d worker IDs of namespace %q are held", l.workers, l.opts.Namespace)
	switch {
	case tooFar > 0:
		wait := l.opts.Layout.Time(minTooFar).Sub(l.anchor.wallNow())
		return fmt.Errorf("%w: %s or unusable: %d free ones start too far ahead (the nearest in %v, "+
			"MaxStartWait is %v): %w", ErrNoWorkerAvailable, base, tooFar, wait.Round(time.Millisecond),
			l.opts.MaxStartWait, ErrStartTooFar)
	case foreign > 0:
		return fmt.Errorf("%w: %s or unusable: %d lease keys hold values of another type: %w",
			ErrNoWorkerAvailable, base, foreign, ErrForeignKey)
	}
	return fmt.Errorf("%w: %s", ErrNoWorkerAvailable, base)
}

// acquireWindow runs acquire.lua on the n worker IDs from first.
func (l *Lease) acquireWindow(ctx context.Context, first, n int64) (acquireReply, error) {
	keys := make([]string, 0, 3+n)
	keys = append(keys, l.keys.Meta(), l.keys.Epoch(), l.keys.HWM())
	keys = l.keys.window(keys, first, n, l.workers)
	lay := l.opts.Layout
	sent := l.anchor.wallNow()
	nowTick := lay.Tick(sent)
	fence := min(nowTick+l.window, lay.MaxTick())
	args := []any{
		l.token,
		l.opts.Host + "|" + strconv.Itoa(os.Getpid()) + "|" + strconv.FormatInt(l.anchor.wall.UnixMilli(), 10),
		l.opts.TTL.Milliseconds(),
		lay.Fingerprint(),
		l.workers,
		first,
		uuid.NewString(),
		fence,
		lay.Ticks(l.opts.Window) + lay.Ticks(l.opts.MaxSkew),
		nowTick + lay.Ticks(l.opts.MaxStartWait),
		nowTick + lay.Ticks(l.opts.Window+l.opts.MaxSkew+l.opts.MaxStartWait),
		lay.Epoch.UnixMilli(),
		lay.TimeUnit.Milliseconds(),
		len(l.keys.LeasePrefix()),
		l.window,
		l.replicaFloor(),
		boolArg(l.opts.AllowEviction),
	}
	// If the script may have run but its reply did not reach us, delete
	// whatever key of this window our token holds (compare-and-delete).
	undo := func() { _, _ = l.releaseKeys(keys[3:], first, "") }
	// The script says how many replicas must have the write; the WAIT sent
	// with it waits for as many as the last reply asked for. When the
	// server asks for more (a replica came, or this is the first call), the
	// acquire is undone and sent once more with the higher count.
	for try := 0; ; try++ {
		wait := l.waitFor.Load()
		r, acks, err := l.acquireOnce(ctx, keys, args, undo, wait)
		if err != nil || r.status != 1 {
			return r, err
		}
		if acks >= r.replicas {
			l.id, l.startAfter, l.quarantine, l.epoch = r.id, r.startAfter, r.quarantine, r.epoch
			l.fence.Store(min(fence, r.fence)) // the script may cap it at Redis' clock
			l.stats.LastRenew = sent
			return r, nil
		}
		undo()
		l.waitFor.Store(max(r.replicas, int64(l.opts.MinReplicas)))
		if r.replicas <= wait || try > 0 {
			return acquireReply{}, fmt.Errorf("%w: acquire: %d of %d replicas within %v",
				ErrReplication, acks, r.replicas, l.opts.ReplicaTimeout)
		}
	}
}

// acquireOnce runs acquire.lua once with a WAIT for wait replicas, undoing
// what it may have taken if it fails.
func (l *Lease) acquireOnce(ctx context.Context, keys []string, args []any, undo func(), wait int64) (acquireReply, int64, error) {
	type result struct {
		v    any
		acks int64
	}
	callCtx, cancel := context.WithTimeout(ctx, l.opts.OpTimeout)
	defer cancel()
	res, err := bounded(callCtx, func(ctx context.Context) (result, error) {
		v, acks, err := l.run.run(ctx, acquireScript, wait, keys, args...)
		return result{v, acks}, err
	}, func(_ result, err error) {
		if err == nil || mayHaveWritten(err) {
			undo()
		}
	})
	switch {
	case errors.Is(err, ErrReplication) || abortedScript(err):
		// The script ran, or was aborted by Redis midway (an ACL or memory
		// refusal is not rolled back), and Redis answers: undo it now.
		undo()
		return acquireReply{}, 0, mapErr("acquire", err)
	case errors.Is(err, errAbandoned):
		return acquireReply{}, 0, mapErr("acquire", err) // the late callback undoes it
	case !definitive(err):
		go undo()
		return acquireReply{}, 0, mapErr("acquire", err)
	case err != nil:
		return acquireReply{}, 0, mapErr("acquire", err)
	}
	r, err := parseAcquire(res.v)
	return r, res.acks, err
}

// releaseKeys deletes the keys of keys (worker IDs first, first+1, ...)
// that hold this lease's token, after setting their HWM to hwm (” = leave).
func (l *Lease) releaseKeys(keys []string, first int64, hwm string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.OpTimeout)
	defer cancel()
	return l.release(ctx, keys, first, hwm)
}

func (l *Lease) release(ctx context.Context, keys []string, first int64, hwm string) (int64, error) {
	all := append([]string{l.keys.HWM(), l.keys.Meta()}, keys...)
	// The release runs without WAIT: a lost release only leaves the HWM at
	// the fence, which is safe, and the key expires after TTL.
	v, err := bounded(ctx, func(ctx context.Context) (int64, error) {
		return releaseScript.Run(ctx, l.run.client, all, l.token, hwm, first, l.workers).Int64()
	}, nil)
	return v, mapErr("release", err)
}

func parseAcquire(v any) (acquireReply, error) {
	s, ok := v.([]any)
	bad := fmt.Errorf("lease: acquire: unexpected reply %v", v)
	if !ok || len(s) < 3 {
		return acquireReply{}, bad
	}
	ints := make([]int64, len(s))
	var epoch string
	for i, x := range s {
		switch x := x.(type) {
		case int64:
			ints[i] = x
		case string:
			if i == 6 { // the fence, sent as a string so Lua keeps all its digits
				n, err := strconv.ParseInt(x, 10, 64)
				if err != nil {
					return acquireReply{}, bad
				}
				ints[i] = n
				continue
			}
			epoch = x
		default:
			return acquireReply{}, bad
		}
	}
	r := acquireReply{status: ints[0]}
	switch {
	case r.status == 1 && len(s) == 8:
		r.id, r.startAfter, r.quarantine, r.epoch, r.nowMs, r.fence = ints[1], ints[2], ints[3], epoch, ints[5], ints[6]
		r.replicas = ints[7]
	case r.status == 0 && len(s) == 6:
		r.free, r.tooFar, r.foreign, r.minTooFar, r.nowMs = ints[1], ints[2], ints[3], ints[4], ints[5]
	case r.status == 2 && len(s) == 3:
		r.quarantine, r.nowMs = ints[1], ints[2]
	default:
		return acquireReply{}, bad
	}
	return r, nil
}

// WorkerID is the leased worker ID.
func (l *Lease) WorkerID() int64 { return l.id }

// StartAfter is the tick every ID issued under this lease must be above:
// the worker's high-water mark when it was acquired, or the data-loss
// quarantine tick if that is later. It may be ahead of the local clock (by
// at most MaxStartWait, or Window + MaxSkew + MaxStartWait in a
// quarantine); the caller waits until its clock has passed it.
func (l *Lease) StartAfter() int64 { return l.startAfter }

// Quarantine is the namespace's start-up quarantine tick as this lease's
// acquire saw it (0 if none was ever set): after a new namespace, a loss of
// Redis data or a change of server, no holder starts at or below it.
// StartAfter equals it when the quarantine, not the worker's high-water
// mark, is why the lease starts where it does.
func (l *Lease) Quarantine() int64 { return l.quarantine }

// Fence is the highest tick that may be issued now. It rises after each
// successful renewal and never falls.
func (l *Lease) Fence() int64 { return l.fence.Load() }

// Token is the lease's random owner token, as stored in the lease key.
func (l *Lease) Token() string { return l.token }

// Namespace is the namespace the worker ID belongs to.
func (l *Lease) Namespace() string { return l.opts.Namespace }

// Done is closed when the lease ends: lost, or released.
func (l *Lease) Done() <-chan struct{} {
	if l.zero() {
		return closedChan
	}
	return l.done
}

// Err is nil while the lease is live; then an error wrapping ErrLeaseLost
// with the reason, or ErrClosed after Close.
func (l *Lease) Err() error {
	if l.zero() {
		return errZero
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Bind makes the lease drive t: t's fence is set to the lease's fence at
// once and raised after every successful renewal, and t is stopped as soon
// as the lease is lost or released. A lease can drive several targets;
// binding one twice has no further effect. Binding to an ended lease stops
// t at once.
func (l *Lease) Bind(t Fenced) {
	if t == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state != live || l.zero() {
		t.Stop()
		return
	}
	for _, x := range l.targets {
		if x == t {
			return
		}
	}
	l.targets = append(l.targets, t)
	t.SetFence(l.fence.Load())
}

// Stats returns a snapshot of the lease's counters.
func (l *Lease) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.WorkerID, s.StartAfter, s.Fence = l.id, l.startAfter, l.fence.Load()
	s.ExpiresAt = s.LastRenew.Add(l.opts.TTL)
	s.Lost, s.Closed = l.state == lost, l.state == closed
	return s
}

// Close releases the lease: it stops the renewals, stops every bound target,
// then, if the key still holds this lease's token, sets the worker's HWM
// and deletes the key, so the worker ID can be taken again at once.
//
// With bound targets the HWM becomes the highest LastTick among them (but
// never less than StartAfter): lower than the fence, so the next holder
// need not wait out the Window, yet above every tick issued, which is safe
// only because the targets are stopped first. Without targets it stays at
// the fence, which covers whatever was issued under the lease.
//
// Close is bounded by ctx and OpTimeout and is idempotent: later calls
// wait for the first (or for their own ctx) and return its result. After
// it, Err returns ErrClosed (or the loss, if the lease was lost before). If
// Redis cannot be reached the key simply expires after TTL; the HWM is then
// the fence.
func (l *Lease) Close(ctx context.Context) error {
	if l.zero() {
		return nil
	}
	l.releaseOnce.Do(func() {
		defer close(l.released)
		l.releaseErr = l.doRelease(ctx)
	})
	select {
	case <-l.released:
		return l.releaseErr
	case <-ctx.Done():
		return fmt.Errorf("lease: close: %w", ctx.Err())
	}
}

func (l *Lease) doRelease(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.opts.OpTimeout)
	defer cancel()
	l.stopLoop()
	select {
	case <-l.loopDone: // the loop's calls are bounded, so this is short
	case <-ctx.Done():
	}
	l.mu.Lock()
	wasLost := l.state == lost
	targets := l.targets
	if l.state == live {
		l.state, l.err = closed, ErrClosed
		for _, t := range targets {
			t.Stop()
		}
		close(l.done)
	}
	l.mu.Unlock()
	if wasLost {
		return nil // nothing of ours is left in Redis
	}
	hwm := ""
	if len(targets) > 0 {
		last := l.startAfter
		for _, t := range targets {
			last = max(last, t.LastTick())
		}
		hwm = strconv.FormatInt(last, 10)
	}
	n, err := l.release(ctx, []string{l.keys.Lease(l.id)}, l.id, hwm)
	if err != nil {
		l.log.Warn("lease release failed; the key expires after TTL", "worker", l.id, "err", err)
		return err
	}
	l.log.Info("lease released", "namespace", l.opts.Namespace, "worker", l.id, "hwm", hwm, "deleted", n)
	return nil
}

// Renew runs one renewal now, bounded by ctx and OpTimeout, whether or not
// the lease also renews itself in the background (it does not with
// RenewInterval = ManualRenewal). On success the fence rises to the new
// send time + Window (capped at Redis' clock + Window) and the bound
// targets get it.
//
// A failed renewal returns an error wrapping ErrUnavailable (or
// ErrReplication, ErrPermission, ...) and keeps the old fence; the lease is
// still live and Renew may be called again. When the key is found to be no
// longer this lease's, the lease is lost as with a background renewal (Done
// closes, the targets stop) and Renew returns Err(), which wraps
// ErrLeaseLost. On a lease that has already ended it returns Err() at once
// (ErrClosed after Close).
func (l *Lease) Renew(ctx context.Context) error {
	if err := l.Err(); err != nil {
		return err
	}
	reason, err := l.renew(ctx)
	if reason != "" {
		l.lose(reason)
	}
	if end := l.Err(); end != nil {
		return end // lost now, or ended while the call was in flight
	}
	return err
}

// renewLoop renews every RenewInterval (jittered) until ctx ends or the
// lease is lost. A failed renewal keeps the old fence and is retried sooner.
func (l *Lease) renewLoop(ctx context.Context) {
	defer close(l.loopDone)
	t := l.opts.Clock.NewTimer(jitter(l.opts.RenewInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		reason, err := l.renew(ctx)
		if ctx.Err() != nil {
			return
		}
		if reason != "" {
			l.lose(reason)
			return
		}
		next := jitter(l.opts.RenewInterval)
		if err != nil {
			next = max(jitter(l.opts.RenewInterval/4), minRenewInterval)
		}
		t.Reset(next)
	}
}

// renew runs one renewal. It returns a reason when the lease is lost, or
// an error when this renewal failed but the lease may still be ours.
func (l *Lease) renew(ctx context.Context) (reason string, err error) {
	lay := l.opts.Layout
	sent := l.anchor.wallNow()
	fence := min(lay.Tick(sent)+l.window, lay.MaxTick())
	keys := []string{l.keys.Epoch(), l.keys.HWM(), l.keys.Lease(l.id), l.keys.Meta()}
	wait := l.waitFor.Load()
	callCtx, cancel := context.WithTimeout(ctx, l.opts.OpTimeout)
	defer cancel()
	type result struct {
		v    any
		acks int64
	}
	res, err := bounded(callCtx, func(ctx context.Context) (result, error) {
		v, acks, err := l.run.run(ctx, renewScript, wait, keys, l.token, l.epoch, l.opts.TTL.Milliseconds(), l.id, fence,
			lay.Epoch.UnixMilli(), lay.TimeUnit.Milliseconds(), l.window, l.replicaFloor())
		return result{v, acks}, err
	}, nil)
	if err == nil {
		s, ok := res.v.([]any)
		switch {
		case ok && len(s) == 3 && s[0] == int64(1):
			granted, isInt := s[1].(int64)
			need, isInt2 := s[2].(int64)
			if !isInt || !isInt2 {
				break
			}
			if res.acks < need {
				// The HWM is raised in Redis, but a promoted replica might
				// not have it: keep the old fence. The next renewal waits
				// for as many replicas as the server asked for.
				l.waitFor.Store(max(need, int64(l.opts.MinReplicas)))
				err = fmt.Errorf("%w: renew: %d of %d replicas within %v", ErrReplication, res.acks, need, l.opts.ReplicaTimeout)
				break
			}
			l.waitFor.Store(max(need, int64(l.opts.MinReplicas)))
			l.renewed(sent, min(fence, granted)) // the script caps it at Redis' clock
			return "", nil
		case ok && len(s) == 2 && s[0] == int64(0):
			return lossReason(fmt.Sprint(s[1])), nil
		default:
			err = fmt.Errorf("lease: renew: unexpected reply %v", res.v)
		}
	}
	err = mapErr("renew", err)
	l.mu.Lock()
	l.stats.RenewFailures++
	l.stats.ConsecutiveFailures++
	l.stats.LastError = err
	l.mu.Unlock()
	l.log.Warn("lease renewal failed; keeping the old fence", "worker", l.id, "fence", l.fence.Load(), "err", err)
	return "", err
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// replicaFloor is the scripts' lowest replica count: MinReplicas, or -1
// (never wait) for NoReplicaWait.
func (l *Lease) replicaFloor() int {
	if l.opts.MinReplicas < 0 {
		return -1
	}
	return l.opts.MinReplicas
}

func (l *Lease) renewed(sent time.Time, fence int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state != live {
		return
	}
	if fence > l.fence.Load() {
		l.fence.Store(fence)
		for _, t := range l.targets {
			t.SetFence(fence)
		}
	}
	l.stats.Renewals++
	l.stats.ConsecutiveFailures = 0
	l.stats.LastError = nil
	l.stats.LastRenew = sent
}

func lossReason(code string) string {
	switch code {
	case "server-changed":
		return "Redis restarted or failed over (another server incarnation): its data may be older than what this holder was granted"
	case "meta-missing", "meta-wrongtype":
		return "the namespace's meta hash was deleted or replaced: the server its data belongs to cannot be checked"
	case "epoch-missing", "epoch-changed", "epoch-wrongtype":
		return "Redis lost its data (dataset epoch " + code[len("epoch-"):] + ")"
	case "expired":
		return "the lease key expired or was deleted"
	case "taken":
		return "the lease key holds another token"
	case "wrongtype":
		return "the lease key was replaced by a value of another type"
	case "hwm-wrongtype":
		return "the high-water mark key was replaced by a value of another type"
	}
	return code
}

// lose ends the lease after the key was found to be no longer ours.
func (l *Lease) lose(reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state != live {
		return
	}
	l.state = lost
	l.err = fmt.Errorf("%w: worker %d in namespace %q: %s", ErrLeaseLost, l.id, l.opts.Namespace, reason)
	for _, t := range l.targets {
		t.Stop()
	}
	l.log.Error("lease lost; generators stopped", "worker", l.id, "fence", l.fence.Load(), "reason", reason)
	close(l.done)
}

// jitter returns d shortened by up to 20%, so that nodes started together
// do not renew together.
func jitter(d time.Duration) time.Duration {
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// clockAnchor reads a Clock the way the generator does: the wall clock
// once, then elapsed monotonic time, so a step of the wall clock does not
// move the lease's idea of now.
type clockAnchor struct {
	clock snowflake.Clock
	wall  time.Time
	mono  time.Duration
}

func newClockAnchor(c snowflake.Clock) clockAnchor {
	return clockAnchor{clock: c, wall: c.Now(), mono: c.Monotonic()}
}

func (a clockAnchor) wallNow() time.Time {
	return a.wall.Add(a.clock.Monotonic() - a.mono)
}
