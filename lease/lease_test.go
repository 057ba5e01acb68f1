package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/snowflake"
)

func TestRace200For64(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	o := testOpts("race", layout64)
	o.TTL = 10 * time.Second // no renewal needed while the race runs

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []*Lease
		losers  int
		other   []error
	)
	start := make(chan struct{})
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			l, err := Acquire(context.Background(), c, o)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				winners = append(winners, l)
			case errors.Is(err, ErrNoWorkerAvailable):
				losers++
				if losers == 1 {
					check(t, strings.Contains(err.Error(), "64 worker IDs") && strings.Contains(err.Error(), `"race"`),
						"the error says how many IDs and which namespace: %v", err)
				}
			default:
				other = append(other, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	must(t, len(other) == 0, "unexpected errors: %v", other)
	equal(t, len(winners), 64, "winners")
	equal(t, losers, 136, "losers")
	seen := map[int64]bool{}
	for _, l := range winners {
		must(t, !seen[l.WorkerID()], "worker %d held twice", l.WorkerID())
		seen[l.WorkerID()] = true
	}
	infos, err := List(context.Background(), c, "race")
	noErr(t, err)
	equal(t, len(infos), 64, "listed leases")
	for _, l := range winners {
		noErr(t, l.Close(context.Background()))
	}
	infos, err = List(context.Background(), c, "race")
	noErr(t, err)
	equal(t, len(infos), 0, "leases after release")
}

// Every worker ID of a 1024-ID layout taken by concurrent acquirers: all
// distinct, and the 1025th is refused with a clear error.
func TestAcquire1024ThenFull(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 64})
	t.Cleanup(func() { _ = c.Close() })
	o := testOpts("full", snowflake.Twitter())
	o.TTL, o.OpTimeout = 20*time.Second, time.Minute // 1024 at once on a loaded machine, under -race

	leases := make([]*Lease, 1024)
	errs := make([]error, 1024)
	var wg sync.WaitGroup
	for i := range leases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			leases[i], errs[i] = Acquire(context.Background(), c, o)
		}()
	}
	wg.Wait()
	seen := make(map[int64]bool, 1024)
	for i, l := range leases {
		noErr(t, errs[i], "acquirer", i)
		must(t, !seen[l.WorkerID()], "worker %d held twice", l.WorkerID())
		seen[l.WorkerID()] = true
	}
	_, err := Acquire(context.Background(), c, o)
	errIs(t, err, ErrNoWorkerAvailable)
	check(t, strings.Contains(err.Error(), `all 1024 worker IDs of namespace "full" are held`), "message: %v", err)
	for _, l := range leases {
		noErr(t, l.Close(context.Background()))
	}
}

