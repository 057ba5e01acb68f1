package clockguard_test

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snowlease/idgen/clock"
	"github.com/snowlease/idgen/clockguard"
)

// fakeClock is the real clock with an injected wall-clock offset. Monotonic
// is real elapsed time, so round trips to Redis are measured for real, while
// the wall clock can be set off or stepped without touching the monotonic
// one. Redis runs on the same host, so the true offset from Redis TIME is
// exactly the injected one.
type fakeClock struct {
	clock.Clock
	start time.Time
	off   atomic.Int64
}

func newFakeClock(off time.Duration) *fakeClock {
	c := &fakeClock{Clock: clock.System(), start: time.Now()}
	c.off.Store(int64(off))
	return c
}

func (c *fakeClock) Now() time.Time           { return time.Now().Add(c.Offset()) }
func (c *fakeClock) Monotonic() time.Duration { return time.Since(c.start) }
func (c *fakeClock) Offset() time.Duration    { return time.Duration(c.off.Load()) }
func (c *fakeClock) Set(off time.Duration)    { c.off.Store(int64(off)) }
func (c *fakeClock) Step(d time.Duration)     { c.off.Add(int64(d)) }

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

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// within fails unless |got - want| <= tol.
func within(t *testing.T, what string, got, want, tol time.Duration) {
	t.Helper()
	if d := got - want; d < -tol || d > tol {
		t.Fatalf("%s = %v, want %v ± %v", what, got, want, tol)
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
