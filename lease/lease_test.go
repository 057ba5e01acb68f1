package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/clock"
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
					assert.True(t, strings.Contains(err.Error(), "64 worker IDs") && strings.Contains(err.Error(), `"race"`), "the error says how many IDs and which namespace: %v", err)
				}
			default:
				other = append(other, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	require.True(t, len(other) == 0, "unexpected errors: %v", other)
	assert.Equal(t, 64, len(winners), "winners")
	assert.Equal(t, 136, losers, "losers")
	seen := map[int64]bool{}
	for _, l := range winners {
		require.True(t, !seen[l.WorkerID()], "worker %d held twice", l.WorkerID())
		seen[l.WorkerID()] = true
	}
	infos, err := List(context.Background(), c, "race")
	require.NoError(t, err)
	assert.Equal(t, 64, len(infos), "listed leases")
	for _, l := range winners {
		require.NoError(t, l.Close(context.Background()))
	}
	infos, err = List(context.Background(), c, "race")
	require.NoError(t, err)
	assert.Equal(t, 0, len(infos), "leases after release")
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
		require.NoError(t, errs[i], "acquirer %d", i)
		require.True(t, !seen[l.WorkerID()], "worker %d held twice", l.WorkerID())
		seen[l.WorkerID()] = true
	}
	_, err := Acquire(context.Background(), c, o)
	require.ErrorIs(t, err, ErrNoWorkerAvailable)
	assert.True(t, strings.Contains(err.Error(), `all 1024 worker IDs of namespace "full" are held`), "message: %v", err)
	for _, l := range leases {
		require.NoError(t, l.Close(context.Background()))
	}
}

// A lease whose renewals are blocked expires; the next holder starts above
// every tick the old one may still issue, and the two ID sets are disjoint
// although the old holder keeps issuing after its key expired. Renewals
// and issuing run in virtual time; the key expires in Redis' real time.
func TestExpiredLeaseTakeoverDisjoint(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for a real lease key to expire in Redis; runs without -short")
	}
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	ca, hook := hookedClient(t, srv)
	cb := srv.Client(t)
	o := testOpts("takeover", oneWorker)
	o.TTL = 2 * time.Second // the real wait for A's key to expire
	o.Window = 2 * o.TTL    // A keeps issuing up to a TTL after its key is gone
	f := inVirtualTime(t, ca, &o)
	a := mustAcquire(t, ca, o)
	ga := newFakeGen(a)
	a.Bind(ga)
	renew(t, f, a)
	require.Equal(t, uint64(1), a.Stats().Renewals, "A's renewal")
	fenceA := a.Fence()
	assert.Equal(t, oneWorker.Tick(f.Now())+oneWorker.Ticks(o.Window), fenceA, "fence = tick(renewal) + Window")

	hook.block.Store(true) // renewals fail from now on; the key will expire
	renew(t, f, a)
	st := a.Stats()
	require.Equal(t, uint64(1), st.ConsecutiveFailures, "renewals not blocked: %v", a.Err())
	lastRenew := st.LastRenew
	b := acquireWhenFree(t, cb, o, 3*o.TTL)
	assert.Equal(t, a.WorkerID(), b.WorkerID(), "worker ID taken over")
	assert.Equal(t, fenceA, b.StartAfter(), "B starts after A's fence")
	assert.Equal(t, fenceA, a.Fence(), "A's fence while its renewals fail")

	// A issues up to its fence, past the time its key expired; then B.
	idsA := ga.generate(f, oneWorker.Time(fenceA+10), true)
	gb := newFakeGen(b)
	b.Bind(gb)
	idsB := gb.generate(f, oneWorker.Time(b.StartAfter()).Add(50*time.Millisecond), false)

	require.NotEmpty(t, idsA, "A issued nothing")
	require.NotEmpty(t, idsB, "B issued nothing")
	lastA := ga.tickOf(idsA[len(idsA)-1])
	assert.Equal(t, fenceA, lastA, "A issued up to its fence")
	assert.LessOrEqual(t, lastA, b.StartAfter(), "A's last tick above B's start")
	assert.Greater(t, ga.tickOf(idsB[0]), b.StartAfter(), "B's first tick not above its start")
	assert.True(t, oneWorker.Time(lastA).After(lastRenew.Add(o.TTL)),
		"A stopped issuing at %v, before its key expired: the test shows nothing", oneWorker.Time(lastA))
	set := make(map[int64]bool, len(idsA))
	for _, id := range idsA {
		set[id] = true
	}
	for _, id := range idsB {
		require.False(t, set[id], "ID %d issued by both holders", id)
	}

	// No renewal in flight (both timers armed again): A's next renewal, and
	// not one that passed the hook before, finds B's token.
	require.NoError(t, f.BlockUntil(context.Background(), 2))
	hook.block.Store(false)
	renew(t, f, a, b)
	select {
	case <-a.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("A did not notice the takeover")
	}
	require.ErrorIs(t, a.Err(), ErrLeaseLost)
	// "expired" only if B's key, on a loaded machine, expired in turn.
	if !strings.Contains(a.Err().Error(), "another token") {
		assert.Zero(t, cb.Exists(context.Background(), b.keys.Lease(b.WorkerID())).Val(), "reason: %v", a.Err())
	}
	assert.True(t, ga.Stopped(), "A's generator not stopped")
	assert.True(t, a.Stats().Lost, "Stats.Lost not set")
}