// A lease whose renewals are blocked expires; the next holder starts above
// every tick the old one may still issue, and the two ID sets are disjoint
// although the old holder keeps issuing after its key expired.
func TestExpiredLeaseTakeoverDisjoint(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	ca, hook := hookedClient(t, srv)
	cb := srv.Client(t)
	o := testOpts("takeover", oneWorker)
	// A TTL long enough that a stall of the loaded -race suite does not
	// lose A's lease before the test blocks its renewals (2 s was not: a
	// clean-clone run lost it, Renewals 2, before the block).
	o.TTL = 4 * time.Second
	o.Window = 2 * o.TTL // A keeps issuing up to a TTL after its key is gone
	a := mustAcquire(t, ca, o)
	ga := newFakeGen(a)
	a.Bind(ga)
	waitPast(oneWorker, a.StartAfter())

	stopA := make(chan struct{})
	var idsA []int64
	doneA := make(chan struct{})
	go func() { defer close(doneA); idsA = ga.generate(stopA, true) }()
	// A renewal has to raise the fence first; the full -race suite can
	// delay it by seconds. The stats say why if it never comes.
	var st Stats
	eventually(t, 10*time.Second, func() bool { st = a.Stats(); return st.Fence > oneWorker.Tick(time.Now())+200 },
		"fence not ahead: %+v", &st)

	hook.block.Store(true) // renewals fail from now on; the key will expire
	blockedAt := time.Now()
	// A renewal that passed the hook just before the block may still land.
	eventually(t, 5*time.Second, func() bool { st = a.Stats(); return st.ConsecutiveFailures > 0 }, "renewals not blocked: %+v, lease error %v", &st, a.Err())
	fenceA := a.Fence()
	lastRenew := a.Stats().LastRenew
	b := acquireWhenFree(t, cb, o, 3*o.TTL)
	t.Logf("B took over %v after the block", time.Since(blockedAt))
	check(t, time.Now().After(lastRenew.Add(o.TTL)), "B got the worker before A's key could expire")
	equal(t, b.WorkerID(), a.WorkerID(), "worker ID taken over")
	check(t, b.StartAfter() >= a.Fence(), "B starts after %d, below A's fence %d", b.StartAfter(), a.Fence())
	equal(t, a.Fence(), fenceA, "A's fence while its renewals fail")
	check(t, a.Stats().RenewFailures > 0, "A counted no renewal failures")

	gb := newFakeGen(b)
	b.Bind(gb)
	<-doneA
	t.Logf("A fenced %v after the block", time.Since(blockedAt)) // A issued up to its fence, partly after its key expired
	close(stopA)
	stopB := make(chan struct{})
	time.AfterFunc(50*time.Millisecond+time.Until(oneWorker.Time(b.StartAfter())), func() { close(stopB) })
	idsB := gb.generate(stopB, false)
	if len(idsB) == 0 { // a loaded machine: give B more time
		more := make(chan struct{})
		time.AfterFunc(500*time.Millisecond, func() { close(more) })
		idsB = gb.generate(more, false)
	}

	must(t, len(idsA) > 0 && len(idsB) > 0, "A issued %d IDs, B %d", len(idsA), len(idsB))
	lastA := ga.tickOf(idsA[len(idsA)-1])
	check(t, lastA <= b.StartAfter(), "A's last tick %d above B's start %d", lastA, b.StartAfter())
	check(t, ga.tickOf(idsB[0]) > b.StartAfter(), "B's first tick %d not above its start %d", ga.tickOf(idsB[0]), b.StartAfter())
	check(t, oneWorker.Time(lastA).After(lastRenew.Add(o.TTL)),
		"A stopped issuing at %v, before its key expired: the test shows nothing", oneWorker.Time(lastA))
	set := make(map[int64]bool, len(idsA))
	for _, id := range idsA {
		set[id] = true
	}
	for _, id := range idsB {
		must(t, !set[id], "ID %d issued by both holders", id)
	}

	hook.block.Store(false) // A's next renewal finds B's token
	select {
	case <-a.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("A did not notice the takeover")
	}
	errIs(t, a.Err(), ErrLeaseLost)
	// "expired" only if B, on a loaded machine, lost the worker in turn.
	check(t, strings.Contains(a.Err().Error(), "another token") || b.Err() != nil, "reason: %v", a.Err())
	check(t, ga.Stopped(), "A's generator not stopped")
	check(t, a.Stats().Lost, "Stats.Lost not set")
}

// The key deleted, overwritten, replaced by another type or expired early
// by another client: noticed at the next renewal, target stopped.
func TestKeyTamperedLosesLease(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	admin := srv.Client(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		tamper func(key string) error
		reason string
	}{
		{"deleted", func(k string) error { return admin.Del(ctx, k).Err() }, "expired or was deleted"},
		{"overwritten", func(k string) error { return admin.Set(ctx, k, "intruder", 0).Err() }, "another token"},
		{"expired early", func(k string) error { return admin.PExpire(ctx, k, time.Millisecond).Err() }, "expired or was deleted"},
		{"replaced by a hash", func(k string) error {
			if err := admin.Del(ctx, k).Err(); err != nil {
				return err
			}
			return admin.HSet(ctx, k, "x", "y").Err()
		}, "another type"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := testOpts(fmt.Sprintf("tamper%d", i), layout64)
			o.TTL, o.RenewInterval = 2*time.Second, 200*time.Millisecond
			l := mustAcquire(t, c, o)
			g := newFakeGen(l)
			l.Bind(g)
			eventually(t, 2*time.Second, func() bool { return l.Stats().Renewals >= 1 }, "no renewal")
			fence := l.Fence()
			before := l.Stats()
			noErr(t, tc.tamper(l.keys.lease(l.WorkerID())))
			at := time.Now()
			select {
			case <-l.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("loss not noticed")
			}
			t.Logf("noticed after %v", time.Since(at))
			// Noticed at the first renewal after the tampering: no other
			// attempt, successful or failed, in between (a renewal in flight
			// while tampering may have succeeded just before).
			after := l.Stats()
			check(t, after.Renewals+after.RenewFailures <= before.Renewals+before.RenewFailures+1,
				"%d renewal attempts before the loss was noticed",
				after.Renewals+after.RenewFailures-before.Renewals-before.RenewFailures)
			errIs(t, l.Err(), ErrLeaseLost)
			check(t, strings.Contains(l.Err().Error(), tc.reason), "reason: %v", l.Err())
			check(t, g.Stopped(), "target not stopped")
			_, err := g.Next()
			errIs(t, err, errStopped)
			check(t, l.Fence() <= fence+l.window, "fence rose after the loss")
			noErr(t, l.Close(context.Background()), "closing a lost lease")
			errIs(t, l.Err(), ErrLeaseLost)
			// A target bound after the loss is stopped at once.
			late := newFakeGen(l)
			l.Bind(late)
			check(t, late.Stopped(), "late target not stopped")
		})
	}
}

