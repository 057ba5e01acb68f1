package sim

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen/clock"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/snowflake"
)

// Knob breaks the simulated nodes on purpose, to prove that the checker
// catches what it should. It changes only how the simulation uses the
// generator, never the lease.
type Knob int

const (
	// KnobNone: nodes use the lease as documented.
	KnobNone Knob = iota
	// KnobNoFence: generators get no fence and are not bound to their
	// lease, so a paused node resumes past its fence and past its loss.
	KnobNoFence
	// KnobIgnoreHWM: a new holder's generator ignores StartAfter (the HWM
	// or the quarantine) and starts at its own clock.
	KnobIgnoreHWM
	// KnobRedisClockBack: Redis' clock steps back by Window + 2*MaxSkew at
	// each restart, beyond the MaxSkew the data-loss quarantine assumes.
	// The nodes and the lease are untouched: it shows what the documented
	// assumption protects.
	KnobRedisClockBack
	// KnobSameServer: restarts, rollbacks and promotions keep the server
	// identity INFO shows (a promoted server shows the old master's), so
	// the scripts cannot tell them from a renewal on the same server: the
	// old protocol's view, which trusted the epoch key alone.
	KnobSameServer
	// KnobNoReplicaWait: the nodes run with MinReplicas = NoReplicaWait,
	// so nothing waits for replicas and the namespace remembers none: the
	// old protocol's default. A master cut off from its replica goes on
	// granting fences during a split brain.
	KnobNoReplicaWait
	// KnobIsolatedRestart: during a split brain, restarts and rollbacks may
	// hit the old master (cut off from the replica that replaced it) while
	// nodes still reach it. A restart that loses its data loses the
	// replica count the namespace remembered, and the old master grants
	// fences alone again: the one case the defaults cannot see (no data
	// and no connected replica look like a new standalone server), so it
	// is a documented limit (docs/design.md rule 8) that needs
	// min-replicas-to-write or MinReplicas, and KnobNone schedules restart
	// only the current master.
	KnobIsolatedRestart
	numKnobs
)

func (k Knob) String() string {
	return [...]string{"none", "no-fence", "ignore-hwm", "redis-clock-back", "same-server", "no-replica-wait",
		"isolated-restart"}[k]
}

// RunOptions modify one schedule.
type RunOptions struct {
	Knob  Knob
	Trace io.Writer // every trace line, and the lease's log, when replaying a seed
	// MinReplicas, when not 0, is the nodes' Options.MinReplicas in
	// schedules with a replica (0: the lease's default, the replicas the
	// namespace remembers).
	MinReplicas int
}

// opTimeout is the lease's OpTimeout in the simulation: the longest
// allowed, so that the real-time deadlines inside the lease never fire
// while a call waits for its simulated delivery (which takes microseconds
// of real time).
const opTimeout = time.Minute

// watchdog bounds the real time the simulation waits for a lease goroutine
// to make its next call or return. Only a hang in the lease (or a change in
// its background work the simulation does not know about) trips it.
const watchdog = 30 * time.Second

type evKind int

const (
	evStep evKind = iota
	evDeliver
	evReply
	evFault
	evSnapshot // keep the master's data for a later rollback
	evEnd
)

type event struct {
	at    time.Duration
	seq   uint64
	kind  evKind
	node  int
	call  *call
	fault Fault
	idx   int // the fault's index in the plan (faults, snapshots)
	phase int // the phase of a fault played in several steps (split brain)
}

// eventQueue is a min-heap on (at, seq): events at the same virtual time
// run in the order they were scheduled.
type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	return q[i].at < q[j].at || q[i].at == q[j].at && q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// op is one lease operation a node runs in its own goroutine: Acquire,
// Renew or Close. The simulation lets exactly one goroutine run at a
// time: it waits until the op is blocked in the network hook or returned.
type op struct {
	id       int
	kind     callKind
	node     *node
	holder   *holder // renew, release
	orphan   bool    // its node crashed: the result is dropped
	blocked  bool
	finished bool
	lease    *lease.Lease
	err      error
	lastErr  error // the error of the last reply it was given
	grant    grant // from the last successful acquire reply it was given
	undos    int   // calls of a synchronous undo the lease is about to make (acquire)
}

// grant is what an acquire reply handed to a client.
type grant struct {
	ok                             bool
	worker, startAfter, quarantine int64
	fence                          int64 // min(proposed, granted), as the lease adopts it
	redisTick                      int64 // Redis' clock when the script ran
	execSeq                        int64
	era                            int
}

type node struct {
	i         int
	name      string
	client    *redis.Client
	clock     *nodeClock
	rng       *rand.Rand
	maxBorrow int64

	pausedUntil time.Duration
	downUntil   time.Duration // crashed until then
	cutUntil    time.Duration // partitioned until then
	slowUntil   time.Duration
	slowBy      time.Duration

	op          *op
	holder      *holder
	nextRenew   time.Duration
	nextAcquire time.Duration

	srv int // the server its connection goes to
}

// nodeClock is a node's clock: its monotonic reading advances with
// the simulation's virtual time (faster or slower by PPM), and its wall
// clock is that plus an offset that jumps.
type nodeClock struct {
	w      *world
	ppm    int64
	offset time.Duration
}

