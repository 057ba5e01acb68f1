package idgen_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen"
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

// nextRetry calls Next until it returns an ID, or fails the test after
// limit. Errors other than ErrUnavailable fail at once.
func nextRetry(t *testing.T, g *idgen.Generator, limit time.Duration) snowflake.ID {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		id, err := g.Next()
		if err == nil {
			return id
		}
		require.ErrorIs(t, err, idgen.ErrUnavailable)
		require.True(t, time.Now().Before(deadline), "no ID for %v: %v", limit, err)
		time.Sleep(5 * time.Millisecond)
	}
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
				if errors.Is(err, idgen.ErrUnavailable) {
					time.Sleep(time.Millisecond) // a lease lost on a loaded machine: being replaced
					continue
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
	stop := make(chan struct{})
	var mu sync.Mutex
	var sawUnavailable error
	results := make([][]snowflake.ID, 2)
	for i := range results {
		lost.Go(func() {
			var last snowflake.ID
			for {
				select {
				case <-stop:
					return
				default:
				}
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
					time.Sleep(time.Millisecond)
					continue
				}
				if !assert.Greater(t, id, last) {
					return
				}
				last = id
				results[i] = append(results[i], id)
			}
		})
	}
	time.Sleep(100 * time.Millisecond)
	steal(t, client, "reacquire", old)

	require.Eventually(t, func() bool { return g.WorkerID() != old }, 5*time.Second, 5*time.Millisecond,
		"no new worker ID after the lease was stolen")
	time.Sleep(100 * time.Millisecond) // IDs from the new worker ID
	close(stop)
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
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err = g.Next()
		if err != nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "still issuing 5s after Redis stopped")
		time.Sleep(5 * time.Millisecond)
	}
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
	var id snowflake.ID
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		id, err = g.NextContext(ctx)
		got <- err
	}()
	time.Sleep(100 * time.Millisecond)
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
type skewedClock struct{ offset time.Duration }

func (c skewedClock) Now() time.Time { return time.Now().Add(c.offset) }
func (c skewedClock) Monotonic() time.Duration {
	return snowflake.SystemClock().Monotonic()
}

func TestNewRefusesSkewedClock(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	for _, off := range []time.Duration{-time.Hour, 2 * time.Second} {
		opts := fast("skew")
		opts.Clock = skewedClock{off}
		_, err := idgen.New(context.Background(), client, opts)
		require.ErrorIs(t, err, clockguard.ErrClockSkew, "offset %v", off)
	}
	assert.Empty(t, leases(t, client, "skew"), "no worker ID taken")

	// A small offset is accepted.
	opts := fast("skew")
	opts.Clock = skewedClock{10 * time.Millisecond}
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
// default slog logger when no Logger is set. Not parallel: it swaps the
// default logger.
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
	opts := short("waits")
	opts.OnStartWait = func(w idgen.StartWait) {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, w)
	}
	g := newGen(t, client, opts)
	mu.Lock()
	require.Len(t, waits, 1, "a new namespace waits out the quarantine")
	assert.Equal(t, idgen.WaitQuarantine, waits[0].Reason)
	assert.Greater(t, waits[0].Wait, 500*time.Millisecond, "Window + MaxSkew")
	mu.Unlock()
	assert.Contains(t, logs.String(), "start-up quarantine", "logged with no Logger set")
	require.NoError(t, g.Close(ctx))

	// Every worker ID's high-water mark 0.5 s ahead: the next start waits
	// for the clock to pass it.
	ahead := snowflake.Twitter().Tick(time.Now().Add(500 * time.Millisecond)) // within MaxStartWait (700ms)
	pipe := client.Pipeline()
	for w := range 1024 {
		pipe.HSet(ctx, lease.KeysOf("waits").HWM, strconv.Itoa(w), ahead)
	}
	_, err := pipe.Exec(ctx)
	require.NoError(t, err)
	g = newGen(t, client, opts)
	mu.Lock()
	require.Len(t, waits, 2)
	assert.Equal(t, idgen.WaitHighWaterMark, waits[1].Reason)
	assert.Equal(t, g.WorkerID(), waits[1].WorkerID)
	mu.Unlock()
	assert.Contains(t, logs.String(), "high-water mark is ahead of the clock")
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