// The key deleted, overwritten, replaced by another type or expired early
// by another client: noticed at the next renewal, target stopped. The
// renewals run in virtual time.
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
		{"expired early", func(k string) error {
			if err := admin.PExpire(ctx, k, time.Millisecond).Err(); err != nil {
				return err
			}
			// Redis expires it in its own (real) time.
			for admin.Exists(ctx, k).Val() != 0 {
				runtime.Gosched()
			}
			return nil
		}, "expired or was deleted"},
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
			o.TTL = 10 * time.Second
			f := inVirtualTime(t, c, &o)
			l := mustAcquire(t, c, o)
			g := newFakeGen(l)
			l.Bind(g)
			renew(t, f, l)
			require.Equal(t, uint64(1), l.Stats().Renewals, "the renewal before the tampering")
			fence := l.Fence()
			require.NoError(t, tc.tamper(l.keys.Lease(l.WorkerID())))
			renew(t, f, l)
			select {
			case <-l.Done():
			default:
				t.Fatal("loss not noticed at the first renewal after the tampering")
			}
			after := l.Stats()
			assert.Equal(t, uint64(1), after.Renewals, "renewals")
			assert.Zero(t, after.RenewFailures, "failed renewals")
			require.ErrorIs(t, l.Err(), ErrLeaseLost)
			assert.True(t, strings.Contains(l.Err().Error(), tc.reason), "reason: %v", l.Err())
			assert.True(t, g.Stopped(), "target not stopped")
			_, err := g.Next()
			require.ErrorIs(t, err, errStopped)
			assert.Equal(t, fence, l.Fence(), "fence after the loss")
			assert.Zero(t, f.Timers(), "the renewal loop's timer after the loss")
			require.NoError(t, l.Close(context.Background()), "closing a lost lease")
			require.ErrorIs(t, l.Err(), ErrLeaseLost)
			// A target bound after the loss is stopped at once.
			late := newFakeGen(l)
			l.Bind(late)
			assert.True(t, late.Stopped(), "late target not stopped")
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
	o.TTL = 10 * time.Second // a fence far ahead shows the HWM is lowered
	f := inVirtualTime(t, c, &o)
	a := mustAcquire(t, c, o)
	g := newFakeGen(a)
	a.Bind(g)
	ids := g.generate(f, f.Now().Add(20*time.Millisecond), false)
	require.Len(t, ids, 60, "three IDs a tick for 20 ticks")
	fenceA := a.Fence()

	require.NoError(t, a.Close(context.Background()))
	assert.True(t, g.Stopped(), "target not stopped by Release")
	require.ErrorIs(t, a.Err(), ErrClosed)
	select {
	case <-a.Done():
	default:
		t.Fatal("Done not closed after Release")
	}
	require.NoError(t, a.Close(context.Background()), "second Release")
	require.NoError(t, a.Close(context.Background()), "Close after Release")
	lastA := g.LastTick()
	assert.Equal(t, g.tickOf(ids[len(ids)-1]), lastA, "LastTick is the last ID's")
	assert.Equal(t, lastA, hwmOf(t, c, "release", 0), "released HWM")

	// The only worker ID is free at once: no wait for its key to expire.
	b := mustAcquire(t, c, o)
	assert.Equal(t, lastA, b.StartAfter(), "B starts after A's last tick")
	assert.Less(t, b.StartAfter(), fenceA, "B starts after A's whole fence: the HWM was not lowered")

	// Unbound: the HWM stays at the fence.
	require.NoError(t, b.Close(context.Background()))
	c2 := mustAcquire(t, c, o)
	fenceC := c2.Fence()
	require.NoError(t, c2.Close(context.Background()))
	assert.Equal(t, fenceC, hwmOf(t, c, "release", 0), "HWM after an unbound release")
	d := mustAcquire(t, c, o)
	assert.Equal(t, fenceC, d.StartAfter(), "start after an unbound release")
}