func (c *nodeClock) Monotonic() time.Duration {
	return c.w.now + c.w.now*time.Duration(c.ppm)/1e6
}

func (c *nodeClock) Now() time.Time { return simBase.Add(c.Monotonic() + c.offset) }

// NewTimer and NewTicker complete clock.Clock for lease.Options. The
// simulation renews by hand (ManualRenewal), so the lease never asks for a
// timer: one would run on real time and break determinism.
func (c *nodeClock) NewTimer(time.Duration) clock.Timer {
	panic("sim: the lease asked for a timer; leases here renew by hand")
}

func (c *nodeClock) NewTicker(time.Duration) clock.Ticker {
	panic("sim: the lease asked for a ticker; leases here renew by hand")
}

type world struct {
	env  *Env
	p    Params
	opt  RunOptions
	res  *Result
	tr   *tracer
	keys lease.Keys

	now     time.Duration
	redisAt time.Duration // virtual time Redis' TTLs have been advanced to
	srv     [2]srvState
	cur     int         // the master: the server the nodes go to, and faults hit
	repl    replica     // the master's replica, if any
	split   *split      // a split brain in progress
	snaps   []*snapshot // by fault index: the data a rollback restores
	queue   eventQueue
	evSeq   uint64
	nodes   []*node
	net     *rand.Rand

	expectBG int     // background calls the lease is known to be about to make
	early    []*call // background calls that arrived before they were expected
	inflight int     // calls not yet answered
	ops      int     // ops not yet returned
	opSeq    int
	calls    int64
	execs    int64
	eras     int // data eras so far: a new one after every loss or rollback of the hwm hash
	draining bool

	chk checker
	buf []snowflake.ID
}

const namespace = "sim"

// Run runs the schedule of one seed on e and checks it.
func (e *Env) Run(seed uint64, opt RunOptions) *Result {
	res := &Result{Seed: seed}
	if e.broken != nil {
		res.Err = fmt.Errorf("sim: env unusable after an earlier failure: %w", e.broken)
		return res
	}
	p := newParams(seed)
	res.Params = p
	if err := e.reset(); err != nil {
		res.Err = fmt.Errorf("sim: reset: %w", err)
		return res
	}
	tr := newTracer(opt.Trace)
	w := &world{env: e, p: p, opt: opt, res: res, tr: &tr, keys: lease.KeysOf(namespace),
		net: newRand(seed, streamNet), buf: make([]snowflake.ID, p.Batch), snaps: make([]*snapshot, len(p.Faults))}
	for i := range w.srv {
		w.srv[i].server = e.srv[i]
	}
	w.chk.init(w)
	w.tr.line(0, "seed %d: %v", seed, p)
	w.start()
	w.loop()
	w.drain()
	w.chk.final()
	res.Hash = w.tr.sum()
	if res.Err != nil {
		e.broken = res.Err
	}
	return res
}

func (w *world) start() {
	if w.p.Bootstrap {
		w.bootstrap()
	}
	t0 := w.now
	for i := range w.p.Nodes {
		n := &node{
			i:         i,
			name:      "n" + strconv.Itoa(i),
			client:    w.env.clients[i],
			clock:     &nodeClock{w: w, ppm: w.p.Clocks[i].PPM, offset: w.p.Clocks[i].Offset},
			rng:       newRand(w.res.Seed, streamNode+uint64(i)),
			maxBorrow: w.p.MaxBorrow[i],
			srv:       w.cur,
		}
		w.nodes = append(w.nodes, n)
		w.schedule(t0+between(n.rng, 0, w.p.StepMax), evStep, i, nil)
	}
	if w.p.Replica {
		w.attachReplica()
	}
	for i, f := range w.p.Faults {
		if f.Kind == FaultRollback || f.Kind == FaultPromote {
			w.push(&event{at: t0 + max(0, f.At-f.Delta), kind: evSnapshot, idx: i})
		}
	}
	for i, f := range w.p.Faults {
		w.push(&event{at: t0 + f.At, kind: evFault, fault: f, idx: i})
	}
	w.schedule(t0+w.p.Duration, evEnd, 0, nil)
}

// bootstrap uses the namespace once, with a lease taken and released
// directly (no simulated network), and moves time past the first-use
// quarantine, as in a namespace that has been in use for a while.
func (w *world) bootstrap() {
	w.syncRedis()
	o := w.leaseOptions(nil)
	o.Clock, o.Host = &nodeClock{w: w}, "bootstrap"
	l, err := lease.Acquire(context.Background(), w.env.boot, o)
	if err == nil {
		err = l.Close(context.Background())
	}
	if err != nil {
		w.fail("bootstrap: %v", err)
		return
	}
	w.now = w.p.Window + w.p.MaxSkew + w.p.TTL
	w.tr.line(w.now, "bootstrapped: worker %d released at fence %d", l.WorkerID(), l.Fence())
}

func (w *world) schedule(at time.Duration, kind evKind, node int, c *call) {
	w.push(&event{at: at, kind: kind, node: node, call: c})
}

func (w *world) push(e *event) {
	e.seq = w.evSeq
	w.evSeq++
	heap.Push(&w.queue, e)
}