// Release: the worker ID is free at once, and the next holder starts above
// the last tick issued but below the released fence.
func TestReleaseRetakenAtOnce(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	o := testOpts("release", oneWorker)
	o.Window = 2 * time.Second // a fence far ahead shows the HWM is lowered
	a := mustAcquire(t, c, o)
	g := newFakeGen(a)
	a.Bind(g)
	waitPast(oneWorker, a.StartAfter())
	stop := make(chan struct{})
	time.AfterFunc(20*time.Millisecond, func() { close(stop) })
	ids := g.generate(stop, false)
	must(t, len(ids) > 0, "nothing issued")
	fenceA := a.Fence()

	noErr(t, a.Close(context.Background()))
	check(t, g.Stopped(), "target not stopped by Release")
	errIs(t, a.Err(), ErrClosed)
	select {
	case <-a.Done():
	default:
		t.Fatal("Done not closed after Release")
	}
	noErr(t, a.Close(context.Background()), "second Close")
	lastA := g.LastTick()
	check(t, lastA >= g.tickOf(ids[len(ids)-1]), "LastTick %d below the last ID", lastA)
	equal(t, hwmOf(t, c, "release", 0), lastA, "released HWM")

	at := time.Now()
	b := mustAcquire(t, c, o)
	check(t, time.Since(at) < 200*time.Millisecond, "retaking took %v", time.Since(at))
	check(t, b.StartAfter() >= lastA, "B starts after %d, below A's last tick %d", b.StartAfter(), lastA)
	check(t, b.StartAfter() < fenceA, "B starts after %d, A's whole fence %d: the HWM was not lowered", b.StartAfter(), fenceA)

	// Unbound: the HWM stays at the fence.
	noErr(t, b.Close(context.Background()))
	c2 := mustAcquire(t, c, o)
	fenceC := c2.Fence()
	noErr(t, c2.Close(context.Background()))
	equal(t, hwmOf(t, c, "release", 0), fenceC, "HWM after an unbound release")
	d := mustAcquire(t, c, o)
	equal(t, d.StartAfter(), fenceC, "start after an unbound release")
}

// The HWM in Redis covers the fence the holder uses, at every renewal.
func TestFenceNeverAheadOfHWM(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	o := testOpts("hwm", layout64)
	o.RenewInterval = 50 * time.Millisecond
	l := mustAcquire(t, c, o)
	g := newFakeGen(l)
	l.Bind(g)
	for range 20 {
		g.mu.Lock()
		f := g.fence
		g.mu.Unlock()
		h := hwmOf(t, c, "hwm", l.WorkerID())
		check(t, h >= f, "target's fence %d above the HWM %d", f, h)
		time.Sleep(15 * time.Millisecond)
	}
	s := l.Stats()
	check(t, s.Renewals >= 3, "only %d renewals", s.Renewals)
	check(t, g.fences >= 3, "fence pushed to the target only %d times", g.fences)
	check(t, s.Fence > s.StartAfter, "fence %d not above start %d", s.Fence, s.StartAfter)
	check(t, time.Until(s.ExpiresAt) > 0 && time.Until(s.ExpiresAt) <= o.TTL, "ExpiresAt %v", s.ExpiresAt)
}

func TestScriptFlushBetweenCalls(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	ctx := context.Background()
	o := testOpts("flush", layout64)
	o.RenewInterval = 50 * time.Millisecond
	l := mustAcquire(t, c, o)
	noErr(t, c.ScriptFlush(ctx).Err())
	before := l.Stats().Renewals
	eventually(t, 3*time.Second, func() bool { return l.Stats().Renewals >= before+2 }, "renewals stopped after SCRIPT FLUSH")
	equal(t, l.Stats().RenewFailures, uint64(0), "renewal failures")
	noErr(t, c.ScriptFlush(ctx).Err())
	noErr(t, l.Close(context.Background()))
	equal(t, c.Exists(ctx, l.keys.lease(l.WorkerID())).Val(), int64(0), "key after release")
	noErr(t, c.ScriptFlush(ctx).Err())
	mustAcquire(t, c, o)
}

