package snowflake

import (
	"errors"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// start is the fake clocks' starting wall time, 0.3 ms into a tick so that
// tick alignment is tested too.
var start = time.Date(2025, 6, 1, 12, 0, 0, 300_000, time.UTC)

// tinyLayout has 16 IDs per tick, so tests reach tick boundaries, borrowing
// and fences after a few IDs.
var tinyLayout = Layout{Epoch: Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 18, SequenceBits: 4}

func mustNew(t testing.TB, l Layout, worker int64, opts Options) *Generator {
	t.Helper()
	g, err := New(l, worker, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

func mustNext(t testing.TB, g *Generator) ID {
	t.Helper()
	id, err := g.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return id
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(start)
	max := Twitter().MaxTick()
	cases := []struct {
		name   string
		layout Layout
		worker int64
		opts   Options
		want   error
		field  string
	}{
		{"worker below 0", Twitter(), -1, Options{}, ErrWorkerRange, "worker ID"},
		{"worker above MaxWorker", Twitter(), 1024, Options{}, ErrWorkerRange, "worker ID"},
		{"StartAfter negative", Twitter(), 0, Options{StartAfter: -1}, ErrOptionRange, "Options.StartAfter"},
		{"StartAfter leaves no tick", Twitter(), 0, Options{StartAfter: max}, ErrTimeExhausted, "Options.StartAfter"},
		{"Fence negative", Twitter(), 0, Options{Fence: -5}, ErrOptionRange, "Options.Fence"},
		{"Fence above MaxTick", Twitter(), 0, Options{Fence: max + 1}, ErrOptionRange, "Options.Fence"},
		{"MaxBorrow negative", Twitter(), 0, Options{MaxBorrow: -1}, ErrOptionRange, "Options.MaxBorrow"},
		{"MaxBorrow above MaxTick", Twitter(), 0, Options{MaxBorrow: max + 1}, ErrOptionRange, "Options.MaxBorrow"},
		{"invalid layout", Layout{Epoch: Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 10, SequenceBits: 11}, 0, Options{}, ErrBitWidths, ""},
		{"epoch after the clock", Layout{Epoch: start.Add(time.Hour), TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 10, SequenceBits: 12}, 0, Options{}, ErrEpoch, ""},
		{"clock past the layout's end", Layout{Epoch: start.Add(-time.Hour), TimeUnit: time.Millisecond, TimeBits: 21, WorkerBits: 20, SequenceBits: 22}, 0, Options{}, ErrTimeExhausted, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Clock = clock
			g, err := New(tc.layout, tc.worker, tc.opts)
			if g != nil || !errors.Is(err, tc.want) {
				t.Fatalf("New = %v, %v; want nil, %v", g, err, tc.want)
			}
			if tc.field == "" {
				return
			}
			var re *RangeError
			if !errors.As(err, &re) || re.Field != tc.field {
				t.Fatalf("error %v does not name field %q", err, tc.field)
			}
			if re.Value >= re.Min && re.Value <= re.Max {
				t.Errorf("RangeError %v: value inside its own range", re)
			}
			t.Log(err)
		})
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	g := mustNew(t, Twitter(), 7, Options{})
	if g.WorkerID() != 7 || g.Layout() != Twitter() {
		t.Errorf("WorkerID, Layout = %d, %v", g.WorkerID(), g.Layout())
	}
	if g.Fence() != Twitter().MaxTick() {
		t.Errorf("Fence = %d, want MaxTick %d when none is set", g.Fence(), Twitter().MaxTick())
	}
	if g.LastTick() != 0 || g.Paused() {
		t.Errorf("LastTick = %d, Paused = %v; want 0, false", g.LastTick(), g.Paused())
	}
	before := time.Now()
	id := mustNext(t, g)
	after := time.Now()
	p := Twitter().Decompose(id)
	// The real clock: the ID's tick holds the time it was issued.
	if p.Time.After(after) || p.Time.Before(before.Add(-time.Millisecond)) {
		t.Errorf("ID time %v not within [%v - 1ms, %v]", p.Time, before, after)
	}
	if p.Worker != 7 || p.Sequence != 0 || g.LastTick() != p.Tick {
		t.Errorf("parts %+v, LastTick %d", p, g.LastTick())
	}
	if now := g.CurrentTick(); now < p.Tick || now > Twitter().Tick(time.Now()) {
		t.Errorf("Now = %d, want between %d and the wall clock's tick", now, p.Tick)
	}
}

// TestTickAnchoring: ticks follow the wall clock's tick boundaries as of New,
// not New's instant.
func TestTickAnchoring(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(start) // 0.3 ms into its tick
	g := mustNew(t, Twitter(), 1, Options{Clock: clock})
	t0 := Twitter().Tick(start)
	if g.CurrentTick() != t0 {
		t.Fatalf("Now = %d, want %d", g.CurrentTick(), t0)
	}
	clock.Advance(699 * time.Microsecond)
	if g.CurrentTick() != t0 {
		t.Errorf("0.999 ms into the tick: Now = %d, want %d", g.CurrentTick(), t0)
	}
	clock.Advance(time.Microsecond)
	if g.CurrentTick() != t0+1 {
		t.Errorf("at the next boundary: Now = %d, want %d", g.CurrentTick(), t0+1)
	}
}

func TestNextSequenceAndJumps(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(start)
	g := mustNew(t, tinyLayout, 5, Options{Clock: clock})
	t0 := tinyLayout.Tick(start)
	var last ID
	for i := range 16 {
		id := mustNext(t, g)
		p := tinyLayout.Decompose(id)
		if p.Tick != t0 || p.Sequence != int64(i) || p.Worker != 5 || id <= last {
			t.Fatalf("ID %d = %+v, want tick %d sequence %d", i, p, t0, i)
		}
		last = id
	}
	// The clock moves on by 3 ticks: the next ID starts that tick at sequence 0.
	clock.Advance(3 * time.Millisecond)
	p := tinyLayout.Decompose(mustNext(t, g))
	if p.Tick != t0+3 || p.Sequence != 0 {
		t.Fatalf("after 3 ticks: %+v, want tick %d sequence 0", p, t0+3)
	}
	if s := g.Stats(); s.Issued != 17 || s.Borrowed != 0 || s.Waited != 0 {
		t.Errorf("Stats = %+v, want 17 issued, none borrowed or waited", s)
	}
}

// TestZeroIDNeverIssued: at the epoch itself the first ID still has tick 1.
func TestZeroIDNeverIssued(t *testing.T) {
	t.Parallel()
	l := tinyLayout
	l.Epoch = start
	g := mustNew(t, l, 0, Options{Clock: newFakeClock(start), MaxBorrow: 1})
	if id := mustNext(t, g); id == 0 || l.Decompose(id).Tick != 1 {
		t.Errorf("first ID at the epoch = %d (%+v), want tick 1", id, l.Decompose(id))
	}
}

func TestBorrowing(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(start)
	g := mustNew(t, tinyLayout, 1, Options{Clock: clock, MaxBorrow: 3})
	t0 := tinyLayout.Tick(start)
	// 16 IDs in the clock's tick and 16 in each of the 3 borrowed ones.
	for i := range 64 {
		p := tinyLayout.Decompose(mustNext(t, g))
		if want := t0 + int64(i/16); p.Tick != want || p.Sequence != int64(i%16) {
			t.Fatalf("ID %d: %+v, want tick %d sequence %d", i, p, want, i%16)
		}
	}
	if s := g.Stats(); s.Borrowed != 3 || s.Waited != 0 {
		t.Fatalf("Stats = %+v, want 3 borrowed ticks and no wait", s)
	}
	// No more may be borrowed: the next call waits for the clock.
	got := make(chan ID)
	go func() { got <- mustNext(t, g) }()
	select {
	case id := <-got:
		t.Fatalf("Next returned %+v while 3 ticks ahead of a stopped clock", tinyLayout.Decompose(id))
	case <-time.After(30 * time.Millisecond):
	}
	clock.Advance(time.Millisecond)
	p := tinyLayout.Decompose(<-got)
	if p.Tick != t0+4 || p.Sequence != 0 {
		t.Fatalf("after the clock moved: %+v, want tick %d", p, t0+4)
	}
	if s := g.Stats(); s.Borrowed != 4 || s.Waited != 1 || s.Issued != 65 {
		t.Errorf("Stats = %+v, want 4 borrowed, 1 waited, 65 issued", s)
	}
}

// TestWaitsForNextTick: without borrowing, a used-up tick waits for the
// clock, even with the real clock and many goroutines.
func TestWaitsForNextTick(t *testing.T) {
	t.Parallel()
	l := tinyLayout
	g := mustNew(t, l, 3, Options{})
	const goroutines, each = 4, 500 // 2000 IDs, 16 a tick: over 120 ticks
	ids := collect(t, g, goroutines, each)
	checkUnique(t, ids)
	ticks := map[int64]int{}
	for _, s := range ids {
		for _, id := range s {
			ticks[l.Decompose(id).Tick]++
		}
	}
	for tick, n := range ticks {
		if n > 16 {
			t.Fatalf("tick %d has %d IDs, more than the layout's 16", tick, n)
		}
		if tick > g.CurrentTick() {
			t.Fatalf("tick %d issued ahead of the clock (%d) without MaxBorrow", tick, g.CurrentTick())
		}
	}
	if len(ticks) < goroutines*each/16 {
		t.Errorf("only %d ticks used", len(ticks))
	}
	if s := g.Stats(); s.Waited == 0 || s.Borrowed != 0 || s.Issued != goroutines*each {
		t.Errorf("Stats = %+v, want waits, no borrowing, %d issued", s, goroutines*each)
	}
}

// collect calls Next from several goroutines and returns each one's IDs,
// failing if any goroutine sees an ID not above its previous one.
func collect(t *testing.T, g *Generator, goroutines, each int) [][]ID {
	t.Helper()
	out := make([][]ID, goroutines)
	var wg sync.WaitGroup
	for i := range out {
		out[i] = make([]ID, each)
		wg.Go(func() {
			s := out[i]
			for j := range s {
				id, err := g.Next()
				if err != nil {
					t.Errorf("Next: %v", err)
					return
				}
				if j > 0 && id <= s[j-1] {
					t.Errorf("goroutine %d: ID %d after %d", i, id, s[j-1])
					return
				}
				s[j] = id
			}
		})
	}
	wg.Wait()
	return out
}

// checkUnique merges the goroutines' sorted slices and fails on any repeat.
func checkUnique(t *testing.T, sorted [][]ID) {
	t.Helper()
	heads := make([]int, len(sorted))
	total := 0
	for _, s := range sorted {
		total += len(s)
	}
	last := ID(-1)
	for range total {
		best := -1
		for i, s := range sorted {
			if heads[i] < len(s) && (best < 0 || s[heads[i]] < sorted[best][heads[best]]) {
				best = i
			}
		}
		id := sorted[best][heads[best]]
		heads[best]++
		if id <= last {
			t.Fatalf("ID %d issued twice", id)
		}
		last = id
	}
}

// TestConcurrentUnique: 8 goroutines x 1M IDs, no duplicate, each goroutine's
// IDs strictly increasing. The layout has 22 sequence bits (4M IDs a
// millisecond), so the test measures the generator, not the clock. With
// -short it takes 8 x 100k.
func TestConcurrentUnique(t *testing.T) {
	t.Parallel()
	each := 1_000_000
	if testing.Short() {
		each = 100_000
	}
	l := Layout{Epoch: time.Now().Add(-24 * time.Hour), TimeUnit: time.Millisecond, TimeBits: 31, WorkerBits: 10, SequenceBits: 22}
	g := mustNew(t, l, 513, Options{})
	ids := collect(t, g, 8, each)
	checkUnique(t, ids)
	for _, s := range ids {
		if w := l.Decompose(s[0]).Worker; w != 513 {
			t.Fatalf("worker %d in an ID, want 513", w)
		}
	}
	if s := g.Stats(); s.Issued != uint64(8*each) {
		t.Errorf("Stats.Issued = %d, want %d", s.Issued, 8*each)
	}
}

// TestClockSteps: steps of the wall clock after New change nothing (time is
// monotonic), forward jumps of the monotonic clock move ticks forward, and
// IDs stay unique and increasing throughout. A generator made after the step
// (a restart) with StartAfter = LastTick stays above the old one's IDs.
func TestClockSteps(t *testing.T) {
	t.Parallel()
	const tick = time.Millisecond
	cases := []struct {
		name      string
		wall      time.Duration // wall-clock step alone
		monotonic time.Duration // both clocks move (time really passed)
	}{
		{name: "wall back one tick", wall: -tick},
		{name: "wall back 5s", wall: -5 * time.Second},
		{name: "wall back 1h", wall: -time.Hour},
		{name: "wall forward 1h", wall: time.Hour},
		{name: "time forward 5s", monotonic: 5 * time.Second},
		{name: "time forward 1h", monotonic: time.Hour},
		{name: "wall back 1h after time forward 1h", monotonic: time.Hour, wall: -2 * time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock(start)
			g := mustNew(t, Twitter(), 9, Options{Clock: clock})
			var ids []ID
			issue := func(n int) {
				for i := range n {
					if i%100 == 99 {
						clock.Advance(tick / 2)
					}
					ids = append(ids, mustNext(t, g))
				}
			}
			issue(1000)
			before := g.CurrentTick()
			clock.Advance(tc.monotonic)
			clock.StepWall(tc.wall)
			if want := before + int64(tc.monotonic/tick); g.CurrentTick() != want {
				t.Fatalf("Now = %d after the step, want %d", g.CurrentTick(), want)
			}
			issue(1000)
			for i := 1; i < len(ids); i++ {
				if ids[i] <= ids[i-1] {
					t.Fatalf("ID %d: %d after %d", i, ids[i], ids[i-1])
				}
			}
			if p := Twitter().Decompose(ids[len(ids)-1]); p.Tick != g.CurrentTick() {
				t.Errorf("last ID's tick %d, generator's clock %d", p.Tick, g.CurrentTick())
			}

			// A restart after the step: the wall clock is the only anchor.
			g.Stop()
			hwm := g.LastTick()
			restarted := mustNew(t, Twitter(), 9, Options{Clock: clock, StartAfter: hwm})
			got := make(chan ID, 1)
			go func() { got <- mustNext(t, restarted) }()
			var id ID
			for deadline := time.Now().Add(10 * time.Second); id == 0; {
				select {
				case id = <-got:
				case <-time.After(5 * time.Millisecond):
					if time.Now().After(deadline) {
						t.Fatalf("clock at %d, StartAfter %d: Next still waits", restarted.CurrentTick(), hwm)
					}
					if restarted.CurrentTick() <= hwm {
						clock.Advance(10 * time.Minute) // the wall clock catches up
					}
				}
			}
			if id <= ids[len(ids)-1] || Twitter().Decompose(id).Tick != hwm+1 && Twitter().Decompose(id).Tick != restarted.CurrentTick() {
				t.Fatalf("restarted generator's first ID %+v, old generator's last %+v",
					Twitter().Decompose(id), Twitter().Decompose(ids[len(ids)-1]))
			}
			if tick := Twitter().Decompose(id).Tick; tick > restarted.CurrentTick() {
				t.Errorf("restarted generator issued tick %d ahead of its clock %d without MaxBorrow", tick, restarted.CurrentTick())
			}
		})
	}
}

// TestStartAfter: the first tick is above StartAfter, waiting for the clock
// or borrowing when the clock is behind it.
func TestStartAfter(t *testing.T) {
	t.Parallel()
	t0 := tinyLayout.Tick(start)
	t.Run("clock ahead", func(t *testing.T) {
		g := mustNew(t, tinyLayout, 1, Options{Clock: newFakeClock(start), StartAfter: t0 - 100})
		if p := tinyLayout.Decompose(mustNext(t, g)); p.Tick != t0 {
			t.Errorf("tick %d, want the clock's %d", p.Tick, t0)
		}
	})
	t.Run("borrowing covers the gap", func(t *testing.T) {
		g := mustNew(t, tinyLayout, 1, Options{Clock: newFakeClock(start), StartAfter: t0 + 4, MaxBorrow: 5})
		if g.LastTick() != t0+4 {
			t.Errorf("LastTick before any ID = %d, want StartAfter", g.LastTick())
		}
		if p := tinyLayout.Decompose(mustNext(t, g)); p.Tick != t0+5 {
			t.Errorf("tick %d, want %d", p.Tick, t0+5)
		}
		if s := g.Stats(); s.Borrowed != 1 || s.Waited != 0 {
			t.Errorf("Stats = %+v", s)
		}
	})
	t.Run("waits for the clock", func(t *testing.T) {
		clock := newFakeClock(start)
		g := mustNew(t, tinyLayout, 1, Options{Clock: clock, StartAfter: t0 + 4})
		got := make(chan ID)
		go func() { got <- mustNext(t, g) }()
		for i := range 5 {
			select {
			case id := <-got:
				t.Fatalf("Next returned tick %d with the clock at %d", tinyLayout.Decompose(id).Tick, g.CurrentTick())
			case <-time.After(10 * time.Millisecond):
			}
			clock.Advance(time.Millisecond)
			if i == 3 {
				clock.StepWall(-time.Hour) // irrelevant to a running generator
			}
		}
		if p := tinyLayout.Decompose(<-got); p.Tick != t0+5 {
			t.Errorf("tick %d, want %d", p.Tick, t0+5)
		}
		if s := g.Stats(); s.Waited != 1 {
			t.Errorf("Stats = %+v, want 1 wait", s)
		}
	})
}

func TestFence(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(start) // never moves: a wait would hang the test
	t0 := tinyLayout.Tick(start)
	g := mustNew(t, tinyLayout, 1, Options{Clock: clock, Fence: t0})
	for range 16 {
		mustNext(t, g)
	}
	// The tick is used up; the next one is above the fence. ErrFenced comes
	// at once, although the clock would also have to move.
	if _, err := g.Next(); err != ErrFenced {
		t.Fatalf("Next at the fence: %v, want ErrFenced", err)
	}
	if n, err := g.NextN(make([]ID, 3)); n != 0 || err != ErrFenced {
		t.Fatalf("NextN at the fence: %d, %v", n, err)
	}
	g.SetFence(t0 - 10) // lowering is ignored
	if g.Fence() != t0 {
		t.Fatalf("Fence = %d after a lower SetFence, want %d", g.Fence(), t0)
	}
	g.SetFence(math.MaxInt64) // clamped
	if g.Fence() != tinyLayout.MaxTick() {
		t.Fatalf("Fence = %d, want MaxTick", g.Fence())
	}
	if s := g.Stats(); s.Fenced != 2 || s.Issued != 16 {
		t.Errorf("Stats = %+v, want 2 fenced, 16 issued", s)
	}
	// Borrowing stops at the fence too.
	g2 := mustNew(t, tinyLayout, 1, Options{Clock: clock, Fence: t0 + 1, MaxBorrow: 100})
	dst := make([]ID, 100)
	if n, err := g2.NextN(dst); n != 32 || err != nil {
		t.Fatalf("NextN with fence one tick ahead: %d, %v; want 32 IDs", n, err)
	}
	if p := tinyLayout.Decompose(dst[31]); p.Tick != t0+1 || p.Sequence != 15 {
		t.Errorf("last ID %+v", p)
	}
	if _, err := g2.Next(); err != ErrFenced {
		t.Errorf("Next: %v, want ErrFenced", err)
	}
}

// TestFenceRaisedConcurrently: a property test. While one goroutine raises
// the fence a tick at a time, others take IDs with Next and NextN; no ID is
// ever above the fence, every tick up to the last fence is used in full, and
// no ID repeats.
func TestFenceRaisedConcurrently(t *testing.T) {
	t.Parallel()
	for round := range 20 {
		clock := newFakeClock(start) // fixed: the fence is the only limit
		t0 := tinyLayout.Tick(start)
		g := mustNew(t, tinyLayout, 2, Options{Clock: clock, Fence: t0, MaxBorrow: 1 << 20})
		const raises = 300
		var done atomic.Bool
		var mu sync.Mutex
		seen := map[ID]bool{}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				dst := make([]ID, 1+w*3) // Next and batches of 4, 7, 10
				var mine []ID
				for {
					finished := done.Load()
					var got []ID
					if w == 0 {
						id, err := g.Next()
						if err == nil {
							got = append(dst[:0], id)
						} else if err != ErrFenced {
							t.Errorf("Next: %v", err)
							return
						}
					} else {
						n, err := g.NextN(dst)
						if err != nil && err != ErrFenced {
							t.Errorf("NextN: %v", err)
							return
						}
						got = dst[:n]
					}
					fence := g.Fence()
					for _, id := range got {
						if tick := tinyLayout.Decompose(id).Tick; tick > fence {
							t.Errorf("round %d: tick %d issued above the fence %d", round, tick, fence)
						}
					}
					mine = append(mine, got...)
					if len(got) == 0 {
						if finished {
							break
						}
						runtime.Gosched() // fenced: let the raiser run
					}
				}
				mu.Lock()
				defer mu.Unlock()
				for _, id := range mine {
					if seen[id] {
						t.Errorf("ID %d issued twice", id)
					}
					seen[id] = true
				}
			})
		}
		for f := t0 + 1; f <= t0+raises; f++ {
			g.SetFence(f)
			runtime.Gosched()
		}
		done.Store(true)
		wg.Wait()
		if want := (raises + 1) * 16; len(seen) != want || g.LastTick() != t0+raises {
			t.Fatalf("round %d: %d IDs up to tick %d, want %d up to %d", round, len(seen), g.LastTick()-t0, want, raises)
		}
		if s := g.Stats(); s.Fenced == 0 || s.Issued != uint64(len(seen)) {
			t.Fatalf("Stats = %+v: want fenced refusals and %d issued", s, len(seen))
		}
	}
}