func (w *world) loop() {
	for w.queue.Len() > 0 && w.res.Err == nil {
		e := heap.Pop(&w.queue).(*event)
		w.now = max(w.now, e.at)
		switch e.kind {
		case evEnd:
			w.tr.line(w.now, "end")
			return
		case evStep:
			w.step(w.nodes[e.node])
		case evDeliver:
			w.deliver(e.call)
		case evReply:
			w.reply(e.call)
		case evFault:
			w.fault(e.fault, e.idx, e.phase)
		case evSnapshot:
			w.syncRedis()
			w.snaps[e.idx] = w.snapshot(w.master())
			w.tr.line(w.now, "snapshot of %s for fault %d: %d keys", w.master().name, e.idx, len(w.snaps[e.idx].keys))
		}
		w.chk.hwm()
	}
}

// drain ends the schedule: no more steps or faults; every call still in
// flight is lost, until every goroutine of the lease is done.
func (w *world) drain() {
	w.draining = true
	for w.queue.Len() > 0 && w.res.Err == nil {
		e := heap.Pop(&w.queue).(*event)
		w.now = max(w.now, e.at)
		switch e.kind {
		case evDeliver:
			e.call.fate = errRequestLost
			w.answer(e.call)
		case evReply:
			w.answer(e.call)
		}
	}
	if w.res.Err == nil && (w.inflight != 0 || w.ops != 0 || w.expectBG != 0) {
		w.fail("drained with %d calls, %d ops and %d background calls outstanding", w.inflight, w.ops, w.expectBG)
	}
}

// fail records a failure of the simulation itself (not a safety finding)
// and stops the schedule.
func (w *world) fail(format string, args ...any) {
	if w.res.Err == nil {
		w.res.Err = fmt.Errorf("sim: seed %d at %v: %s", w.res.Seed, w.now, fmt.Sprintf(format, args...))
	}
}

// --- nodes ---

func (w *world) step(n *node) {
	if w.now < n.downUntil || w.now < n.pausedUntil {
		w.schedule(max(n.downUntil, n.pausedUntil), evStep, n.i, nil)
		return
	}
	h := n.holder
	if h != nil && !h.stopped {
		w.issue(n, h)
	}
	if n.op == nil {
		switch {
		case h != nil && w.now >= n.nextRenew:
			w.startOp(n, callRenew)
		case h != nil && n.rng.IntN(1000) < 2:
			w.startOp(n, callRelease) // a graceful restart of the process
		case h == nil && w.now >= n.nextAcquire:
			w.startOp(n, callAcquire)
		}
	}
	w.schedule(w.now+between(n.rng, w.p.StepMin, w.p.StepMax), evStep, n.i, nil)
}

// canIssue reports whether Next and NextN can answer at once: the next
// tick is within MaxBorrow of the generator's clock (or past the fence, or
// the generator stopped: then they refuse at once). Otherwise they would
// wait for the clock, which in the simulation stands still.
func canIssue(g *snowflake.Generator, maxBorrow int64) bool {
	last := g.LastTick()
	return last+1 <= g.CurrentTick()+maxBorrow || last+1 > g.Fence()
}

func (w *world) issue(n *node, h *holder) {
	first, count := snowflake.ID(0), 0
	var refused error
	for range 1 + n.rng.IntN(3) {
		if !canIssue(h.gen, n.maxBorrow) {
			break
		}
		if n.rng.IntN(4) == 0 {
			id, err := h.gen.Next()
			if err != nil {
				refused = err
				break
			}
			w.buf[0] = id
			w.chk.issued(h, w.buf[:1])
			if count == 0 {
				first = id
			}
			count++
			continue
		}
		k, err := h.gen.NextN(w.buf[:1+n.rng.IntN(w.p.Batch)])
		if err != nil {
			refused = err
			break
		}
		w.chk.issued(h, w.buf[:k])
		if count == 0 {
			first = w.buf[0]
		}
		count += k
	}
	switch {
	case errors.Is(refused, snowflake.ErrFenced):
		w.res.Activity.Fenced++
	case refused != nil:
		w.fail("%s: generator refused with %v", n.name, refused)
	}
	if count > 0 || refused != nil {
		w.tr.issued(w.now, n.name, h.worker, count, first, h.lastID, h.maxTick, h.granted, refused)
	}
}

// crash kills a node's process: its generator is gone, its op's outcome
// is dropped, and it comes back after d with nothing.
func (w *world) crash(n *node, d time.Duration) {
	if h := n.holder; h != nil {
		w.chk.stop(h, "crashed")
		n.holder = nil
	}
	if n.op != nil {
		n.op.orphan = true
		n.op = nil
	}
	n.downUntil = max(n.downUntil, w.now+d)
	n.nextAcquire = n.downUntil
}

// --- lease operations ---

