package snowflake

import (
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	require.NoError(t, err, "New")
	return g
}

func mustNext(t testing.TB, g *Generator) ID {
	t.Helper()
	id, err := g.Next()
	require.NoError(t, err, "Next")
	return id
}

// nextInBackground calls Next in a goroutine and sends its ID (0 after an
// error, which it reports) on the returned channel.
func nextInBackground(t *testing.T, g *Generator) <-chan ID {
	got := make(chan ID, 1)
	go func() {
		id, err := g.Next()
		assert.NoError(t, err, "Next")
		got <- id
	}()
	return got
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
		{"StartAfter negative", Twitter(), 0, Options{StartAfter: -1}, ErrInvalidOptions, "Options.StartAfter"},
		{"StartAfter leaves no tick", Twitter(), 0, Options{StartAfter: max}, ErrTimeExhausted, "Options.StartAfter"},
		{"Fence negative", Twitter(), 0, Options{Fence: -5}, ErrInvalidOptions, "Options.Fence"},
		{"Fence above MaxTick", Twitter(), 0, Options{Fence: max + 1}, ErrInvalidOptions, "Options.Fence"},
		{"MaxBorrow negative", Twitter(), 0, Options{MaxBorrow: -1}, ErrInvalidOptions, "Options.MaxBorrow"},
		{"MaxBorrow above MaxTick", Twitter(), 0, Options{MaxBorrow: max + 1}, ErrInvalidOptions, "Options.MaxBorrow"},
		{"invalid layout", Layout{Epoch: Twitter().Epoch, TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 10, SequenceBits: 11}, 0, Options{}, ErrBitWidths, ""},
		{"epoch after the clock", Layout{Epoch: start.Add(time.Hour), TimeUnit: time.Millisecond, TimeBits: 41, WorkerBits: 10, SequenceBits: 12}, 0, Options{}, ErrEpoch, ""},
		{"clock past the layout's end", Layout{Epoch: start.Add(-time.Hour), TimeUnit: time.Millisecond, TimeBits: 21, WorkerBits: 20, SequenceBits: 22}, 0, Options{}, ErrTimeExhausted, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Clock = clock
			g, err := New(tc.layout, tc.worker, tc.opts)
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, g)
			if tc.field == "" {
				return
			}
			var oe *OptionError
			require.ErrorAs(t, err, &oe)
			assert.ErrorIs(t, err, ErrInvalidOptions)
			assert.Equal(t, tc.field, oe.Field)
			assert.ErrorContains(t, err, tc.field+" is ")
			assert.ErrorContains(t, err, ", allowed ")
			t.Log(err)
		})
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	g := mustNew(t, Twitter(), 7, Options{})
	assert.Equal(t, int64(7), g.WorkerID())
	assert.Equal(t, Twitter(), g.Layout())
	assert.Equal(t, Twitter().MaxTick(), g.Fence(), "Fence when none is set")
	assert.Zero(t, g.LastTick())
	assert.False(t, g.Paused())
	before := time.Now()
	id := mustNext(t, g)
	after := time.Now()
	p := Twitter().Decompose(id)
	// The real clock: the ID's tick holds the time it was issued.
	assert.False(t, p.Time.After(after) || p.Time.Before(before.Add(-time.Millisecond)),
		"ID time %v not within [%v - 1ms, %v]", p.Time, before, after)
	assert.Equal(t, int64(7), p.Worker)
	assert.Zero(t, p.Sequence)
	assert.Equal(t, p.Tick, g.LastTick())
	now := g.CurrentTick()
	assert.GreaterOrEqual(t, now, p.Tick, "CurrentTick")
	assert.LessOrEqual(t, now, Twitter().Tick(time.Now()), "CurrentTick")
}

