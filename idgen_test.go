package idgen_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/clock"
	"github.com/snowlease/idgen/clockguard"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/snowflake"
)

// fast are options that keep tests short: a 2s TTL (so a 2s Window) and a
// 50ms MaxSkew make the start-up quarantine of a new namespace 2.05s, while
// the lease survives a loaded machine's scheduling delays.
func fast(ns string) idgen.Options {
	return idgen.Options{Namespace: ns, TTL: 2 * time.Second, MaxSkew: 50 * time.Millisecond}
}

// short are options for tests that wait for a lease to expire or a fence
// to be reached: a 600ms TTL and Window.
func short(ns string) idgen.Options {
	return idgen.Options{Namespace: ns, TTL: 600 * time.Millisecond, MaxSkew: 50 * time.Millisecond}
}

func newGen(t *testing.T, client redis.UniversalClient, opts idgen.Options) *idgen.Generator {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g, err := idgen.New(ctx, client, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close(context.Background()) })
	return g
}

func leases(t *testing.T, client redis.UniversalClient, ns string) []lease.Info {
	t.Helper()
	infos, err := lease.List(context.Background(), client, ns)
	require.NoError(t, err)
	return infos
}

// nextRetry waits for an ID with NextContext, which retries while the
// Generator recovers (ErrUnavailable), and fails the test after limit or at
// once on any other error.
func nextRetry(t *testing.T, g *idgen.Generator, limit time.Duration) snowflake.ID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	id, err := g.NextContext(ctx)
	require.NoError(t, err, "no ID within %v", limit)
	return id
}

// virtualTimers is the real clock with virtual timers. Now and Monotonic
// are real, so the clock guard measures Redis TIME and the lease and the
// generator keep real time; but every timer (the renewals, the clock
// checks, the wait before the first ID, the back-offs, NextContext's
// retries) is a clock.Fake's and fires only when the test advances it.
type virtualTimers struct{ *clock.Fake }

func newVirtualTimers() virtualTimers { return virtualTimers{clock.NewFake(time.Now())} }

func (virtualTimers) Now() time.Time           { return time.Now() }
func (virtualTimers) Monotonic() time.Duration { return clock.System().Monotonic() }

// fakeAtRedis is a clock.Fake set to Redis' clock, so that the clock guard's
// start-up check passes (the round trip measures zero on it: the offset is
// only the time since this call) while the test moves time.
func fakeAtRedis(t *testing.T, client redis.UniversalClient) *clock.Fake {
	t.Helper()
	now, err := client.Time(context.Background()).Result()
	require.NoError(t, err)
	return clock.NewFake(now)
}

func TestNewNextClose(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	g := newGen(t, client, fast("basic"))

	w := g.WorkerID()
	require.GreaterOrEqual(t, w, int64(0))
	require.LessOrEqual(t, w, snowflake.Twitter().MaxWorker())
	assert.Equal(t, snowflake.Twitter(), g.Layout())
	assert.Equal(t, "basic", g.Namespace())

	var last snowflake.ID
	for i := range 20000 {
		id, err := g.Next()
		require.NoError(t, err)
		require.Greater(t, id, last, "ID %d not above the previous", i)
		last = id
		p := snowflake.Twitter().Decompose(id)
		require.Equal(t, w, p.Worker)
	}
	assert.WithinDuration(t, time.Now(), snowflake.Twitter().Decompose(last).Time, time.Second)

	batch := make([]snowflake.ID, 5000)
	got := 0
	for got < len(batch) {
		k, err := g.NextN(batch[got:])
		require.NoError(t, err)
		got += k
	}
	for _, id := range batch {
		require.Greater(t, id, last)
		last = id
	}

	s := g.Stats()
	assert.Equal(t, uint64(25000), s.Issued)
	assert.Equal(t, w, s.WorkerID)
	assert.Equal(t, "basic", s.Namespace)
	assert.Greater(t, s.FenceHeadroom, time.Duration(0))
	assert.LessOrEqual(t, s.FenceHeadroom, 2*time.Second+10*time.Millisecond, "at most the Window ahead")
	assert.False(t, s.ClockCheckedAt.IsZero())
	assert.Less(t, s.ClockOffset.Abs(), 50*time.Millisecond)

	require.Len(t, leases(t, client, "basic"), 1)
	select {
	case <-g.Done():
		t.Fatal("Done closed while running")
	default:
	}
	require.NoError(t, g.Err())

	require.NoError(t, g.Close(context.Background()))
	require.NoError(t, g.Close(context.Background()), "Close is idempotent")
	<-g.Done()
	assert.ErrorIs(t, g.Err(), idgen.ErrClosed)
	_, err := g.Next()
	assert.ErrorIs(t, err, idgen.ErrClosed)
	_, err = g.NextN(batch)
	assert.ErrorIs(t, err, idgen.ErrClosed)
	assert.Empty(t, leases(t, client, "basic"), "Close released the lease")

	// The released worker ID is free again at once, and a new generator
	// starts above everything the first one issued.
	g2 := newGen(t, client, fast("basic"))
	id, err := g2.Next()
	require.NoError(t, err)
	assert.Greater(t, id, last)
}