func (w *world) leaseOptions(n *node) lease.Options {
	var clk clock.Clock
	host := "none"
	if n != nil {
		clk, host = n.clock, n.name
	}
	o := lease.Options{
		Namespace:     namespace,
		Layout:        w.p.Layout,
		TTL:           w.p.TTL,
		Window:        w.p.Window,
		RenewInterval: lease.ManualRenewal,
		MaxSkew:       w.p.MaxSkew,
		MaxStartWait:  w.p.MaxStartWait,
		OpTimeout:     opTimeout,
		// A WAIT that falls short takes this long (virtual time).
		ReplicaTimeout: max(time.Millisecond, w.p.TTL/10),
		Clock:          clk,
		Host:           host,
	}
	if w.opt.Knob == KnobNoReplicaWait {
		o.MinReplicas = lease.NoReplicaWait
	}
	if w.opt.MinReplicas != 0 && w.p.Replica && n != nil {
		o.MinReplicas = w.opt.MinReplicas // the bootstrap runs before the replica is attached
	}
	if w.opt.Trace != nil {
		o.Logger = slog.New(slog.NewTextHandler(w.opt.Trace, &slog.HandlerOptions{
			ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{} // real time: not part of the replay
				}
				return a
			},
		}))
	}
	return o
}

func (w *world) startOp(n *node, kind callKind) {
	o := &op{id: w.opSeq, kind: kind, node: n, holder: n.holder}
	w.opSeq++
	w.ops++
	n.op = o
	ctx := context.WithValue(context.Background(), opKey{}, o)
	done := w.env.opDone
	switch kind {
	case callAcquire:
		opts := w.leaseOptions(n)
		w.tr.line(w.now, "%s acquire", n.name)
		go func() {
			o.lease, o.err = lease.Acquire(ctx, n.client, opts)
			done <- o
		}()
	case callRenew:
		l := o.holder.lease
		w.tr.line(w.now, "%s w%d renew", n.name, o.holder.worker)
		go func() {
			o.err = l.Renew(ctx)
			done <- o
		}()
	case callRelease:
		l := o.holder.lease
		// Close stops the generator before anything else: from here on
		// the node issues nothing more under this lease.
		w.chk.stop(o.holder, "releasing")
		w.tr.line(w.now, "%s w%d release", n.name, o.holder.worker)
		go func() {
			o.err = l.Close(ctx)
			done <- o
		}()
	}
	w.settle(o)
}

// settle waits (in real time, a few microseconds) until op o (nil: none)
// is blocked in the hook or has returned, and every background call the
// lease is known to make has arrived. Only then does the simulation go on,
// so exactly one goroutine runs at a time.
//
// A background call may arrive before the op that spawned it has returned
// (the lease starts the goroutine, then returns): it waits in early until
// the op's result says it was to be expected, and is registered then, so
// the order of registration does not depend on the Go scheduler.
func (w *world) settle(o *op) {
	for (o != nil && !o.blocked && !o.finished) || w.expectBG > 0 {
		for w.expectBG > 0 && len(w.early) > 0 {
			c := w.early[0]
			w.early = w.early[1:]
			w.expectBG--
			w.register(c)
		}
		if w.res.Err != nil || (o == nil || o.blocked || o.finished) && w.expectBG == 0 {
			break
		}
		w.env.watch.Reset(watchdog)
		select {
		case c := <-w.env.arrive:
			w.env.watch.Stop()
			switch {
			case c.op == nil && o != nil && o.undos > 0:
				// The acquire undoes what it took, in its own goroutine,
				// before it goes on: the call belongs to the op.
				o.undos--
				c.op, c.undo = o, true
				o.blocked = true
				w.register(c)
			case c.op == nil:
				w.early = append(w.early, c)
			case c.op != o:
				w.fail("a call from op %d of %s while another op runs", c.op.id, c.op.node.name)
			default:
				o.blocked = true
				w.register(c)
			}
		case d := <-w.env.opDone:
			w.env.watch.Stop()
			if d != o {
				w.fail("op %d of %s returned while another op runs", d.id, d.node.name)
			}
			d.finished = true
			w.ops--
			w.finish(d)
		case <-w.env.watch.C:
			w.fail("no call or return from the lease within %v of real time", watchdog)
			return
		}
	}
	if len(w.early) > 0 && w.res.Err == nil {
		w.fail("an unexpected background call from %s", w.nodes[w.early[0].node].name)
	}
}

// finish handles an op's result.
func (w *world) finish(o *op) {
	n := o.node
	if n.op == o {
		n.op = nil
	}
	if o.kind == callAcquire && o.err != nil && o.lastErr != nil && !isRedisError(o.lastErr) {
		// The lease undoes an acquire whose outcome it cannot know, in a
		// goroutine of its own: wait for that call too.
		w.expectBG++
	}
	w.tr.line(w.now, "%s op %v done: %v", n.name, o.kind, o.err)
	if o.orphan || w.draining {
		return
	}
	switch o.kind {
	case callAcquire:
		if o.err != nil {
			w.res.Activity.AcquireFailures++
			n.nextAcquire = w.now + w.backoff(n, o.err)
			return
		}
		w.adopt(n, o)
	case callRenew:
		h := o.holder
		switch {
		case o.err == nil:
			w.res.Activity.Renewals++
			n.nextRenew = w.now + jitter(n.rng, w.p.TTL/3)
			w.chk.leaseFences(h)
		case errors.Is(o.err, lease.ErrLeaseLost):
			w.res.Activity.Losses++
			w.chk.stop(h, "lost")
			w.chk.mustBeStopped(h)
			n.holder = nil
			n.nextAcquire = w.now + between(n.rng, w.p.StepMin, w.p.TTL/10)
		default:
			w.res.Activity.RenewFailures++
			n.nextRenew = w.now + max(jitter(n.rng, w.p.TTL/12), 10*time.Millisecond)
		}
	case callRelease:
		if o.err == nil {
			w.res.Activity.Releases++
		}
		w.chk.mustBeStopped(o.holder)
		n.holder = nil
		n.nextAcquire = w.now + between(n.rng, w.p.StepMin, w.p.TTL/4)
	}
}