// The HWM in Redis covers the fence the holder uses, at every renewal, and
// each renewal moves the fence with the clock.
func TestFenceNeverAheadOfHWM(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	o := testOpts("hwm", layout64)
	o.TTL = 10 * time.Second
	o.RenewInterval = 50 * time.Millisecond
	f := inVirtualTime(t, c, &o)
	l := mustAcquire(t, c, o)
	g := newFakeGen(l)
	l.Bind(g)
	for i := range 20 {
		renew(t, f, l)
		assert.Equal(t, layout64.Tick(f.Now())+l.window, l.Fence(), "renewal %d: the fence", i)
		assert.Equal(t, l.Fence(), g.Fence(), "renewal %d: the target's fence", i)
		assert.GreaterOrEqual(t, hwmOf(t, c, "hwm", l.WorkerID()), g.Fence(), "renewal %d: the target's fence above the HWM", i)
	}
	s := l.Stats()
	assert.Equal(t, uint64(20), s.Renewals, "Renewals")
	g.mu.Lock()
	assert.Equal(t, 21, g.fences, "fences pushed to the target: at Bind, then at every renewal")
	g.mu.Unlock()
	assert.Greater(t, s.Fence, s.StartAfter, "fence not above start")
	assert.Equal(t, f.Now(), s.LastRenew, "LastRenew")
	assert.Equal(t, f.Now().Add(o.TTL), s.ExpiresAt, "ExpiresAt")
}

// A step of the wall clock does not move the lease's idea of now: after
// Acquire the lease measures elapsed time on the monotonic clock.
func TestWallStepDoesNotMoveFence(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	o := testOpts("wallstep", layout64)
	o.TTL = 10 * time.Second
	o.RenewInterval = 100 * time.Millisecond
	f := inVirtualTime(t, c, &o)
	l := mustAcquire(t, c, o)
	first := l.Fence()
	for _, step := range []time.Duration{-time.Minute, 2 * time.Minute} {
		f.StepWall(step)
		renew(t, f, l)
		require.Equal(t, uint64(0), l.Stats().RenewFailures, "after a step of %v", step)
		first += layout64.Ticks(o.RenewInterval)
		assert.Equal(t, first, l.Fence(), "fence after a wall step of %v", step)
	}
}