// Several generators on one namespace, used from many goroutines, never
// issue the same ID.
func TestConcurrentGeneratorsUnique(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	const gens, goroutines, each = 4, 3, 20000
	gs := make([]*idgen.Generator, gens)
	var wg sync.WaitGroup
	for i := range gs {
		wg.Go(func() { gs[i] = newGenNoFatal(t, client, fast("concurrent")) })
	}
	wg.Wait()
	workers := map[int64]bool{}
	for _, g := range gs {
		require.NotNil(t, g)
		require.False(t, workers[g.WorkerID()], "worker %d held twice", g.WorkerID())
		workers[g.WorkerID()] = true
	}

	results := make([][]snowflake.ID, gens*goroutines)
	for i := range results {
		g := gs[i%gens]
		wg.Go(func() {
			ids := make([]snowflake.ID, 0, each)
			for len(ids) < each {
				id, err := g.Next()
				if errors.Is(err, idgen.ErrUnavailable) { // a lease lost on a loaded machine: being replaced
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					id, err = g.NextContext(ctx)
					cancel()
				}
				if !assert.NoError(t, err) {
					return
				}
				ids = append(ids, id)
			}
			results[i] = ids
		})
	}
	wg.Wait()
	all := make([]snowflake.ID, 0, gens*goroutines*each)
	for i, ids := range results {
		require.Len(t, ids, each)
		require.True(t, slices.IsSorted(ids), "goroutine %d saw IDs out of order", i)
		all = append(all, ids...)
	}
	slices.Sort(all)
	for i := 1; i < len(all); i++ {
		require.NotEqual(t, all[i-1], all[i], "duplicate ID")
	}
}

func newGenNoFatal(t *testing.T, client redis.UniversalClient, opts idgen.Options) *idgen.Generator {
	g, err := idgen.New(context.Background(), client, opts)
	if !assert.NoError(t, err) {
		return nil
	}
	t.Cleanup(func() { _ = g.Close(context.Background()) })
	return g
}

// steal overwrites the generator's lease key with another holder's value,
// as a node that took the worker ID after this one's key expired would.
func steal(t *testing.T, client *redis.Client, ns string, worker int64) {
	t.Helper()
	key := fmt.Sprintf("{%s}:lease:%d", ns, worker)
	require.Equal(t, int64(1), client.Exists(context.Background(), key).Val(), "lease key %s not found", key)
	require.NoError(t, client.Set(context.Background(), key, "intruder|otherhost|1|0|0", time.Minute).Err())
}