// TestTickAnchoring: ticks follow the wall clock's tick boundaries as of New,
// not New's instant.
func TestTickAnchoring(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(start) // 0.3 ms into its tick
	g := mustNew(t, Twitter(), 1, Options{Clock: clock})
	t0 := Twitter().Tick(start)
	require.Equal(t, t0, g.CurrentTick())
	clock.Advance(699 * time.Microsecond)
	assert.Equal(t, t0, g.CurrentTick(), "0.999 ms into the tick")
	clock.Advance(time.Microsecond)
	assert.Equal(t, t0+1, g.CurrentTick(), "at the next boundary")
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
		require.Equal(t, []int64{t0, 5, int64(i)}, []int64{p.Tick, p.Worker, p.Sequence}, "ID %d: tick, worker, sequence", i)
		require.Greater(t, id, last)
		last = id
	}
	// The clock moves on by 3 ticks: the next ID starts that tick at sequence 0.
	clock.Advance(3 * time.Millisecond)
	p := tinyLayout.Decompose(mustNext(t, g))
	require.Equal(t, []int64{t0 + 3, 0}, []int64{p.Tick, p.Sequence}, "after 3 ticks: tick, sequence")
	s := g.Stats()
	assert.Equal(t, Stats{Issued: 17}, s, "17 issued, none borrowed or waited")
}

// TestZeroIDNeverIssued: at the epoch itself the first ID still has tick 1.
func TestZeroIDNeverIssued(t *testing.T) {
	t.Parallel()
	l := tinyLayout
	l.Epoch = start
	g := mustNew(t, l, 0, Options{Clock: newFakeClock(start), MaxBorrow: 1})
	id := mustNext(t, g)
	assert.NotZero(t, id)
	assert.Equal(t, int64(1), l.Decompose(id).Tick, "the first ID's tick at the epoch")
}

