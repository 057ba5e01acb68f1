package clockguard_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/clock"
	"github.com/snowlease/idgen/clockguard"
)

// testClock is the real clock with an injected wall-clock offset, and with
// virtual timers. Now and Monotonic are real time, so round trips to Redis
// are measured for real, while the wall clock can be set off or stepped
// without touching the monotonic one; Redis runs on the same host, so the
// true offset from Redis TIME is exactly the injected one. The timers are a
// clock.Fake's: a Guard on this clock checks in the background only when the
// test fires its ticker (tick).
type testClock struct {
	*clock.Fake // timers
	start       time.Time
	off         atomic.Int64
}

func newTestClock(off time.Duration) *testClock {
	c := &testClock{Fake: clock.NewFake(time.Now()), start: time.Now()}
	c.off.Store(int64(off))
	return c
}

func (c *testClock) Now() time.Time           { return time.Now().Add(c.Offset()) }
func (c *testClock) Monotonic() time.Duration { return time.Since(c.start) }
func (c *testClock) Offset() time.Duration    { return time.Duration(c.off.Load()) }
func (c *testClock) Set(off time.Duration)    { c.off.Store(int64(off)) }
func (c *testClock) Step(d time.Duration)     { c.off.Add(int64(d)) }

// tickInterval is the Interval of the Guards on a testClock: virtual, so
// any value serves.
const tickInterval = time.Minute

// tick fires g's ticker once and waits until the background check it
// starts is recorded in g's Stats (its policy and events may follow a
// moment later).
func (c *testClock) tick(t *testing.T, g *clockguard.Guard) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.BlockUntil(ctx, 1), "the guard's ticker")
	before := checks(g.Stats())
	c.Advance(tickInterval)
	require.Eventually(t, func() bool { return checks(g.Stats()) > before }, 10*time.Second, time.Millisecond,
		"no background check after a tick")
}

func checks(s clockguard.Stats) uint64 { return s.ChecksOK + s.ChecksFailed }

// fakeTarget stands in for a generator: Next fails while it is paused.
type fakeTarget struct {
	paused  atomic.Bool
	pauses  atomic.Int64
	resumes atomic.Int64
	issued  atomic.Int64
}

var errPaused = errors.New("fake target paused")

func (f *fakeTarget) Pause()  { f.pauses.Add(1); f.paused.Store(true) }
func (f *fakeTarget) Resume() { f.resumes.Add(1); f.paused.Store(false) }

func (f *fakeTarget) Next() (int64, error) {
	if f.paused.Load() {
		return 0, errPaused
	}
	return f.issued.Add(1), nil
}

// events records a Guard's events.
type events struct {
	mu  sync.Mutex
	all []clockguard.Event
}

func (e *events) add(ev clockguard.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

// list returns a copy of every event so far.
func (e *events) list() []clockguard.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]clockguard.Event(nil), e.all...)
}

func (e *events) of(kind clockguard.EventKind) []clockguard.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []clockguard.Event
	for _, ev := range e.all {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// timeSent returns a channel that receives whenever c sends a TIME command
// from now on, so a test knows a check is waiting on Redis.
func timeSent(c *redis.Client) <-chan struct{} {
	h := &timeHook{sent: make(chan struct{}, 64)}
	c.AddHook(h)
	return h.sent
}

type timeHook struct{ sent chan struct{} }

func (h *timeHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *timeHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "time" {
			select {
			case h.sent <- struct{}{}:
			default:
			}
		}
		return next(ctx, cmd)
	}
}

func (h *timeHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// wait fails t unless c receives within 5s.
func wait(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(5 * time.Second):
		require.FailNow(t, "not within 5s: "+what)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}
