package lease

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/clock"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/snowflake"
)

// Layouts with small worker ranges, so tests can fill them.
var (
	oneWorker  = snowflake.Layout{Epoch: snowflake.Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 0, SequenceBits: 22}
	twoWorkers = snowflake.Layout{Epoch: snowflake.Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 1, SequenceBits: 21}
	layout64   = snowflake.Layout{Epoch: snowflake.Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 6, SequenceBits: 16}
)

// testOpts are short-lived options: a 500ms TTL and a 20ms skew bound, so a
// namespace's first-use quarantine is about half a second.
func testOpts(ns string, lay snowflake.Layout) Options {
	return Options{
		Namespace: ns,
		Layout:    lay,
		TTL:       500 * time.Millisecond,
		MaxSkew:   20 * time.Millisecond,
		Host:      "test-host",
	}
}

// inVirtualTime makes o's leases run in virtual time: it initializes o's
// namespace (so its first acquire waits out no quarantine) and sets o.Clock
// to a fake clock an hour behind Redis TIME. The leases then renew only when
// the test advances the clock (renew), and no fence they are granted is
// capped at Redis' clock + Window: every fence is tick(fake now) + Window.
// Lease keys still expire in Redis' real time.
func inVirtualTime(t *testing.T, c redis.UniversalClient, o *Options) *clock.Fake {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, Init(ctx, c, *o))
	now, err := c.Time(ctx).Result()
	require.NoError(t, err)
	f := clock.NewFake(now.Add(-time.Hour))
	o.Clock = f
	return f
}

// renew fires the renewal timers of the leases, which all run on f and must
// all be live, by advancing f one RenewInterval, and waits until each lease
// is done with the renewal it started: counted as a success or a failure, or
// the lease lost. It first waits until every lease has armed its timer,
// which a lease does only once its previous renewal is over.
func renew(t *testing.T, f *clock.Fake, leases ...*Lease) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.BlockUntil(ctx, len(leases)); err != nil {
		for i, l := range leases {
			t.Logf("lease %d: %+v, err %v", i, l.Stats(), l.Err())
		}
		require.NoError(t, err, "the leases' renewal timers: %d armed", f.Timers())
	}
	before := make([]uint64, len(leases))
	for i, l := range leases {
		before[i] = attempts(l.Stats())
	}
	f.Advance(leases[0].opts.RenewInterval) // each wait is RenewInterval jittered down
	for i, l := range leases {
		require.Eventually(t, func() bool { s := l.Stats(); return attempts(s) > before[i] || s.Lost },
			10*time.Second, time.Millisecond, "lease %d: no renewal", i)
	}
}

// attempts counts the renewals tried, successful or not.
func attempts(s Stats) uint64 { return s.Renewals + s.RenewFailures }

// fakeGen is a small fenced generator: IDs from the lease's clock, never at
// or below startAfter, never above the fence, nothing after Stop.
type fakeGen struct {
	mu         sync.Mutex
	now        func() time.Time
	lay        snowflake.Layout
	worker     int64
	startAfter int64
	fence      int64
	last       int64
	seq        int64
	issued     bool
	stopped    bool
	fences     int // SetFence calls
}

var (
	errStopped = errors.New("fake: stopped")
	errFenced  = errors.New("fake: fenced")
	errNotYet  = errors.New("fake: clock not past StartAfter")
	errFull    = errors.New("fake: sequence exhausted")
)

func newFakeGen(l *Lease) *fakeGen {
	return &fakeGen{now: l.opts.Clock.Now, lay: l.opts.Layout, worker: l.WorkerID(),
		startAfter: l.StartAfter(), last: l.StartAfter()}
}

func (g *fakeGen) SetFence(t int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fences++
	g.fence = max(g.fence, t)
}

func (g *fakeGen) Stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopped = true
}

func (g *fakeGen) LastTick() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last
}

func (g *fakeGen) Fence() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fence
}

func (g *fakeGen) Stopped() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stopped
}

func (g *fakeGen) Next() (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return 0, errStopped
	}
	t := max(g.lay.Tick(g.now()), g.last)
	if t <= g.startAfter {
		return 0, errNotYet
	}
	if t > g.fence {
		return 0, errFenced
	}
	if t == g.last && g.issued {
		if g.seq == g.lay.MaxSequence() {
			return 0, errFull
		}
		g.seq++
	} else {
		g.seq = 0
	}
	g.last, g.issued = t, true
	return t<<(g.lay.WorkerBits+g.lay.SequenceBits) | g.worker<<g.lay.SequenceBits | g.seq, nil
}