// TestStopIsAtomic: after Stop returns, no call issues a tick above
// LastTick, which is the tick of the last ID issued and never changes again.
func TestStopIsAtomic(t *testing.T) {
	t.Parallel()
	// One sequence bit, a fixed clock and unlimited borrowing: the tick moves
	// every 2 IDs, so an ID issued late is likely to carry a new tick.
	l := Layout{Epoch: Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 21, SequenceBits: 1}
	for round := range 300 {
		g := mustNew(t, l, 3, Options{Clock: newFakeClock(start), MaxBorrow: 1 << 30})
		var issued atomic.Int64
		var wg sync.WaitGroup
		maxTick := make([]int64, 4)
		for w := range maxTick {
			wg.Go(func() {
				dst := make([]ID, 5)
				for {
					var got []ID
					if w%2 == 0 {
						id, err := g.Next()
						if err == ErrStopped {
							return
						} else if err != nil {
							t.Errorf("Next: %v", err)
							return
						}
						got = dst[:1]
						got[0] = id
					} else {
						n, err := g.NextN(dst)
						if err == ErrStopped {
							return
						} else if err != nil {
							t.Errorf("NextN: %v", err)
							return
						}
						got = dst[:n]
					}
					for _, id := range got {
						maxTick[w] = max(maxTick[w], l.Decompose(id).Tick)
					}
					issued.Add(int64(len(got)))
				}
			})
		}
		for issued.Load() < 100 {
			runtime.Gosched()
		}
		g.Stop()
		last := g.LastTick()
		if _, err := g.Next(); err != ErrStopped {
			t.Fatalf("Next after Stop: %v", err)
		}
		wg.Wait()
		highest := int64(0)
		for _, m := range maxTick {
			highest = max(highest, m)
		}
		if highest > last {
			t.Fatalf("round %d: tick %d issued after Stop returned LastTick %d", round, highest, last)
		}
		if highest != last || g.LastTick() != last {
			t.Fatalf("round %d: LastTick %d then %d, highest tick issued %d", round, last, g.LastTick(), highest)
		}
		if s := g.Stats(); s.Issued != uint64(issued.Load()) {
			t.Fatalf("Stats.Issued = %d, want %d", s.Issued, issued.Load())
		}
		g.Stop() // idempotent
	}
}