func TestBorrowing(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(start)
	g := mustNew(t, tinyLayout, 1, Options{Clock: clock, MaxBorrow: 3})
	t0 := tinyLayout.Tick(start)
	// 16 IDs in the clock's tick and 16 in each of the 3 borrowed ones.
	for i := range 64 {
		p := tinyLayout.Decompose(mustNext(t, g))
		require.Equal(t, []int64{t0 + int64(i/16), int64(i % 16)}, []int64{p.Tick, p.Sequence}, "ID %d: tick, sequence", i)
	}
	s := g.Stats()
	require.Equal(t, uint64(3), s.Borrowed, "borrowed ticks")
	require.Zero(t, s.Waited, "waits")
	// No more may be borrowed: the next call waits for the clock.
	got := nextInBackground(t, g)
	select {
	case id := <-got:
		require.FailNow(t, "Next returned while 3 ticks ahead of a stopped clock", "%+v", tinyLayout.Decompose(id))
	case <-time.After(30 * time.Millisecond):
	}
	clock.Advance(time.Millisecond)
	p := tinyLayout.Decompose(<-got)
	require.Equal(t, []int64{t0 + 4, 0}, []int64{p.Tick, p.Sequence}, "after the clock moved: tick, sequence")
	s = g.Stats()
	assert.Equal(t, Stats{Issued: 65, Borrowed: 4, Waited: 1}, s)
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
		require.LessOrEqual(t, n, 16, "IDs in tick %d", tick)
		require.LessOrEqual(t, tick, g.CurrentTick(), "a tick issued ahead of the clock without MaxBorrow")
	}
	assert.GreaterOrEqual(t, len(ticks), goroutines*each/16, "ticks used")
	s := g.Stats()
	assert.NotZero(t, s.Waited, "waits")
	assert.Zero(t, s.Borrowed, "borrowed ticks")
	assert.Equal(t, uint64(goroutines*each), s.Issued)
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
				if !assert.NoError(t, err, "Next") {
					return
				}
				if j > 0 && id <= s[j-1] { // an assert call per ID would take seconds here
					assert.Failf(t, "IDs not increasing", "goroutine %d: ID %d after %d", i, id, s[j-1])
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
		if id <= last { // an assert call per ID would take seconds here
			require.FailNow(t, "an ID issued twice", "ID %d", id)
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
		require.Equal(t, int64(513), l.Decompose(s[0]).Worker, "an ID's worker")
	}
	assert.Equal(t, uint64(8*each), g.Stats().Issued)
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
			require.Equal(t, before+int64(tc.monotonic/tick), g.CurrentTick(), "CurrentTick after the step")
			issue(1000)
			for i := 1; i < len(ids); i++ {
				require.Greater(t, ids[i], ids[i-1], "ID %d", i)
			}
			assert.Equal(t, g.CurrentTick(), Twitter().Decompose(ids[len(ids)-1]).Tick, "the last ID's tick against the generator's clock")

			// A restart after the step: the wall clock is the only anchor.
			g.Stop()
			hwm := g.LastTick()
			restarted := mustNew(t, Twitter(), 9, Options{Clock: clock, StartAfter: hwm})
			got := nextInBackground(t, restarted)
			var id ID
			for deadline := time.Now().Add(10 * time.Second); id == 0; {
				select {
				case id = <-got:
				case <-time.After(5 * time.Millisecond):
					require.False(t, time.Now().After(deadline), "clock at %d, StartAfter %d: Next still waits", restarted.CurrentTick(), hwm)
					if restarted.CurrentTick() <= hwm {
						clock.Advance(10 * time.Minute) // the wall clock catches up
					}
				}
			}
			first := Twitter().Decompose(id)
			require.Greater(t, id, ids[len(ids)-1], "the restarted generator's first ID against the old one's last")
			require.True(t, first.Tick == hwm+1 || first.Tick == restarted.CurrentTick(),
				"the restarted generator's first ID %+v, StartAfter %d", first, hwm)
			assert.LessOrEqual(t, first.Tick, restarted.CurrentTick(), "a tick ahead of the clock without MaxBorrow")
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
		assert.Equal(t, t0, tinyLayout.Decompose(mustNext(t, g)).Tick, "the clock's tick")
	})
	t.Run("borrowing covers the gap", func(t *testing.T) {
		g := mustNew(t, tinyLayout, 1, Options{Clock: newFakeClock(start), StartAfter: t0 + 4, MaxBorrow: 5})
		assert.Equal(t, t0+4, g.LastTick(), "LastTick before any ID is StartAfter")
		assert.Equal(t, t0+5, tinyLayout.Decompose(mustNext(t, g)).Tick)
		s := g.Stats()
		assert.Equal(t, uint64(1), s.Borrowed)
		assert.Zero(t, s.Waited)
	})
	t.Run("waits for the clock", func(t *testing.T) {
		clock := newFakeClock(start)
		g := mustNew(t, tinyLayout, 1, Options{Clock: clock, StartAfter: t0 + 4})
		got := nextInBackground(t, g)
		for i := range 5 {
			select {
			case id := <-got:
				require.FailNow(t, "Next returned before the clock passed StartAfter",
					"tick %d with the clock at %d", tinyLayout.Decompose(id).Tick, g.CurrentTick())
			case <-time.After(10 * time.Millisecond):
			}
			clock.Advance(time.Millisecond)
			if i == 3 {
				clock.StepWall(-time.Hour) // irrelevant to a running generator
			}
		}
		assert.Equal(t, t0+5, tinyLayout.Decompose(<-got).Tick)
		assert.Equal(t, uint64(1), g.Stats().Waited)
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
	_, err := g.Next()
	require.Equal(t, ErrFenced, err, "Next at the fence") // unwrapped, so that a refusal allocates nothing
	n, err := g.NextN(make([]ID, 3))
	require.Equal(t, ErrFenced, err, "NextN at the fence")
	require.Zero(t, n)
	g.SetFence(t0 - 10) // lowering is ignored
	require.Equal(t, t0, g.Fence(), "Fence after a lower SetFence")
	g.SetFence(math.MaxInt64) // clamped
	require.Equal(t, tinyLayout.MaxTick(), g.Fence())
	s := g.Stats()
	assert.Equal(t, uint64(2), s.Fenced)
	assert.Equal(t, uint64(16), s.Issued)
	// Borrowing stops at the fence too.
	g2 := mustNew(t, tinyLayout, 1, Options{Clock: clock, Fence: t0 + 1, MaxBorrow: 100})
	dst := make([]ID, 100)
	n, err = g2.NextN(dst)
	require.NoError(t, err)
	require.Equal(t, 32, n, "NextN with the fence one tick ahead")
	p := tinyLayout.Decompose(dst[31])
	assert.Equal(t, []int64{t0 + 1, 15}, []int64{p.Tick, p.Sequence}, "the last ID's tick and sequence")
	_, err = g2.Next()
	assert.Equal(t, ErrFenced, err)
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
						} else if !assert.Equal(t, ErrFenced, err, "Next") {
							return
						}
					} else {
						n, err := g.NextN(dst)
						if err != nil && !assert.Equal(t, ErrFenced, err, "NextN") {
							return
						}
						got = dst[:n]
					}
					fence := g.Fence()
					for _, id := range got {
						assert.LessOrEqual(t, tinyLayout.Decompose(id).Tick, fence, "round %d: a tick above the fence", round)
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
					assert.False(t, seen[id], "ID %d issued twice", id)
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
		require.Len(t, seen, (raises+1)*16, "round %d: every tick up to the last fence used in full", round)
		require.Equal(t, t0+raises, g.LastTick(), "round %d", round)
		s := g.Stats()
		require.NotZero(t, s.Fenced, "round %d: fenced refusals", round)
		require.Equal(t, uint64(len(seen)), s.Issued, "round %d", round)
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
						if err != nil {
							assert.Equal(t, ErrStopped, err, "Next")
							return
						}
						got = dst[:1]
						got[0] = id
					} else {
						n, err := g.NextN(dst)
						if err != nil {
							assert.Equal(t, ErrStopped, err, "NextN")
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
		_, err := g.Next()
		require.Equal(t, ErrStopped, err, "Next after Stop")
		wg.Wait()
		highest := int64(0)
		for _, m := range maxTick {
			highest = max(highest, m)
		}
		require.LessOrEqual(t, highest, last, "round %d: a tick issued after Stop returned LastTick", round)
		require.Equal(t, last, highest, "round %d: the highest tick issued against LastTick", round)
		require.Equal(t, last, g.LastTick(), "round %d: LastTick changed after Stop", round)
		require.Equal(t, uint64(issued.Load()), g.Stats().Issued)
		g.Stop() // idempotent
	}
}