func (w *world) backoff(n *node, err error) time.Duration {
	switch {
	case errors.Is(err, lease.ErrUnavailable):
		return between(n.rng, w.p.StepMin, w.p.TTL/10)
	case errors.Is(err, lease.ErrNoWorkerAvailable), errors.Is(err, lease.ErrStartTooFar):
		return between(n.rng, w.p.TTL/4, w.p.TTL)
	}
	return w.p.TTL
}

// jitter shortens d by up to 20%, like the lease's own renewal loop.
func jitter(r *rand.Rand, d time.Duration) time.Duration {
	return d - time.Duration(r.Int64N(int64(d)/5+1))
}

func isRedisError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

// adopt makes the lease an acquire returned the node's holder, with a real
// generator on it.
func (w *world) adopt(n *node, o *op) {
	l, g := o.lease, o.grant
	if !g.ok {
		w.res.violation(VLease, "%s: Acquire succeeded without a successful reply", n.name)
		return
	}
	if l.WorkerID() != g.worker || l.StartAfter() != g.startAfter || l.Fence() != g.fence {
		w.res.violation(VLease, "%s: lease (worker %d, start after %d, fence %d) differs from its reply (%d, %d, %d)",
			n.name, l.WorkerID(), l.StartAfter(), l.Fence(), g.worker, g.startAfter, g.fence)
	}
	opts := snowflake.Options{Clock: n.clock, StartAfter: l.StartAfter(), Fence: l.Fence(), MaxBorrow: n.maxBorrow}
	switch w.opt.Knob {
	case KnobNoFence:
		opts.Fence = 0
	case KnobIgnoreHWM:
		opts.StartAfter = 0
	}
	gen, err := snowflake.New(w.p.Layout, l.WorkerID(), opts)
	if err != nil {
		w.fail("%s: snowflake.New: %v", n.name, err)
		return
	}
	if w.opt.Knob != KnobNoFence {
		l.Bind(gen)
	}
	h := &holder{node: n, lease: l, gen: gen, worker: g.worker, startAfter: g.startAfter, granted: g.fence,
		acqSeq: g.execSeq, era: g.era, maxTick: -1, lastID: -1}
	n.holder = h
	n.nextRenew = w.now + jitter(n.rng, w.p.TTL/3)
	w.res.Activity.Acquires++
	if g.startAfter == g.quarantine && g.quarantine > g.redisTick {
		w.res.Activity.Quarantined++ // it starts after a data-loss quarantine that is still running
	}
	w.tr.line(w.now, "%s holds w%d start-after=%d fence=%d quarantine=%d era=%d exec=%d", n.name, h.worker,
		h.startAfter, h.granted, g.quarantine, h.era, h.acqSeq)
	w.chk.adopted(h)
}

// --- network ---

// register takes a call that arrived from a hook: it sees what it is, and
// schedules its delivery to Redis (or its loss).
func (w *world) register(c *call) {
	c.id = w.calls
	w.calls++
	w.inflight++
	w.classify(c)
	n := w.nodes[c.node]
	c.srv = n.srv
	c.gen = w.srv[c.srv].gen
	if c.wait != nil {
		c.want = asInt(c.wait.Args()[1])
	}
	what := ""
	switch {
	case c.undo:
		what = " (undo)"
	case c.wait != nil:
		what = fmt.Sprintf(" +wait %d", c.want)
	}
	w.tr.line(w.now, "%s call %d %v %s%s to %s proposed=%d", n.name, c.id, c.kind, c.cmd.Name(), what,
		w.srv[c.srv].name, c.proposed)
	switch {
	case w.draining || c.op != nil && c.op.orphan:
		c.fate = errRequestLost // a dead process sends nothing
		w.schedule(w.now, evReply, c.node, c)
	case w.lossRoll(n):
		c.fate = errRequestLost
		w.res.Faults.Loss++
		w.schedule(w.now+w.timeout(), evReply, c.node, c)
	default:
		w.schedule(w.now+w.delay(n), evDeliver, c.node, c)
	}
}