func TestStopBeforeAnyID(t *testing.T) {
	t.Parallel()
	g := mustNew(t, tinyLayout, 0, Options{Clock: newFakeClock(start), StartAfter: 77})
	g.Stop()
	if g.LastTick() != 77 {
		t.Errorf("LastTick = %d, want StartAfter 77", g.LastTick())
	}
	if _, err := g.Next(); err != ErrStopped {
		t.Errorf("Next: %v", err)
	}
	g.Resume() // does not undo Stop
	if n, err := g.NextN(make([]ID, 2)); n != 0 || err != ErrStopped {
		t.Errorf("NextN: %d, %v", n, err)
	}
}

func TestPause(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(start)
	g := mustNew(t, tinyLayout, 0, Options{Clock: clock, Fence: tinyLayout.Tick(start)})
	first := mustNext(t, g)
	g.Pause()
	g.Pause()
	if !g.Paused() {
		t.Fatal("Paused() = false after Pause")
	}
	if _, err := g.Next(); err != ErrPaused {
		t.Fatalf("Next while paused: %v", err)
	}
	if n, err := g.NextN(make([]ID, 2)); n != 0 || err != ErrPaused {
		t.Fatalf("NextN while paused: %d, %v", n, err)
	}
	g.SetFence(g.Fence() + 5) // keeps the pause
	if !g.Paused() || g.Fence() != tinyLayout.Tick(start)+5 {
		t.Fatalf("after SetFence while paused: Paused %v, Fence %d", g.Paused(), g.Fence())
	}
	g.Resume()
	if g.Paused() {
		t.Fatal("Paused() = true after Resume")
	}
	if id := mustNext(t, g); id != first+1 {
		t.Errorf("after Resume: %d, want %d", id, first+1)
	}
	if s := g.Stats(); s.Paused != 2 || s.Issued != 2 {
		t.Errorf("Stats = %+v, want 2 paused refusals, 2 issued", s)
	}
}