// Under Reacquire, a lost lease stops the old worker ID at once, a fresh
// one is taken, and IDs keep increasing across the switch.
func TestLeaseLostReacquire(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	opts := fast("reacquire")
	var lost sync.WaitGroup
	g := newGen(t, client, opts)
	old := g.WorkerID()

	// Issue IDs all along, from two goroutines, while the lease is stolen.
	// A goroutine that finds no ID waits for one with NextContext.
	stopCtx, stop := context.WithCancel(context.Background())
	var mu sync.Mutex
	var sawUnavailable error
	results := make([][]snowflake.ID, 2)
	lastIDs := make([]atomic.Int64, 2)
	for i := range results {
		lost.Go(func() {
			var last snowflake.ID
			for stopCtx.Err() == nil {
				id, err := g.Next()
				if err != nil {
					if !assert.ErrorIs(t, err, idgen.ErrUnavailable) {
						return
					}
					mu.Lock()
					if errors.Is(err, idgen.ErrLeaseLost) {
						sawUnavailable = err
					}
					mu.Unlock()
					if id, err = g.NextContext(stopCtx); stopCtx.Err() != nil {
						return
					}
					if !assert.NoError(t, err) {
						return
					}
				}
				if !assert.Greater(t, id, last) {
					return
				}
				last = id
				results[i] = append(results[i], id)
				lastIDs[i].Store(int64(id))
			}
		})
	}
	// workerOf is the worker ID of a goroutine's last ID (-1 before any).
	workerOf := func(i int) int64 {
		if id := lastIDs[i].Load(); id > 0 {
			return snowflake.Twitter().Decompose(snowflake.ID(id)).Worker
		}
		return -1
	}
	require.Eventually(t, func() bool { return workerOf(0) == old && workerOf(1) == old }, 5*time.Second, time.Millisecond,
		"IDs from both goroutines before the lease is stolen")
	steal(t, client, "reacquire", old)

	require.Eventually(t, func() bool { return g.WorkerID() != old }, 5*time.Second, 5*time.Millisecond,
		"no new worker ID after the lease was stolen")
	require.Eventually(t, func() bool { return workerOf(0) == g.WorkerID() && workerOf(1) == g.WorkerID() },
		5*time.Second, time.Millisecond, "IDs from the new worker ID in both goroutines")
	stop()
	lost.Wait()

	s := g.Stats()
	assert.Equal(t, uint64(1), s.LeasesLost)
	assert.False(t, s.Reacquiring)
	assert.NoError(t, g.Err())
	mu.Lock()
	if sawUnavailable != nil { // seen only if a Next landed in the gap
		assert.ErrorIs(t, sawUnavailable, lease.ErrLeaseLost)
	}
	mu.Unlock()

	// Each goroutine saw both worker IDs, in increasing ID order.
	byWorker := map[int64]int{}
	total := 0
	for _, ids := range results {
		for _, id := range ids {
			byWorker[snowflake.Twitter().Decompose(id).Worker]++
		}
		total += len(ids)
	}
	assert.Len(t, byWorker, 2, "IDs by worker: %v", byWorker)
	assert.Positive(t, byWorker[old])
	assert.Positive(t, byWorker[g.WorkerID()])
	assert.Equal(t, uint64(total), s.Issued, "Stats.Issued adds up over both worker IDs")

	// The new lease is the only one of this generator; the stolen key is
	// the intruder's.
	infos := leases(t, client, "reacquire")
	holders := map[int64]string{}
	for _, in := range infos {
		holders[in.WorkerID] = in.Host
	}
	assert.Equal(t, "otherhost", holders[old])
	assert.Contains(t, holders, g.WorkerID())

	require.NoError(t, g.Close(context.Background()))
	_, still := map[int64]bool{}, false
	for _, in := range leases(t, client, "reacquire") {
		still = still || in.WorkerID == g.WorkerID()
	}
	assert.False(t, still, "the reacquired lease was released by Close")
}

// Under Fail, a lost lease ends the generator: Done closes, and Next
// returns an error matching ErrLeaseLost.
func TestLeaseLostFail(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	opts := fast("fail")
	opts.OnLeaseLost = idgen.Fail
	g := newGen(t, client, opts)
	w := g.WorkerID()
	_, err := g.Next()
	require.NoError(t, err)

	steal(t, client, "fail", w)
	select {
	case <-g.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the lease was stolen")
	}
	assert.ErrorIs(t, g.Err(), idgen.ErrLeaseLost)
	_, err = g.Next()
	assert.ErrorIs(t, err, idgen.ErrLeaseLost)
	assert.NotErrorIs(t, err, idgen.ErrUnavailable)
	assert.Equal(t, w, g.WorkerID(), "Fail keeps the worker ID")
	assert.Equal(t, uint64(1), g.Stats().LeasesLost)
	time.Sleep(300 * time.Millisecond)
	_, err = g.Next()
	assert.ErrorIs(t, err, idgen.ErrLeaseLost, "no reacquire under Fail")

	require.NoError(t, g.Close(context.Background()))
	_, err = g.Next()
	assert.ErrorIs(t, err, idgen.ErrClosed)
}