func TestScriptFlushBetweenCalls(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	ctx := context.Background()
	o := testOpts("flush", layout64)
	o.TTL = 10 * time.Second
	f := inVirtualTime(t, c, &o)
	l := mustAcquire(t, c, o)
	for range 2 {
		require.NoError(t, c.ScriptFlush(ctx).Err())
		renew(t, f, l)
	}
	assert.Equal(t, uint64(2), l.Stats().Renewals, "renewals after SCRIPT FLUSH")
	assert.Equal(t, uint64(0), l.Stats().RenewFailures, "renewal failures")
	require.NoError(t, c.ScriptFlush(ctx).Err())
	require.NoError(t, l.Close(context.Background()))
	assert.Equal(t, int64(0), c.Exists(ctx, l.keys.Lease(l.WorkerID())).Val(), "key after release")
	require.NoError(t, c.ScriptFlush(ctx).Err())
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
	require.Eventually(t, func() bool { return a.Stats().Renewals >= 1 }, 2*time.Second, 5*time.Millisecond, "no renewal")

	srv.Restart()
	select {
	case <-a.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("data loss not noticed")
	}
	require.ErrorIs(t, a.Err(), ErrLeaseLost)
	assert.True(t, strings.Contains(a.Err().Error(), "lost its data"), "reason: %v", a.Err())
	assert.True(t, g.Stopped(), "target not stopped")
	assert.True(t, strings.Contains(logs.String(), "level=ERROR msg=\"lease lost; generators stopped\""), "log: %s", logs.String())

	before := redisTick(t, c, oneWorker)
	b := mustAcquire(t, c, o)
	q := before + oneWorker.Ticks(o.Window) + oneWorker.Ticks(o.MaxSkew)
	assert.True(t, b.StartAfter() >= q, "B starts after %d, below TIME+Window+MaxSkew = %d", b.StartAfter(), q)
	assert.True(t, b.StartAfter() > a.Fence(), "B starts after %d, not above A's fence %d", b.StartAfter(), a.Fence())
	assert.Equal(t, b.quarantine, b.StartAfter(), "start is the quarantine")
}