func TestNextN(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(start)
	t0 := tinyLayout.Tick(start)
	g := mustNew(t, tinyLayout, 4, Options{Clock: clock, MaxBorrow: 2})
	if n, err := g.NextN(nil); n != 0 || err != nil {
		t.Fatalf("NextN(nil) = %d, %v", n, err)
	}
	first := mustNext(t, g)
	dst := make([]ID, 20)
	n, err := g.NextN(dst)
	if n != 20 || err != nil {
		t.Fatalf("NextN = %d, %v", n, err)
	}
	// Consecutive, across the tick boundary.
	prev := first
	for i, id := range dst {
		p, q := tinyLayout.Decompose(prev), tinyLayout.Decompose(id)
		next := p.Sequence+1 == q.Sequence && p.Tick == q.Tick || q.Sequence == 0 && p.Sequence == 15 && q.Tick == p.Tick+1
		if !next || q.Worker != 4 {
			t.Fatalf("dst[%d] = %+v after %+v", i, q, p)
		}
		prev = id
	}
	// 21 of 48 borrowable IDs used: a big batch stops at the borrowing limit.
	big := make([]ID, 100)
	if n, err := g.NextN(big); n != 27 || err != nil {
		t.Fatalf("NextN(100) at the borrowing limit = %d, %v; want 27", n, err)
	}
	if p := tinyLayout.Decompose(big[26]); p.Tick != t0+2 || p.Sequence != 15 {
		t.Errorf("last of the batch: %+v", p)
	}
	// Next one waits; move the clock on a tick and it gets 16.
	clock.Advance(time.Millisecond)
	if n, err := g.NextN(big); n != 16 || err != nil {
		t.Fatalf("NextN after a tick = %d, %v; want 16", n, err)
	}
	if s := g.Stats(); s.Issued != 64 || s.Borrowed != 3 {
		t.Errorf("Stats = %+v, want 64 issued, 3 borrowed", s)
	}
}