func (g *fakeGen) tickOf(id int64) int64 { return id >> (g.lay.WorkerBits + g.lay.SequenceBits) }

// generate issues IDs in virtual time: three a tick, advancing f one tick
// after each three, until f reaches until, the generator is stopped, or (if
// untilFenced) it hits its fence after having issued something. Leases on f
// renew on the way as their timers fall due.
func (g *fakeGen) generate(f *clock.Fake, until time.Time, untilFenced bool) []int64 {
	var ids []int64
	for f.Now().Before(until) {
		for range 3 {
			id, err := g.Next()
			switch {
			case err == nil:
				ids = append(ids, id)
			case errors.Is(err, errStopped):
				return ids
			case errors.Is(err, errFenced) && untilFenced && len(ids) > 0:
				return ids
			}
		}
		f.Advance(g.lay.TimeUnit)
	}
	return ids
}

// faultHook makes a client fail or delay its script calls on demand.
type faultHook struct {
	block atomic.Bool
	calls atomic.Int64
}

var errInjected = errors.New("injected fault")

func isScriptCmd(cmd redis.Cmder) bool {
	return cmd.Name() == "evalsha" || cmd.Name() == "eval"
}

func (h *faultHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *faultHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isScriptCmd(cmd) {
			h.calls.Add(1)
			if h.block.Load() {
				cmd.SetErr(errInjected)
				return errInjected
			}
		}
		return next(ctx, cmd)
	}
}

func (h *faultHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.block.Load() {
			for _, c := range cmds {
				c.SetErr(errInjected)
			}
			return errInjected
		}
		return next(ctx, cmds)
	}
}

// hookedClient is a fresh client on srv with a fault hook.
func hookedClient(t *testing.T, srv *redistest.Server) (*redis.Client, *faultHook) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = c.Close() })
	h := &faultHook{}
	c.AddHook(h)
	return c, h
}

func mustAcquire(t *testing.T, c redis.UniversalClient, o Options) *Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := Acquire(ctx, c, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

// acquireReplicated retries Acquire while too few replicas acknowledge in
// time, which a loaded test machine causes now and then.
func acquireReplicated(t *testing.T, c redis.UniversalClient, o Options) *Lease {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := Acquire(context.Background(), c, o)
		if err == nil {
			t.Cleanup(func() { _ = l.Close(context.Background()) })
			return l
		}
		if !errors.Is(err, ErrReplication) && !errors.Is(err, ErrUnavailable) || time.Now().After(deadline) {
			require.NoError(t, err, "acquire")
		}
		t.Logf("retrying: %v", err)
	}
}

// acquireWhenFree retries Acquire until it succeeds (the worker ID's key
// expired in Redis) or d passes.
func acquireWhenFree(t *testing.T, c redis.UniversalClient, o Options, d time.Duration) *Lease {
	t.Helper()
	var l *Lease
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var err error
		l, err = Acquire(context.Background(), c, o)
		if err != nil && !errors.Is(err, ErrUnavailable) { // a slow reply on a loaded machine
			assert.ErrorIs(ct, err, ErrNoWorkerAvailable)
		}
		assert.NoError(ct, err)
	}, d, 10*time.Millisecond, "no worker ID became free within %v", d)
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

// keysOf lists the keys in the server, sorted, with their types.
func keysOf(t *testing.T, c *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*").Result()
	require.NoError(t, err)
	sort.Strings(keys)
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = c.Type(ctx, k).Val()
	}
	return m
}

func hwmOf(t *testing.T, c redis.UniversalClient, ns string, id int64) int64 {
	t.Helper()
	v, err := c.HGet(context.Background(), KeysOf(ns).hwm, itoa(id)).Int64()
	require.NoError(t, err)
	return v
}

func redisTick(t *testing.T, c redis.UniversalClient, lay snowflake.Layout) int64 {
	t.Helper()
	now, err := c.Time(context.Background()).Result()
	require.NoError(t, err)
	return lay.Tick(now)
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// skewClock is the real clock with its wall time shifted by a fixed offset.
type skewClock struct {
	clock.Clock
	offset time.Duration
}

func (c skewClock) Now() time.Time { return c.Clock.Now().Add(c.offset) }

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
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