// With Redis unreachable, the generator runs on until its fence, then
// refuses with ErrUnavailable (snowflake.ErrFenced), and recovers when
// Redis is back.
func TestRedisPauseStopsAtFence(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := redis.NewClient(&redis.Options{Addr: rs.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	opts := short("fence")
	opts.OpTimeout = 150 * time.Millisecond // a renewal to a stopped Redis fails after this
	g := newGen(t, client, opts)
	last, err := g.Next()
	require.NoError(t, err)

	rs.Pause()
	// The fence is the last renewal's time + Window: reached in real time.
	require.Eventually(t, func() bool { return g.Ready() != nil }, 5*time.Second, 5*time.Millisecond,
		"still issuing 5s after Redis stopped")
	_, err = g.Next()
	assert.ErrorIs(t, err, idgen.ErrUnavailable)
	assert.ErrorIs(t, err, snowflake.ErrFenced)
	s := g.Stats()
	assert.LessOrEqual(t, s.FenceHeadroom, time.Duration(0))
	assert.Positive(t, s.Fenced)
	assert.Positive(t, s.RenewFailures)

	// Redis expired the key meanwhile (the Window equals the TTL), so the
	// generator carries on under a fresh worker ID.
	rs.Resume()
	id := nextRetry(t, g, 5*time.Second)
	assert.Greater(t, id, last)
	assert.GreaterOrEqual(t, g.Stats().RenewFailures, s.RenewFailures, "counters add up over worker IDs")
}

// Ready says what Next would say, without issuing: nil while running, the
// fence error while Redis is stopped, nil again after recovery, ErrClosed
// after Close. NextContext waits out the outage instead of failing.
func TestReadyAndNextContext(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := redis.NewClient(&redis.Options{Addr: rs.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	opts := short("ready")
	opts.OpTimeout = 150 * time.Millisecond
	g := newGen(t, client, opts)
	require.NoError(t, g.Ready())
	last, err := g.Next()
	require.NoError(t, err)

	rs.Pause()
	require.Eventually(t, func() bool { return g.Ready() != nil }, 5*time.Second, 5*time.Millisecond,
		"still ready 5s after Redis stopped")
	err = g.Ready()
	assert.ErrorIs(t, err, idgen.ErrUnavailable)
	_, nerr := g.Next()
	assert.ErrorIs(t, nerr, idgen.ErrUnavailable, "Next agrees with Ready")

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err = g.NextContext(short)
	cancel()
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, idgen.ErrUnavailable, "the reason is kept")

	got := make(chan error, 1)
	waiting := make(chan struct{})
	var id snowflake.ID
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		close(waiting)
		id, err = g.NextContext(ctx)
		got <- err
	}()
	<-waiting // NextContext starts while Redis is still stopped
	rs.Resume()
	require.NoError(t, <-got, "NextContext across the outage")
	assert.Greater(t, id, last)
	require.Eventually(t, func() bool { return g.Ready() == nil }, 5*time.Second, 5*time.Millisecond)

	require.NoError(t, g.Close(context.Background()))
	assert.ErrorIs(t, g.Ready(), idgen.ErrClosed)
	_, err = g.NextContext(context.Background())
	assert.ErrorIs(t, err, idgen.ErrClosed)
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	for _, tc := range []struct {
		name  string
		opts  idgen.Options
		field string
		is    error
	}{
		{"negative TTL", idgen.Options{TTL: -time.Second}, "TTL", idgen.ErrInvalidOptions},
		{"negative MaxSkew", idgen.Options{MaxSkew: -1}, "MaxSkew", idgen.ErrInvalidOptions},
		{"MinReplicas below NoReplicaWait", idgen.Options{MinReplicas: -2}, "MinReplicas", idgen.ErrInvalidOptions},
		{"negative MaxBorrow", idgen.Options{MaxBorrow: -1}, "MaxBorrow", idgen.ErrInvalidOptions},
		{"bad policy", idgen.Options{OnLeaseLost: 7}, "OnLeaseLost", idgen.ErrInvalidOptions},
		{"MaxSkew not below Window", idgen.Options{TTL: 2 * time.Second, MaxSkew: 2 * time.Second}, "MaxSkew", idgen.ErrInvalidOptions},
		{"default MaxSkew not below a short TTL", idgen.Options{TTL: 800 * time.Millisecond}, "MaxSkew", idgen.ErrInvalidOptions},
		{"bad layout", idgen.Options{Layout: snowflake.Layout{TimeBits: 40, WorkerBits: 10, SequenceBits: 10}}, "Layout",
			idgen.ErrInvalidOptions},
		{"TTL below the lease minimum", idgen.Options{TTL: time.Millisecond}, "TTL", lease.ErrInvalidOptions},
		{"bad namespace", idgen.Options{Namespace: "a b"}, "Namespace", lease.ErrInvalidOptions},
		{"clock interval too short", idgen.Options{ClockCheckInterval: time.Microsecond}, "Interval",
			clockguard.ErrInvalidOptions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := idgen.New(context.Background(), client, tc.opts)
			require.Error(t, err)
			assert.Nil(t, g)
			assert.ErrorIs(t, err, tc.is)
			assert.Contains(t, err.Error(), tc.field)
		})
	}
	var oe *idgen.OptionError
	_, err := idgen.New(context.Background(), client, idgen.Options{TTL: -1})
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "TTL", oe.Field)

	// A bad layout matches both ErrInvalidOptions and the layout's own
	// sentinel.
	_, err = idgen.New(context.Background(), client, idgen.Options{Layout: snowflake.Layout{TimeBits: 40, WorkerBits: 10, SequenceBits: 10}})
	assert.ErrorIs(t, err, idgen.ErrInvalidOptions)
	assert.ErrorIs(t, err, snowflake.ErrBitWidths)

	_, err = idgen.New(context.Background(), nil, idgen.Options{})
	assert.ErrorIs(t, err, idgen.ErrInvalidOptions)

	keys, err := client.Keys(context.Background(), "*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys, "a refused New leaves nothing in Redis")
}

// skewedClock is the real clock with its wall time moved by offset.
type skewedClock struct {
	clock.Clock
	offset time.Duration
}

func skewed(offset time.Duration) skewedClock { return skewedClock{clock.System(), offset} }

func (c skewedClock) Now() time.Time { return c.Clock.Now().Add(c.offset) }

func TestNewRefusesSkewedClock(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	for _, off := range []time.Duration{-time.Hour, 2 * time.Second} {
		opts := fast("skew")
		opts.Clock = skewed(off)
		_, err := idgen.New(context.Background(), client, opts)
		require.ErrorIs(t, err, clockguard.ErrClockSkew, "offset %v", off)
	}
	assert.Empty(t, leases(t, client, "skew"), "no worker ID taken")

	// A small offset is accepted.
	opts := fast("skew")
	opts.Clock = skewed(10 * time.Millisecond)
	g := newGen(t, client, opts)
	nextRetry(t, g, time.Second)
}

func TestNewHonoursContext(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	// A fresh namespace waits out TTL + MaxSkew = 10.05s; give it 200ms.
	opts := idgen.Options{Namespace: "ctx", MaxSkew: 50 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := idgen.New(ctx, client, opts)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Empty(t, leases(t, client, "ctx"), "the lease taken was released")
}

func TestSonyflakeLayout(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	opts := fast("sony")
	opts.Layout = snowflake.Sonyflake()
	g := newGen(t, client, opts)
	id := nextRetry(t, g, time.Second)
	assert.Equal(t, g.WorkerID(), snowflake.Sonyflake().Decompose(id).Worker)

	// The namespace now refuses the Twitter layout.
	_, err := idgen.New(context.Background(), client, fast("sony"))
	assert.ErrorIs(t, err, lease.ErrLayoutMismatch)
}

// Redis restarted without persistence loses every key: the generator
// notices at its next renewal, stops, and takes a fresh worker ID after the
// start-up quarantine; IDs keep increasing.
func TestRedisDataLossReacquires(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = client.Close() })
	g := newGen(t, client, short("loss"))
	var last snowflake.ID
	for range 1000 {
		id, err := g.Next()
		require.NoError(t, err)
		last = id
	}
	rs.Restart()
	require.Eventually(t, func() bool { return g.Stats().LeasesLost == 1 }, 5*time.Second, 5*time.Millisecond)
	id := nextRetry(t, g, 10*time.Second)
	assert.Greater(t, id, last)
	assert.Len(t, leases(t, client, "loss"), 1)
}

