package lease

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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

// fakeGen is a small fenced generator: IDs from the real clock, never at
// or below startAfter, never above the fence, nothing after Stop.
type fakeGen struct {
	mu         sync.Mutex
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
	return &fakeGen{lay: l.opts.Layout, worker: l.WorkerID(), startAfter: l.StartAfter(), last: l.StartAfter()}
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
	t := max(g.lay.Tick(time.Now()), g.last)
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

// generate issues IDs until stop is closed, the generator is stopped, or
// (if untilFenced) it hits its fence after having issued something. It
// pauses a little after each ID, so as not to starve parallel tests.
func (g *fakeGen) generate(stop <-chan struct{}, untilFenced bool) []int64 {
	var ids []int64
	deadline := time.Now().Add(10 * time.Second) // never hang a test
	for time.Now().Before(deadline) {
		select {
		case <-stop:
			return ids
		default:
		}
		id, err := g.Next()
		switch {
		case err == nil:
			ids = append(ids, id)
			time.Sleep(20 * time.Microsecond)
		case errors.Is(err, errStopped):
			return ids
		case errors.Is(err, errFenced) && untilFenced && len(ids) > 0:
			return ids
		default:
			time.Sleep(100 * time.Microsecond)
		}
	}
	return ids
}

// waitPast sleeps until the local clock is past tick.
func waitPast(lay snowflake.Layout, tick int64) {
	time.Sleep(time.Until(lay.Time(tick + 1)))
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
	noErr(t, err)
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
			t.Fatalf("acquire: %v", err)
		}
		t.Logf("retrying: %v", err)
	}
}

// acquireWhenFree retries Acquire until it succeeds or d passes.
func acquireWhenFree(t *testing.T, c redis.UniversalClient, o Options, d time.Duration) *Lease {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		l, err := Acquire(context.Background(), c, o)
		if err == nil {
			t.Cleanup(func() { _ = l.Close(context.Background()) })
			return l
		}
		if !errors.Is(err, ErrUnavailable) { // a slow reply on a loaded machine
			errIs(t, err, ErrNoWorkerAvailable)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no worker ID became free within %v: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// keysOf lists the keys in the server, sorted, with their types.
func keysOf(t *testing.T, c *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*").Result()
	noErr(t, err)
	sort.Strings(keys)
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = c.Type(ctx, k).Val()
	}
	return m
}

func hwmOf(t *testing.T, c redis.UniversalClient, ns string, id int64) int64 {
	t.Helper()
	v, err := c.HGet(context.Background(), newKeySet(ns).hwm, itoa(id)).Int64()
	noErr(t, err)
	return v
}

func redisTick(t *testing.T, c redis.UniversalClient, lay snowflake.Layout) int64 {
	t.Helper()
	now, err := c.Time(context.Background()).Result()
	noErr(t, err)
	return lay.Tick(now)
}

// eventually polls cond every 5ms for up to d.
func eventually(t *testing.T, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(msg, args...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	noErr(t, err)
	addr := l.Addr().String()
	noErr(t, l.Close())
	return addr
}

// skewClock is the real clock shifted by a fixed offset.
type skewClock struct{ offset time.Duration }

func (c skewClock) Now() time.Time           { return time.Now().Add(c.offset) }
func (c skewClock) Monotonic() time.Duration { return snowflake.SystemClock().Monotonic() }

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// Small assertions; the lease tests do not use testify (its yaml dependency
// is not in go.sum).

func noErr(t testing.TB, err error, context ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v %v", err, context)
	}
}

func errIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v is not %v", err, target)
	}
}

func equal[T comparable](t testing.TB, got, want T, what string) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func check(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
}

func must(t testing.TB, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
}

func equalSlice(t testing.TB, got, want []any, what string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

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