// classify tells the lease scripts apart by their first key, reads the
// proposed fence, and, for acquire, replaces the window's random starting
// offset (drawn by the lease from an unseeded source) by one drawn from the
// seed: the same worker IDs in the same cyclic order, so the script's
// choice is as random as before but replays. It needs the window to cover
// every worker ID, which it does for layouts of up to 1024 of them.
func (w *world) classify(c *call) {
	args := c.cmd.Args()
	if len(args) < 4 {
		return
	}
	nkeys, _ := args[2].(int)
	if nkeys < 1 || len(args) < 3+nkeys {
		return
	}
	first, _ := args[3].(string)
	argv := args[3+nkeys:]
	switch first {
	case w.keys.Meta():
		c.kind = callAcquire
		workers := int64(1) << w.p.Layout.WorkerBits
		if int64(nkeys-3) != workers || len(argv) < 8 {
			w.fail("acquire window of %d keys for %d worker IDs", nkeys-3, workers)
			return
		}
		rewriteWindow(args, w.keys, workers, w.net.Int64N(workers))
		c.proposed = asInt(argv[7])
	case w.keys.Epoch():
		c.kind = callRenew
		if len(argv) >= 5 {
			c.proposed = asInt(argv[4])
		}
	case w.keys.HWM():
		c.kind = callRelease
	}
}

// rewriteWindow makes the acquire call in args look at every worker ID
// from off on.
func rewriteWindow(args []any, keys lease.Keys, workers, off int64) {
	for i := range workers {
		args[3+3+int(i)] = keys.Lease((off + i) % workers)
	}
	args[3+3+int(workers)+5] = off // ARGV[6], the first worker ID
}