// After Init the first New does not wait: its first ID comes in
// milliseconds on loopback (logged, not asserted: timings are for
// benchmarks). Without Init it waits out the quarantine.
func TestInitFirstIDAtOnce(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	ctx := context.Background()
	opts := idgen.Options{Namespace: "init"} // defaults: an 11 s quarantine without Init
	require.NoError(t, idgen.Init(ctx, client, opts))
	start := time.Now()
	g := newGen(t, client, opts)
	_, err := g.Next()
	require.NoError(t, err)
	first := time.Since(start)
	t.Logf("first ID %v after New started, on a namespace made by Init, default options", first)
	assert.Less(t, first, 5*time.Second, "New waited out a quarantine after Init")

	err = idgen.Init(ctx, client, opts)
	assert.ErrorIs(t, err, lease.ErrNamespaceInUse)
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Every wait before the first ID says why: to OnStartWait, and to the
// default slog logger when no Logger is set. The waits run in virtual time:
// New waits on its clock's timer until the test advances the clock. Not
// parallel: it swaps the default logger.
func TestStartWaitIsReported(t *testing.T) {
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	ctx := context.Background()
	var logs syncBuffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })

	var mu sync.Mutex
	var waits []idgen.StartWait
	// A fake clock measures a zero round trip to Redis, so the guard's
	// start-up offset is the real time since the clock was set: MaxSkew
	// leaves room for a loaded machine.
	opts := idgen.Options{Namespace: "waits", TTL: 2 * time.Second, MaxSkew: 500 * time.Millisecond}
	opts.OnStartWait = func(w idgen.StartWait) {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, w)
	}
	// start runs New on a fake clock set to Redis' clock, waits until New
	// waits, and advances the clock by the wait reported.
	start := func(o idgen.Options, reason idgen.WaitReason) (*idgen.Generator, idgen.StartWait) {
		t.Helper()
		clk := fakeAtRedis(t, client)
		o.Clock = clk
		type result struct {
			g   *idgen.Generator
			err error
		}
		done := make(chan result, 1)
		go func() {
			g, err := idgen.New(ctx, client, o)
			done <- result{g, err}
		}()
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		// The guard's ticker, the lease's renewal timer and the wait.
		require.NoError(t, clk.BlockUntil(bctx, 3), "New did not wait")
		mu.Lock()
		w := waits[len(waits)-1]
		mu.Unlock()
		require.Equal(t, reason, w.Reason)
		select {
		case r := <-done:
			require.FailNow(t, "New returned before its wait was over", "%v", r.err)
		default:
		}
		clk.Advance(w.Wait)
		r := <-done
		require.NoError(t, r.err)
		t.Cleanup(func() { _ = r.g.Close(context.Background()) })
		return r.g, w
	}

	g, w := start(opts, idgen.WaitQuarantine) // a new namespace
	assert.GreaterOrEqual(t, w.Wait, 2500*time.Millisecond, "Window + MaxSkew")
	assert.Contains(t, logs.String(), "start-up quarantine", "logged with no Logger set")
	require.NoError(t, g.Close(ctx))

	// A namespace made by Init (no quarantine) whose every worker ID's
	// high-water mark is 0.5 s ahead of Redis' clock: a start waits for the
	// clock to pass it.
	opts.Namespace = "waits-hwm"
	require.NoError(t, idgen.Init(ctx, client, opts))
	now, err := client.Time(ctx).Result()
	require.NoError(t, err)
	ahead := snowflake.Twitter().Tick(now.Add(500 * time.Millisecond)) // within MaxStartWait (3 s)
	pipe := client.Pipeline()
	for w := range 1024 {
		pipe.HSet(ctx, lease.KeysOf("waits-hwm").HWM(), strconv.Itoa(w), ahead)
	}
	_, err = pipe.Exec(ctx)
	require.NoError(t, err)
	g, w = start(opts, idgen.WaitHighWaterMark)
	assert.Equal(t, g.WorkerID(), w.WorkerID)
	assert.LessOrEqual(t, w.Wait, 501*time.Millisecond)
	assert.Contains(t, logs.String(), "high-water mark is ahead of the clock")
	mu.Lock()
	assert.Len(t, waits, 2)
	mu.Unlock()
}