func TestStopBeforeAnyID(t *testing.T) {
	t.Parallel()
	g := mustNew(t, tinyLayout, 0, Options{Clock: newFakeClock(start), StartAfter: 77})
	g.Stop()
	assert.Equal(t, int64(77), g.LastTick(), "LastTick is StartAfter")
	_, err := g.Next()
	assert.Equal(t, ErrStopped, err)
	g.Resume() // does not undo Stop
	n, err := g.NextN(make([]ID, 2))
	assert.Equal(t, ErrStopped, err)
	assert.Zero(t, n)
}

func TestPause(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(start)
	g := mustNew(t, tinyLayout, 0, Options{Clock: clock, Fence: tinyLayout.Tick(start)})
	first := mustNext(t, g)
	g.Pause()
	g.Pause()
	require.True(t, g.Paused(), "Paused after Pause")
	_, err := g.Next()
	require.Equal(t, ErrPaused, err, "Next while paused")
	n, err := g.NextN(make([]ID, 2))
	require.Equal(t, ErrPaused, err, "NextN while paused")
	require.Zero(t, n)
	g.SetFence(g.Fence() + 5) // keeps the pause
	require.True(t, g.Paused(), "Paused after SetFence")
	require.Equal(t, tinyLayout.Tick(start)+5, g.Fence())
	g.Resume()
	require.False(t, g.Paused(), "Paused after Resume")
	assert.Equal(t, first+1, mustNext(t, g), "the ID after Resume")
	s := g.Stats()
	assert.Equal(t, uint64(2), s.Paused, "paused refusals")
	assert.Equal(t, uint64(2), s.Issued)
}