// Redis restarted without persistence: holders find the dataset epoch gone
// and stop; the next holder waits out a quarantine covering their fences.
func TestRestartWithoutPersistence(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	o := testOpts("restart", oneWorker)
	o.RenewInterval = 100 * time.Millisecond
	var logs syncBuffer
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	a := mustAcquire(t, c, o)
	g := newFakeGen(a)
	a.Bind(g)
	eventually(t, 2*time.Second, func() bool { return a.Stats().Renewals >= 1 }, "no renewal")

	srv.Restart()
	select {
	case <-a.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("data loss not noticed")
	}
	errIs(t, a.Err(), ErrLeaseLost)
	check(t, strings.Contains(a.Err().Error(), "lost its data"), "reason: %v", a.Err())
	check(t, g.Stopped(), "target not stopped")
	check(t, strings.Contains(logs.String(), "level=ERROR msg=\"lease lost; generators stopped\""), "log: %s", logs.String())

	before := redisTick(t, c, oneWorker)
	b := mustAcquire(t, c, o)
	q := before + oneWorker.Ticks(o.Window) + oneWorker.Ticks(o.MaxSkew)
	check(t, b.StartAfter() >= q, "B starts after %d, below TIME+Window+MaxSkew = %d", b.StartAfter(), q)
	check(t, b.StartAfter() > a.Fence(), "B starts after %d, not above A's fence %d", b.StartAfter(), a.Fence())
	equal(t, b.StartAfter(), b.quarantine, "start is the quarantine")
}

func TestListShowsHolders(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	ctx := context.Background()
	infos, err := List(ctx, c, "list")
	noErr(t, err)
	equal(t, len(infos), 0, "unused namespace")

	o := testOpts("list", layout64)
	o.Host = "node-a"
	a := mustAcquire(t, c, o)
	o.Host = "node-b"
	b := mustAcquire(t, c, o)
	infos, err = List(ctx, c, "list")
	noErr(t, err)
	must(t, len(infos) == 2, "listed %v", infos)
	byID := map[int64]Info{}
	for _, in := range infos {
		byID[in.WorkerID] = in
	}
	for _, x := range []struct {
		l    *Lease
		host string
	}{{a, "node-a"}, {b, "node-b"}} {
		in := byID[x.l.WorkerID()]
		equal(t, in.Host, x.host, "host")
		check(t, in.PID > 0, "pid %d", in.PID)
		check(t, time.Since(in.Started) < 5*time.Second, "started %v", in.Started)
		check(t, in.TTL > 0 && in.TTL <= o.TTL, "ttl %v", in.TTL)
		equal(t, in.HWM, x.l.Fence(), "hwm")
	}
	check(t, infos[0].WorkerID < infos[1].WorkerID, "not sorted")
	_, err = List(ctx, c, "bad{ns}")
	errIs(t, err, ErrInvalidOptions)

	// The meta hash gone while the leases are still held: List scans.
	noErr(t, c.Del(ctx, KeysOf("list").Meta).Err())
	infos, err = List(ctx, c, "list")
	noErr(t, err)
	must(t, len(infos) == 2, "listed %v with the meta hash deleted", infos)
	equal(t, infos[0].WorkerID, min(a.WorkerID(), b.WorkerID()), "first worker ID")
}

// More worker IDs than one window: the acquire searches further windows,
// and List scans when the range is too large to read key by key.
func TestLargeWorkerSpace(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	ctx := context.Background()
	lay := snowflake.Layout{Epoch: snowflake.Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 12, SequenceBits: 10}
	o := testOpts("large", lay)
	o.TTL = 10 * time.Second
	mustAcquire(t, c, o) // creates the namespace
	k := newKeySet("large")
	pipe := c.Pipeline()
	for id := range int64(4096) {
		if id != 3000 {
			pipe.SetNX(ctx, k.lease(id), "filler|h|1|2|3", time.Minute)
		}
	}
	_, err := pipe.Exec(ctx)
	noErr(t, err)
	l := mustAcquire(t, c, o)
	equal(t, l.WorkerID(), int64(3000), "the one free worker")
	_, err = Acquire(ctx, c, o)
	errIs(t, err, ErrNoWorkerAvailable)
	check(t, strings.Contains(err.Error(), "all 4096 worker IDs"), "message: %v", err)

	big := snowflake.Layout{Epoch: snowflake.Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 17, SequenceBits: 5}
	ob := testOpts("huge", big)
	ob.TTL = 10 * time.Second
	x := mustAcquire(t, c, ob)
	y := mustAcquire(t, c, ob)
	infos, err := List(ctx, c, "huge")
	noErr(t, err)
	must(t, len(infos) == 2, "listed %v", infos)
	got := map[int64]bool{infos[0].WorkerID: true, infos[1].WorkerID: true}
	check(t, got[x.WorkerID()] && got[y.WorkerID()], "listed %v, held %d and %d", infos, x.WorkerID(), y.WorkerID())
}