// A lost lease whose worker ID cannot be replaced at once: the Generator
// retries with a back-off on its clock that doubles (50 ms, 100 ms, ...),
// here in virtual time, and carries on once a worker ID is free.
func TestReacquireBacksOff(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	ctx := context.Background()
	var logs syncBuffer
	clk := newVirtualTimers()
	two := snowflake.Layout{Epoch: snowflake.Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 1, SequenceBits: 21}
	opts := idgen.Options{Namespace: "backoff", Layout: two, TTL: 10 * time.Second, MaxSkew: 50 * time.Millisecond,
		Clock: clk, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	require.NoError(t, idgen.Init(ctx, client, opts))
	g := newGen(t, client, opts)
	old := g.WorkerID()
	other := fmt.Sprintf("{backoff}:lease:%d", 1-old)
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()

	// The other worker ID is someone else's; then this one is stolen, and
	// the next renewal finds it so.
	require.NoError(t, client.Set(ctx, other, "intruder|otherhost|1|0|0", time.Minute).Err())
	steal(t, client, "backoff", old)
	require.NoError(t, clk.BlockUntil(bctx, 2), "the guard's ticker and the renewal timer")
	clk.Advance(opts.TTL / 3) // the renewal interval

	// No worker ID is free: the first attempt fails and backs off 50 ms.
	require.NoError(t, clk.BlockUntil(bctx, 2), "the guard's ticker and the back-off")
	err := g.Ready()
	assert.ErrorIs(t, err, idgen.ErrUnavailable)
	assert.ErrorIs(t, err, idgen.ErrLeaseLost)
	assert.Contains(t, err.Error(), "last attempt")
	assert.Contains(t, logs.String(), "retry_in=50ms")
	assert.NotContains(t, logs.String(), "retry_in=100ms")

	clk.Advance(50 * time.Millisecond) // the second attempt fails too
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "retry_in=100ms") }, 10*time.Second, time.Millisecond,
		"a second attempt after 50ms")
	require.NoError(t, clk.BlockUntil(bctx, 2), "the guard's ticker and the back-off")

	// The other worker ID is free again: the third attempt takes it.
	require.NoError(t, client.Del(ctx, other).Err())
	clk.Advance(100 * time.Millisecond)
	require.Eventually(t, func() bool { return g.WorkerID() == 1-old }, 10*time.Second, time.Millisecond,
		"no new worker ID after the back-off")
	require.NoError(t, g.Ready())
	id, err := g.Next()
	require.NoError(t, err)
	assert.Equal(t, 1-old, two.Decompose(id).Worker)
	assert.Equal(t, 2, strings.Count(logs.String(), "reacquiring a worker ID failed"), "failed attempts")
	assert.Equal(t, uint64(1), g.Stats().LeasesLost)
}