func asInt(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case int:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

func (w *world) lossRoll(n *node) bool {
	if w.now < n.cutUntil {
		return true
	}
	return w.p.LossP > 0 && w.net.Float64() < w.p.LossP/2
}

// delay is one message's time on the wire.
func (w *world) delay(n *node) time.Duration {
	d := between(w.net, 0, w.p.BaseDelay)
	if w.now < n.slowUntil {
		d += n.slowBy
		w.res.Faults.Delay++
	}
	if w.p.SpikeP > 0 && w.net.Float64() < w.p.SpikeP {
		d += between(w.net, w.p.SpikeMax/10, w.p.SpikeMax)
		w.res.Faults.Delay++
	}
	return d
}

// timeout is how long a client waits before it sees a lost message as an
// error.
func (w *world) timeout() time.Duration { return between(w.net, w.p.TTL/20, w.p.TTL/2) }

// deliver runs a call's script in Redis, then sends the reply, loses it, or
// loses it and lets the client retry (the script runs again).
func (w *world) deliver(c *call) {
	n := w.nodes[c.node]
	if c.gen != w.srv[c.srv].gen {
		c.fate = errConnReset
		w.schedule(w.now, evReply, c.node, c)
		return
	}
	w.execute(c)
	// A WAIT that falls short blocks for its timeout.
	var waited time.Duration
	if c.wait != nil && c.acks < c.want {
		waited = time.Duration(asInt(c.wait.Args()[2])) * time.Millisecond
	}
	if !w.lossRoll(n) {
		w.schedule(w.now+waited+w.delay(n), evReply, c.node, c)
		return
	}
	w.res.Faults.Loss++
	if c.attempts < 3 && w.p.RetryP > 0 && w.net.Float64() < w.p.RetryP {
		w.tr.line(w.now, "%s call %d reply lost: retried", n.name, c.id)
		w.schedule(w.now+waited+w.delay(n)+w.delay(n), evDeliver, c.node, c)
		return
	}
	if c.wait != nil && w.net.IntN(2) == 0 {
		// The script's reply arrived; the connection broke during the WAIT.
		c.waitLost = true
		w.tr.line(w.now, "%s call %d WAIT reply lost", n.name, c.id)
		w.schedule(w.now+waited+w.timeout(), evReply, c.node, c)
		return
	}
	c.fate = errReplyLost
	w.schedule(w.now+waited+w.timeout(), evReply, c.node, c)
}

// execute runs the call on the server its connection goes to, and the
// WAIT pipelined after it, which the simulation answers (miniredis' own
// always says 0).
func (w *world) execute(c *call) {
	w.syncRedis()
	s := &w.srv[c.srv]
	c.attempts++
	c.cmd.SetErr(nil)
	err := s.raw.Process(c.ctx, c.cmd)
	c.cmd.SetErr(err)
	cmd, ok := c.cmd.(*redis.Cmd)
	if !ok {
		w.fail("a script call of type %T", c.cmd)
		return
	}
	c.val, c.err = cmd.Val(), err
	c.noScript = redis.HasErrorPrefix(c.err, "NOSCRIPT")
	c.execSeq = w.execs
	w.execs++
	c.execEra = s.era
	c.acks, c.waitLost = 0, false
	c.cut = w.split != nil && c.srv == w.split.old
	acks := ""
	if c.wait != nil {
		c.acks = w.acknowledge(c.srv)
		acks = fmt.Sprintf(" acks %d/%d", c.acks, c.want)
	}
	w.res.Activity.Executions++
	w.tr.line(w.now, "%s call %d exec %d era %d on %s%s: %s", w.nodes[c.node].name, c.id, c.execSeq, c.execEra,
		s.name, acks, replyString(c.kind, c.val, c.err))
}

// replyString shows a reply without the random epoch in acquire replies.
func replyString(kind callKind, v any, err error) string {
	if err != nil {
		return "error " + err.Error()
	}
	if s, ok := v.([]any); ok && kind == callAcquire && len(s) == 8 {
		return fmt.Sprintf("[%v %v %v %v <epoch> %v %v %v]", s[0], s[1], s[2], s[3], s[5], s[6], s[7])
	}
	return fmt.Sprint(v)
}

// reply hands a call its answer at the client, unless the client's node
// is paused (it is handed over when the node resumes).
func (w *world) reply(c *call) {
	n := w.nodes[c.node]
	if at := max(n.pausedUntil, n.downUntil); w.now < at && c.op != nil && !c.op.orphan {
		w.schedule(at, evReply, c.node, c)
		return
	}
	if c.fate == nil && c.gen != w.srv[c.srv].gen {
		c.fate = errConnReset
	}
	if c.fate == nil && w.now < n.cutUntil {
		c.fate = errReplyLost
		w.res.Faults.Loss++
	}
	w.answer(c)
}

// answer completes the call in the hook and runs its goroutine on until it
// blocks again or returns.
func (w *world) answer(c *call) {
	final := c.err
	if c.fate != nil {
		c.cmd.SetErr(c.fate)
		if c.wait != nil {
			c.wait.SetErr(c.fate)
		}
		final = c.fate
	} else {
		if wc, ok := c.wait.(*redis.Cmd); ok {
			if c.waitLost {
				wc.SetErr(errReplyLost)
			} else {
				wc.SetErr(nil)
				wc.SetVal(c.acks)
			}
		}
		w.observe(c)
	}
	w.inflight--
	w.tr.line(w.now, "%s call %d answered: %v", w.nodes[c.node].name, c.id, final)
	if o := c.op; o != nil {
		switch {
		case c.undo:
			if c.fate == nil && c.noScript {
				o.undos++ // go-redis sends the script with EVAL next
			}
		case w.syncUndo(c):
			o.undos++
		}
	}
	close(c.back)
	if c.op != nil {
		c.op.blocked = false
		if !c.undo {
			c.op.lastErr = final
		}
		w.settle(c.op)
		return
	}
	if c.fate == nil && c.noScript {
		w.expectBG++ // go-redis sends the script with EVAL next
	}
	w.settle(nil)
}

// syncUndo reports whether the acquire whose reply c hands over will undo
// what it took before it returns (in its own goroutine, without the op's
// context): the script ran but its WAIT failed, or fell short of the
// replicas the script asked for, or Redis aborted the script midway.
func (w *world) syncUndo(c *call) bool {
	if c.kind != callAcquire || c.undo || c.fate != nil {
		return false
	}
	if c.err != nil {
		return !c.noScript && isRedisError(c.err) && !redis.HasErrorPrefix(c.err, "IDGEN ") &&
			strings.Contains(c.err.Error(), "script")
	}
	if c.wait != nil && c.waitLost {
		return true
	}
	s, ok := c.val.([]any)
	return ok && len(s) == 8 && s[0] == int64(1) && asInt(s[7]) > c.acks
}

// observe notes what a reply that reaches its client grants: the checker
// tracks fences from the replies, not from the lease. A fence counts as
// granted only when the WAIT sent with it got as many acknowledgements as
// the script asked for: otherwise the lease must not use it.
func (w *world) observe(c *call) {
	o := c.op
	if o == nil || o.orphan || c.err != nil || c.undo {
		return
	}
	s, ok := c.val.([]any)
	if !ok || len(s) < 2 || s[0] != int64(1) {
		return
	}
	var need int64
	switch {
	case c.kind == callAcquire && len(s) == 8:
		need = asInt(s[7])
	case c.kind == callRenew && len(s) == 3:
		need = asInt(s[2])
	default:
		return
	}
	short := c.waitLost || c.acks < need
	switch {
	case short && c.cut:
		w.res.Activity.DeposedRefused++
	case short:
		w.res.Activity.ShortAcks++
	case c.cut:
		w.res.Activity.DeposedGranted++
		w.tr.line(w.now, "%s call %d: %s, cut from its replica, granted a fence", o.node.name, c.id, w.srv[c.srv].name)
	}
	if short {
		return
	}
	switch c.kind {
	case callAcquire:
		f, err := strconv.ParseInt(fmt.Sprint(s[6]), 10, 64)
		if err != nil {
			return
		}
		lay := w.p.Layout
		o.grant = grant{ok: true, worker: asInt(s[1]), startAfter: asInt(s[2]), quarantine: asInt(s[3]),
			fence: min(c.proposed, f), execSeq: c.execSeq, era: c.execEra,
			redisTick: lay.Tick(time.UnixMilli(asInt(s[5])))}
	case callRenew:
		if h := o.holder; h != nil {
			w.chk.granted(h, min(c.proposed, asInt(s[1])))
		}
	}
}

// --- Redis ---

// syncRedis brings Redis to the current virtual time: TTLs run down (and
// the lease keys that expire are counted), and TIME reads the current time
// plus Redis' clock offset.
func (w *world) syncRedis() {
	if dt := w.now - w.redisAt; dt > 0 {
		m := w.master().m
		for id := range int64(1) << w.p.Layout.WorkerBits {
			if ttl := m.TTL(w.keys.Lease(id)); ttl > 0 && ttl <= dt {
				w.res.Faults.Expiry++
				w.tr.line(w.now, "w%d lease key expired", id)
			}
		}
		m.FastForward(dt)
		if w.split != nil && w.split.old != w.cur {
			w.srv[w.split.old].m.FastForward(dt) // the old master runs on
		}
		w.redisAt = w.now
	}
	for i := range w.srv {
		w.srv[i].m.SetTime(simBase.Add(w.now + w.srv[i].off))
	}
}

// hwm is the worker's high-water mark in the master, -1 if none.
func (w *world) hwm(id int64) int64 {
	v := w.master().m.HGet(w.keys.HWM(), strconv.FormatInt(id, 10))
	if v == "" {
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// --- faults ---

func (w *world) fault(f Fault, idx, phase int) {
	n := w.nodes[f.Node]
	ms := w.master()
	m := ms.m
	w.syncRedis()
	detail := ""
	switch f.Kind {
	case FaultPause:
		n.pausedUntil = max(n.pausedUntil, w.now+f.Dur)
		w.res.Faults.Pause++
	case FaultCrash:
		w.crash(n, f.Dur)
		w.res.Faults.Crash++
	case FaultSlow:
		n.slowUntil, n.slowBy = w.now+f.Dur, f.Delta
	case FaultPartition:
		n.cutUntil = max(n.cutUntil, w.now+f.Dur)
	case FaultStall:
		for _, e := range w.queue {
			e.at += f.Dur // every pending event, in the same order: the heap stays valid
		}
		w.res.Faults.Stall++
	case FaultRestart:
		t := w.restartTarget(f)
		if t == nil {
			detail = "skipped: the master is cut off from its replica (see restartTarget)"
			break
		}
		detail = "on " + t.name
		t.m.FlushAll()
		w.dropConnections(t)
		w.serverChange(t, false, nil)
		w.newEra(t)
		t.off = f.Clock
		if w.opt.Knob == KnobRedisClockBack {
			t.off -= w.p.Window + 2*w.p.MaxSkew
		}
		w.restarted(t)
		w.res.Faults.DataLoss++
	case FaultFlushAll:
		t := w.restartTarget(f) // the same limit as a restart without data
		if t == nil {
			detail = "skipped: the master is cut off from its replica (see restartTarget)"
			break
		}
		detail = "on " + t.name
		t.m.FlushAll()
		w.newEra(t)
		w.res.Faults.DataLoss++
	case FaultKeyLoss:
		key := []string{w.keys.Epoch(), w.keys.Meta(), w.keys.HWM()}[f.Variant]
		detail = key
		if w.forgetsReplica(ms, key) {
			// The other copy of the replica count is gone already: losing
			// this one too on a master cut off from its replica is the
			// documented limit (see restartTarget).
			detail += ": skipped, the last copy of the replica count on a master cut off from its replica"
			break
		}
		m.Del(key)
		if key == w.keys.HWM() {
			w.newEra(ms)
			w.res.Faults.DataLoss++
		} else {
			w.res.Faults.KeyLoss++
		}
	case FaultClockJump:
		n.clock.offset += f.Delta
		w.res.Faults.ClockJump++
	case FaultTheft:
		detail = w.theft(f)
		w.res.Faults.Theft++
	case FaultScriptFlush:
		w.scriptFlush()
		w.res.Faults.ScriptFlush++
	case FaultRollback:
		detail = w.rollback(f, idx)
		w.res.Faults.Rollback++
	case FaultPromote:
		if w.split != nil {
			// One failover at a time: a second promotion while one is in
			// progress would be two masters promoted by one Sentinel quorum.
			detail = "skipped: a split brain is in progress"
			break
		}
		detail = w.rollback(f, idx)
		w.res.Faults.Promote++
	case FaultSplitBrain:
		detail = fmt.Sprintf("phase %d: %s", phase, w.splitBrain(f, idx, phase))
	}
	w.tr.line(w.now, "fault %v %s era=%d", f, detail, w.era())
}

func (w *world) scriptFlush() {
	if err := w.master().raw.ScriptFlush(context.Background()).Err(); err != nil {
		w.fail("SCRIPT FLUSH: %v", err)
	}
}

// theft tampers with a lease key, as a misbehaving client would: a held
// one if there is one.
func (w *world) theft(f Fault) string {
	m := w.master().m
	workers := int64(1) << w.p.Layout.WorkerBits
	var held []int64
	for id := range workers {
		if m.Exists(w.keys.Lease(id)) {
			held = append(held, id)
		}
	}
	id := int64(f.Node) % workers
	if len(held) > 0 {
		id = held[f.Node%len(held)]
	}
	key := w.keys.Lease(id)
	switch f.Variant {
	case 0:
		_ = m.Set(key, "thief-token|thief|1|0|0")
		m.SetTTL(key, w.p.TTL)
		return "overwrote " + key
	case 1:
		m.Del(key)
		return "deleted " + key
	case 2:
		m.Del(key)
		m.HSet(key, "thief", "1")
		m.SetTTL(key, w.p.TTL)
		return "retyped " + key
	default:
		if m.Exists(key) {
			m.SetTTL(key, time.Millisecond)
		}
		return "expired " + key
	}
}