func TestNextN(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(start)
	t0 := tinyLayout.Tick(start)
	g := mustNew(t, tinyLayout, 4, Options{Clock: clock, MaxBorrow: 2})
	n, err := g.NextN(nil)
	require.NoError(t, err, "NextN(nil)")
	require.Zero(t, n, "NextN(nil)")
	first := mustNext(t, g)
	dst := make([]ID, 20)
	n, err = g.NextN(dst)
	require.NoError(t, err)
	require.Equal(t, 20, n)
	// Consecutive, across the tick boundary.
	prev := first
	for i, id := range dst {
		p, q := tinyLayout.Decompose(prev), tinyLayout.Decompose(id)
		next := p.Sequence+1 == q.Sequence && p.Tick == q.Tick || q.Sequence == 0 && p.Sequence == 15 && q.Tick == p.Tick+1
		require.True(t, next, "dst[%d] = %+v after %+v", i, q, p)
		require.Equal(t, int64(4), q.Worker, "dst[%d]", i)
		prev = id
	}
	// 21 of 48 borrowable IDs used: a big batch stops at the borrowing limit.
	big := make([]ID, 100)
	n, err = g.NextN(big)
	require.NoError(t, err)
	require.Equal(t, 27, n, "NextN(100) at the borrowing limit")
	p := tinyLayout.Decompose(big[26])
	assert.Equal(t, []int64{t0 + 2, 15}, []int64{p.Tick, p.Sequence}, "the last of the batch: tick, sequence")
	// Next one waits; move the clock on a tick and it gets 16.
	clock.Advance(time.Millisecond)
	n, err = g.NextN(big)
	require.NoError(t, err)
	require.Equal(t, 16, n, "NextN after a tick")
	s := g.Stats()
	assert.Equal(t, uint64(64), s.Issued)
	assert.Equal(t, uint64(3), s.Borrowed)
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
		require.NoError(t, err)
		require.Equal(t, 32, n, "the IDs of the last 2 ticks")
		for _, id := range dst[:n] {
			require.GreaterOrEqual(t, id, ID(0))
			require.LessOrEqual(t, l.Decompose(id).Tick, l.MaxTick(), "ID %d", id)
		}
		_, err = g.Next()
		require.Equal(t, ErrTimeExhausted, err)
	})
	t.Run("clock past the end", func(t *testing.T) {
		l := Layout{TimeUnit: time.Millisecond, TimeBits: 28, WorkerBits: 31, SequenceBits: 4}
		l.Epoch = start.Add(-time.Duration(l.MaxTick()) * time.Millisecond)
		clock := newFakeClock(start)
		g := mustNew(t, l, 1, Options{Clock: clock})
		mustNext(t, g)
		clock.Advance(time.Millisecond)
		_, err := g.Next()
		require.Equal(t, ErrTimeExhausted, err)
		n, err := g.NextN(make([]ID, 4))
		require.Equal(t, ErrTimeExhausted, err)
		require.Zero(t, n)
	})
	t.Run("no worker bits", func(t *testing.T) {
		l := Layout{TimeUnit: time.Millisecond, TimeBits: 32, WorkerBits: 0, SequenceBits: 31}
		l.Epoch = start.Add(-time.Duration(l.MaxTick()) * time.Millisecond)
		g := mustNew(t, l, 0, Options{Clock: newFakeClock(start)})
		// Skip to the last IDs of the last tick instead of issuing 2^31.
		g.state.Store(uint64(math.MaxInt64 - 2))
		g.initial = uint64(math.MaxInt64 - 2)
		for _, want := range []ID{math.MaxInt64 - 1, math.MaxInt64} {
			require.Equal(t, want, mustNext(t, g))
		}
		_, err := g.Next()
		require.Equal(t, ErrTimeExhausted, err, "Next past MaxInt64")
		g.Stop()
		// The stopped state is all ones; adding one wraps it to 0, which
		// must not look like an old tick to jump from.
		_, err = g.Next()
		require.Equal(t, ErrStopped, err, "Next after Stop")
		n, err := g.NextN(make([]ID, 2))
		require.Equal(t, ErrStopped, err, "NextN after Stop")
		require.Zero(t, n)
		assert.Equal(t, l.MaxTick(), g.LastTick())
		assert.Equal(t, uint64(2), g.Stats().Issued)
	})
}

func TestNextAllocatesNothing(t *testing.T) {
	g := mustNew(t, Twitter(), 1, Options{Clock: newFakeClock(start), MaxBorrow: 1 << 20})
	dst := make([]ID, 8)
	var err error
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, err = g.Next() }), "allocations of Next")
	require.NoError(t, err)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, err = g.NextN(dst) }), "allocations of NextN")
	require.NoError(t, err)
	t0 := Twitter().Tick(start)
	fenced := mustNew(t, Twitter(), 1, Options{Clock: newFakeClock(start), Fence: t0})
	fenced.state.Store(fenced.stateAt(t0) | fenced.seqMask)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _, err = fenced.Next() }), "allocations of a fenced Next")
	assert.Equal(t, ErrFenced, err)
}

// TestZeroGenerator: a zero Generator refuses with ErrStopped instead of
// panicking or issuing.
func TestZeroGenerator(t *testing.T) {
	t.Parallel()
	var g Generator
	_, err := g.Next()
	assert.ErrorIs(t, err, ErrStopped)
	n, err := g.NextN(make([]ID, 3))
	assert.ErrorIs(t, err, ErrStopped)
	assert.Zero(t, n)
	assert.Zero(t, g.LastTick())
	assert.Zero(t, g.Stats().Issued)
}