// A Redis that may evict any key is refused with an error naming the
// setting and the fix, before anything is written; AllowEviction opts out.
func TestNewRefusesEvictingRedis(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{Args: []string{"--maxmemory-policy", "allkeys-lru"}})
	client := rs.Client(t)
	g, err := idgen.New(context.Background(), client, short("evict"))
	require.Error(t, err)
	assert.Nil(t, g)
	assert.ErrorIs(t, err, lease.ErrEvictionPolicy)
	assert.Contains(t, err.Error(), "maxmemory-policy is allkeys-lru")
	assert.Contains(t, err.Error(), "noeviction")
	keys, err := client.Keys(context.Background(), "*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys, "a refused New leaves nothing in Redis")

	opts := short("evict")
	opts.AllowEviction = true
	g = newGen(t, client, opts)
	_ = nextRetry(t, g, 5*time.Second)
}

// The hot path does not allocate.
func TestNextDoesNotAllocate(t *testing.T) {
	rs := redistest.Start(t, redistest.Config{})
	g := newGen(t, rs.Client(t), fast("allocs"))
	batch := make([]snowflake.ID, 64)
	allocs := testing.AllocsPerRun(10000, func() {
		if _, err := g.Next(); err != nil {
			t.Fatal(err)
		}
		if _, err := g.NextN(batch); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func benchGen(b *testing.B) *idgen.Generator {
	rs := redistest.Start(b, redistest.Config{})
	client := redis.NewClient(&redis.Options{Addr: rs.Addr})
	b.Cleanup(func() { _ = client.Close() })
	g, err := idgen.New(context.Background(), client, fast("bench"))
	require.NoError(b, err)
	b.Cleanup(func() { _ = g.Close(context.Background()) })
	return g
}

// BenchmarkNext is the front door's cost on top of snowflake's Next: one
// atomic pointer load. At saturation it runs at the layout's capacity.
func BenchmarkNext(b *testing.B) {
	g := benchGen(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Next(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNextParallel(b *testing.B) {
	g := benchGen(b)
	b.ReportAllocs()
	b.ResetTimer() // leave out the start-up quarantine
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := g.Next(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
