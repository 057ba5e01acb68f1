package clock

import (
	"context"
	"sync"
	"time"
)

// Fake is a Clock whose time moves only with Advance and StepWall. Its
// monotonic reading starts at zero. Safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	wall    time.Time
	mono    time.Duration
	seq     uint64        // order in which timers were armed
	armed   []*fakeTimer  // timers and tickers waiting to fire
	changed chan struct{} // closed, and replaced, when len(armed) changes
}

// NewFake returns a Fake whose wall clock reads start (without a monotonic
// reading of its own) and whose monotonic clock reads zero.
func NewFake(start time.Time) *Fake {
	return &Fake{wall: start.Round(0), changed: make(chan struct{})}
}

// Now is the fake wall-clock time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wall
}

// Monotonic is the fake time elapsed since NewFake, the sum of every
// Advance.
func (f *Fake) Monotonic() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mono
}

// NewTimer returns a Timer that fires once Advance has moved the clock d
// past now (at once for d <= 0).
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.arm(t, d)
	return t
}

// NewTicker returns a Ticker that ticks every d of Advance. It panics if
// d <= 0.
func (f *Fake) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	t := &fakeTimer{f: f, c: make(chan time.Time, 1), period: d}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.arm(t, d)
	return fakeTicker{t}
}

// Advance moves the wall and the monotonic clock forward by d, firing every
// timer that falls due on the way, in deadline order, with the clock set to
// each one's deadline as it fires. It panics if d < 0: monotonic time never
// goes back.
func (f *Fake) Advance(d time.Duration) {
	if d < 0 {
		panic("clock: Advance by a negative duration")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	end := f.mono + d
	for {
		t := f.next(end)
		if t == nil {
			break
		}
		f.moveTo(t.at)
		t.send(f.wall)
		if t.period > 0 {
			t.at += t.period
		} else {
			f.disarm(t)
		}
	}
	f.moveTo(end)
}

// StepWall moves the wall clock alone by d (forwards or backwards), as a
// step by NTP or an operator does. Monotonic and the timers do not see it.
func (f *Fake) StepWall(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wall = f.wall.Add(d)
}

// Timers is how many timers and tickers are armed: created or reset, and
// neither fired (a Timer) nor stopped.
func (f *Fake) Timers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.armed)
}

// BlockUntil returns once at least n timers and tickers are armed, or with
// ctx's error when ctx ends first. A test calls it to wait until the code it
// drives is waiting on its timer, then calls Advance.
func (f *Fake) BlockUntil(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		if len(f.armed) >= n {
			f.mu.Unlock()
			return nil
		}
		changed := f.changed
		f.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// moveTo sets the monotonic clock to m, moving the wall clock with it.
// Called with mu held.
func (f *Fake) moveTo(m time.Duration) {
	f.wall = f.wall.Add(m - f.mono)
	f.mono = m
}

// next is the armed timer due first at or before end, nil if none. Called
// with mu held.
func (f *Fake) next(end time.Duration) *fakeTimer {
	var first *fakeTimer
	for _, t := range f.armed {
		if t.at <= end && (first == nil || t.at < first.at || t.at == first.at && t.seq < first.seq) {
			first = t
		}
	}
	return first
}

// arm (re)arms t to fire d from now, at once if d <= 0. Called with mu
// held.
func (f *Fake) arm(t *fakeTimer, d time.Duration) {
	f.seq++
	t.seq = f.seq
	t.at = f.mono + d
	if d <= 0 && t.period == 0 {
		f.disarm(t)
		t.send(f.wall)
		return
	}
	if !t.armed {
		t.armed = true
		f.armed = append(f.armed, t)
		f.notify()
	}
}

// disarm takes t off the armed list; it reports whether t was on it.
// Called with mu held.
func (f *Fake) disarm(t *fakeTimer) bool {
	if !t.armed {
		return false
	}
	t.armed = false
	for i, x := range f.armed {
		if x == t {
			f.armed = append(f.armed[:i], f.armed[i+1:]...)
			break
		}
	}
	f.notify()
	return true
}

func (f *Fake) notify() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// fakeTimer is a Fake's Timer, and with a period the core of its Ticker.
type fakeTimer struct {
	f      *Fake
	c      chan time.Time
	period time.Duration // 0 for a Timer
	// Guarded by f.mu:
	at    time.Duration // monotonic deadline
	seq   uint64
	armed bool
}

// send delivers now unless the channel is full (a ticker drops the tick).
func (t *fakeTimer) send(now time.Time) {
	select {
	case t.c <- now:
	default:
	}
}

// drain discards a value not yet received.
func (t *fakeTimer) drain() {
	select {
	case <-t.c:
	default:
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.drain()
	return t.f.disarm(t)
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.drain()
	was := t.armed
	t.f.arm(t, d)
	return was
}

type fakeTicker struct{ t *fakeTimer }

func (k fakeTicker) C() <-chan time.Time { return k.t.c }
func (k fakeTicker) Stop()               { k.t.Stop() }

func (k fakeTicker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clock: non-positive interval for Ticker.Reset")
	}
	k.t.f.mu.Lock()
	defer k.t.f.mu.Unlock()
	k.t.drain()
	k.t.period = d
	k.t.f.arm(k.t, d)
}