func TestListShowsHolders(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	ctx := context.Background()
	infos, err := List(ctx, c, "list")
	require.NoError(t, err)
	assert.Equal(t, 0, len(infos), "unused namespace")

	o := testOpts("list", layout64)
	o.Host = "node-a"
	a := mustAcquire(t, c, o)
	o.Host = "node-b"
	b := mustAcquire(t, c, o)
	infos, err = List(ctx, c, "list")
	require.NoError(t, err)
	require.True(t, len(infos) == 2, "listed %v", infos)
	byID := map[int64]Info{}
	for _, in := range infos {
		byID[in.WorkerID] = in
	}
	for _, x := range []struct {
		l    *Lease
		host string
	}{{a, "node-a"}, {b, "node-b"}} {
		in := byID[x.l.WorkerID()]
		assert.Equal(t, x.host, in.Host, "host")
		assert.True(t, in.PID > 0, "pid %d", in.PID)
		assert.True(t, time.Since(in.Started) < 5*time.Second, "started %v", in.Started)
		assert.True(t, in.TTL > 0 && in.TTL <= o.TTL, "ttl %v", in.TTL)
		assert.Equal(t, x.l.Fence(), in.HWM, "hwm")
	}
	assert.True(t, infos[0].WorkerID < infos[1].WorkerID, "not sorted")
	_, err = List(ctx, c, "bad{ns}")
	require.ErrorIs(t, err, ErrInvalidOptions)

	// The meta hash gone while the leases are still held: List scans.
	require.NoError(t, c.Del(ctx, KeysOf("list").Meta()).Err())
	infos, err = List(ctx, c, "list")
	require.NoError(t, err)
	require.True(t, len(infos) == 2, "listed %v with the meta hash deleted", infos)
	assert.Equal(t, min(a.WorkerID(), b.WorkerID()), infos[0].WorkerID, "first worker ID")
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
	k := KeysOf("large")
	pipe := c.Pipeline()
	for id := range int64(4096) {
		if id != 3000 {
			pipe.SetNX(ctx, k.Lease(id), "filler|h|1|2|3", time.Minute)
		}
	}
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
	l := mustAcquire(t, c, o)
	assert.Equal(t, int64(3000), l.WorkerID(), "the one free worker")
	_, err = Acquire(ctx, c, o)
	require.ErrorIs(t, err, ErrNoWorkerAvailable)
	assert.True(t, strings.Contains(err.Error(), "all 4096 worker IDs"), "message: %v", err)

	big := snowflake.Layout{Epoch: snowflake.Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 17, SequenceBits: 5}
	ob := testOpts("huge", big)
	ob.TTL = 10 * time.Second
	x := mustAcquire(t, c, ob)
	y := mustAcquire(t, c, ob)
	infos, err := List(ctx, c, "huge")
	require.NoError(t, err)
	require.True(t, len(infos) == 2, "listed %v", infos)
	got := map[int64]bool{infos[0].WorkerID: true, infos[1].WorkerID: true}
	assert.True(t, got[x.WorkerID()] && got[y.WorkerID()], "listed %v, held %d and %d", infos, x.WorkerID(), y.WorkerID())
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
	require.NoError(t, a.Close(context.Background()))
	// The scripts cap every fence at Redis' clock + Window, so a fast clock
	// alone cannot leave an HWM far ahead; plant one as a previous holder
	// with a longer Window (or a Redis whose clock was stepped back) would.
	far := twoWorkers.Tick(time.Now().Add(10 * time.Minute))
	require.NoError(t, c.HSet(context.Background(), KeysOf("skew").hwm, itoa(a.WorkerID()), far).Err())

	o := testOpts("skew", twoWorkers)
	b := mustAcquire(t, c, o)
	assert.True(t, b.WorkerID() != a.WorkerID(), "took worker %d, whose HWM is 10s ahead", b.WorkerID())
	_, err := Acquire(context.Background(), c, o)
	require.ErrorIs(t, err, ErrNoWorkerAvailable)
	require.ErrorIs(t, err, ErrStartTooFar)
	assert.True(t, strings.Contains(err.Error(), "MaxStartWait"), "message: %v", err)

	// A fresh namespace is quarantined; a clock far behind Redis is refused.
	behind := testOpts("behind", twoWorkers)
	behind.Clock = skewClock{Clock: clock.System(), offset: -5 * time.Second}
	_, err = Acquire(context.Background(), c, behind)
	require.ErrorIs(t, err, ErrStartTooFar)
	assert.True(t, strings.Contains(err.Error(), "quarantined"), "message: %v", err)
	assert.Equal(t, int64(0), c.Exists(context.Background(), "{behind}:epoch", "{behind}:meta", "{behind}:lease:0", "{behind}:lease:1").Val(), "keys left by a refused acquire")
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
	o.TTL = 10 * time.Second
	o.RenewInterval = 100 * time.Millisecond
	ro := o // the real clock, for the holders whose start is checked against Redis'
	f := inVirtualTime(t, c, &o)
	a := mustAcquire(t, c, o)
	b := mustAcquire(t, c, ro)
	assert.Less(t, b.StartAfter(), redisTick(t, c, layout64), "no loss, yet B quarantined")

	lose := func(key string) {
		t.Helper()
		require.NoError(t, c.Del(ctx, key).Err())
		before := redisTick(t, c, layout64)
		x := mustAcquire(t, c, ro)
		q := before + x.window + layout64.Ticks(o.MaxSkew)
		assert.GreaterOrEqual(t, x.StartAfter(), q, "after losing %s: start below TIME+Window+MaxSkew", key)
		assert.Equal(t, layout64.Fingerprint(), c.HGet(ctx, a.keys.meta, "layout").Val(), "layout recorded again")
	}
	lose(a.keys.hwm)
	renew(t, f, a)
	renew(t, f, a)
	assert.Equal(t, uint64(2), a.Stats().Renewals, "A's renewals after the loss of the hwm hash")
	assert.NoError(t, a.Err(), "A lost its lease")
	assert.GreaterOrEqual(t, hwmOf(t, c, "partial", a.WorkerID()), a.Fence(), "A's HWM not restored")

	require.NoError(t, c.Del(ctx, a.keys.meta).Err())
	renew(t, f, a)
	select {
	case <-a.Done():
	default:
		t.Fatal("A renews without the meta hash")
	}
	assert.Contains(t, a.Err().Error(), "meta hash", "reason")
	lose(a.keys.meta)
}