// TestTimeExhausted: at the end of the layout's time Next and NextN refuse;
// no ID is negative or wrapped, even with no worker bits, where the last
// state is math.MaxInt64 itself.
func TestTimeExhausted(t *testing.T) {
	t.Parallel()
	t.Run("last ticks", func(t *testing.T) {
		l := Layout{TimeUnit: time.Millisecond, TimeBits: 28, WorkerBits: 31, SequenceBits: 4}
		l.Epoch = start.Add(-time.Duration(l.MaxTick()-1) * time.Millisecond)
		g := mustNew(t, l, 1, Options{Clock: newFakeClock(start), MaxBorrow: 10})
		dst := make([]ID, 100)
		n, err := g.NextN(dst)
		if n != 32 || err != nil {
			t.Fatalf("NextN = %d, %v; want the 32 IDs of the last 2 ticks", n, err)
		}
		for _, id := range dst[:n] {
			if id < 0 || l.Decompose(id).Tick > l.MaxTick() {
				t.Fatalf("ID %d out of the layout", id)
			}
		}
		if _, err := g.Next(); err != ErrTimeExhausted {
			t.Fatalf("Next = %v, want ErrTimeExhausted", err)
		}
	})
	t.Run("clock past the end", func(t *testing.T) {
		l := Layout{TimeUnit: time.Millisecond, TimeBits: 28, WorkerBits: 31, SequenceBits: 4}
		l.Epoch = start.Add(-time.Duration(l.MaxTick()) * time.Millisecond)
		clock := newFakeClock(start)
		g := mustNew(t, l, 1, Options{Clock: clock})
		mustNext(t, g)
		clock.Advance(time.Millisecond)
		if _, err := g.Next(); err != ErrTimeExhausted {
			t.Fatalf("Next = %v, want ErrTimeExhausted", err)
		}
		if n, err := g.NextN(make([]ID, 4)); n != 0 || err != ErrTimeExhausted {
			t.Fatalf("NextN = %d, %v", n, err)
		}
	})
	t.Run("no worker bits", func(t *testing.T) {
		l := Layout{TimeUnit: time.Millisecond, TimeBits: 32, WorkerBits: 0, SequenceBits: 31}
		l.Epoch = start.Add(-time.Duration(l.MaxTick()) * time.Millisecond)
		g := mustNew(t, l, 0, Options{Clock: newFakeClock(start)})
		// Skip to the last IDs of the last tick instead of issuing 2^31.
		g.state.Store(uint64(math.MaxInt64 - 2))
		g.initial = uint64(math.MaxInt64 - 2)
		for _, want := range []ID{math.MaxInt64 - 1, math.MaxInt64} {
			if id := mustNext(t, g); id != want {
				t.Fatalf("ID %d, want %d", id, want)
			}
		}
		if _, err := g.Next(); err != ErrTimeExhausted {
			t.Fatalf("Next past MaxInt64 = %v", err)
		}
		g.Stop()
		// The stopped state is all ones; adding one wraps it to 0, which
		// must not look like an old tick to jump from.
		if _, err := g.Next(); err != ErrStopped {
			t.Fatalf("Next after Stop = %v", err)
		}
		if n, err := g.NextN(make([]ID, 2)); n != 0 || err != ErrStopped {
			t.Fatalf("NextN after Stop = %d, %v", n, err)
		}
		if g.LastTick() != l.MaxTick() || g.Stats().Issued != 2 {
			t.Errorf("LastTick %d, Stats %+v", g.LastTick(), g.Stats())
		}
	})
}

func TestNextAllocatesNothing(t *testing.T) {
	g := mustNew(t, Twitter(), 1, Options{Clock: newFakeClock(start), MaxBorrow: 1 << 20})
	dst := make([]ID, 8)
	if a := testing.AllocsPerRun(1000, func() { mustNext(t, g) }); a != 0 {
		t.Errorf("Next allocates %v times", a)
	}
	if a := testing.AllocsPerRun(1000, func() { _, _ = g.NextN(dst) }); a != 0 {
		t.Errorf("NextN allocates %v times", a)
	}
	t0 := Twitter().Tick(start)
	fenced := mustNew(t, Twitter(), 1, Options{Clock: newFakeClock(start), Fence: t0})
	fenced.state.Store(fenced.stateAt(t0) | fenced.seqMask)
	if a := testing.AllocsPerRun(1000, func() {
		if _, err := fenced.Next(); err != ErrFenced {
			t.Fatalf("Next = %v, want ErrFenced", err)
		}
	}); a != 0 {
		t.Errorf("a fenced Next allocates %v times", a)
	}
}