// Rule 3: a worker whose HWM is far ahead of the local clock is passed
// over for another, or refused with ErrStartTooFar when it is the only one.
func TestStartTooFarAhead(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	ahead := testOpts("skew", twoWorkers)
	ahead.MaxStartWait = time.Minute
	a := mustAcquire(t, c, ahead)
	noErr(t, a.Close(context.Background()))
	// The scripts cap every fence at Redis' clock + Window, so a fast clock
	// alone cannot leave an HWM far ahead; plant one as a previous holder
	// with a longer Window (or a Redis whose clock was stepped back) would.
	far := twoWorkers.Tick(time.Now().Add(10 * time.Minute))
	noErr(t, c.HSet(context.Background(), newKeySet("skew").hwm, itoa(a.WorkerID()), far).Err())

	o := testOpts("skew", twoWorkers)
	b := mustAcquire(t, c, o)
	check(t, b.WorkerID() != a.WorkerID(), "took worker %d, whose HWM is 10s ahead", b.WorkerID())
	_, err := Acquire(context.Background(), c, o)
	errIs(t, err, ErrNoWorkerAvailable)
	errIs(t, err, ErrStartTooFar)
	check(t, strings.Contains(err.Error(), "MaxStartWait"), "message: %v", err)

	// A fresh namespace is quarantined; a clock far behind Redis is refused.
	behind := testOpts("behind", twoWorkers)
	behind.Clock = skewClock{offset: -5 * time.Second}
	_, err = Acquire(context.Background(), c, behind)
	errIs(t, err, ErrStartTooFar)
	check(t, strings.Contains(err.Error(), "quarantined"), "message: %v", err)
	equal(t, c.Exists(context.Background(), "{behind}:epoch", "{behind}:meta", "{behind}:lease:0", "{behind}:lease:1").Val(),
		int64(0), "keys left by a refused acquire")
}

// Losing the hwm or meta hash alone (eviction, a stray DEL) while the epoch
// key survives is caught too: the next acquire is quarantined. Live holders
// go on after the hwm hash is lost, their renewals restoring their own HWM;
// after the meta hash is lost they stop, since the server their data
// belongs to can no longer be checked.
func TestPartialLossQuarantine(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	ctx := context.Background()
	o := testOpts("partial", layout64)
	o.RenewInterval = 100 * time.Millisecond
	a := mustAcquire(t, c, o)
	waitPast(layout64, a.StartAfter())
	b := mustAcquire(t, c, o)
	check(t, b.StartAfter() < redisTick(t, c, layout64), "no loss, yet B quarantined until %d", b.StartAfter())

	lose := func(key string) {
		t.Helper()
		noErr(t, c.Del(ctx, key).Err())
		before := redisTick(t, c, layout64)
		x := mustAcquire(t, c, o)
		q := before + layout64.Ticks(o.Window) + layout64.Ticks(o.MaxSkew)
		check(t, x.StartAfter() >= q, "after losing %s: start %d, below TIME+Window+MaxSkew = %d", key, x.StartAfter(), q)
		equal(t, c.HGet(ctx, a.keys.meta, "layout").Val(), layout64.Fingerprint(), "layout recorded again")
	}
	lose(a.keys.hwm)
	n := a.Stats().Renewals
	eventually(t, 2*time.Second, func() bool { return a.Stats().Renewals >= n+2 }, "A stopped renewing")
	check(t, a.Err() == nil, "A lost its lease: %v", a.Err())
	check(t, hwmOf(t, c, "partial", a.WorkerID()) >= a.Fence(), "A's HWM not restored")

	noErr(t, c.Del(ctx, a.keys.meta).Err())
	select {
	case <-a.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("A renews without the meta hash")
	}
	check(t, strings.Contains(a.Err().Error(), "meta hash"), "reason: %v", a.Err())
	lose(a.keys.meta)
}
