package clock_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/clock"
	"github.com/snowlease/idgen/snowflake"
)

// Both clocks drive a snowflake.Generator as they are.
var (
	_ snowflake.Clock = clock.System()
	_ snowflake.Clock = (*clock.Fake)(nil)
	_ clock.Clock     = (*clock.Fake)(nil)
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// received returns the value waiting on c, or fails.
func received(t *testing.T, c <-chan time.Time) time.Time {
	t.Helper()
	select {
	case v := <-c:
		return v
	default:
		require.FailNow(t, "nothing received")
		return time.Time{}
	}
}

func empty(t *testing.T, c <-chan time.Time) {
	t.Helper()
	select {
	case v := <-c:
		require.FailNow(t, "unexpected value", "%v", v)
	default:
	}
}

func TestFakeReadings(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(time.Now().Add(time.Hour))
	assert.Zero(t, f.Monotonic())
	assert.Equal(t, f.Now(), f.Now().Round(0), "no monotonic reading of its own")

	f = clock.NewFake(t0)
	assert.Equal(t, t0, f.Now())
	f.Advance(1500 * time.Millisecond)
	assert.Equal(t, t0.Add(1500*time.Millisecond), f.Now())
	assert.Equal(t, 1500*time.Millisecond, f.Monotonic())

	// A step of the wall clock, backwards or forwards: Monotonic and the
	// timers, which run on it, do not see it.
	timer := f.NewTimer(time.Second)
	for _, step := range []time.Duration{-time.Hour, 2 * time.Hour} {
		before := f.Now()
		f.StepWall(step)
		assert.Equal(t, before.Add(step), f.Now())
		assert.Equal(t, 1500*time.Millisecond, f.Monotonic())
		empty(t, timer.C())
	}
	f.Advance(time.Second)
	assert.Equal(t, t0.Add(time.Hour+2500*time.Millisecond), received(t, timer.C()))
	assert.Equal(t, 2500*time.Millisecond, f.Monotonic())

	f.Advance(0)
	assert.Equal(t, 2500*time.Millisecond, f.Monotonic())
	assert.PanicsWithValue(t, "clock: Advance by a negative duration", func() { f.Advance(-1) })
}

// Timers fire in deadline order, each with the clock at its deadline; one
// Advance can fire several, and stops at its end.
func TestFakeTimersFireAtTheirDeadlines(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(t0)
	delays := []time.Duration{3 * time.Second, time.Second, 2 * time.Second, 10 * time.Second}
	timers := make([]clock.Timer, len(delays))
	for i, d := range delays {
		timers[i] = f.NewTimer(d)
	}
	require.Equal(t, 4, f.Timers())

	f.Advance(999 * time.Millisecond)
	for _, tm := range timers {
		empty(t, tm.C())
	}
	f.Advance(2001 * time.Millisecond) // to 3s: the first three are due
	for i, d := range delays[:3] {
		assert.Equal(t, t0.Add(d), received(t, timers[i].C()), "timer %d", i)
	}
	empty(t, timers[3].C())
	assert.Equal(t, 1, f.Timers(), "fired timers are no longer armed")
	assert.Equal(t, t0.Add(3*time.Second), f.Now())

	// A timer of zero or less fires at once and is never armed.
	now := f.NewTimer(0)
	assert.Equal(t, t0.Add(3*time.Second), received(t, now.C()))
	assert.Equal(t, 1, f.Timers())
	assert.False(t, now.Stop())
}

func TestFakeTimerStopAndReset(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(t0)
	tm := f.NewTimer(time.Second)
	assert.True(t, tm.Stop(), "stopping an armed timer")
	assert.False(t, tm.Stop(), "stopping it again")
	assert.Zero(t, f.Timers())
	f.Advance(2 * time.Second)
	empty(t, tm.C())

	assert.False(t, tm.Reset(time.Second), "Reset of a stopped timer")
	assert.Equal(t, 1, f.Timers())
	f.Advance(time.Second)
	assert.Equal(t, t0.Add(3*time.Second), received(t, tm.C()))

	// A value fired but not received is discarded by Reset and Stop: after
	// they return, nothing stale arrives.
	assert.False(t, tm.Reset(time.Second), "Reset of a fired timer")
	f.Advance(time.Second)
	assert.False(t, tm.Reset(500*time.Millisecond), "the timer had fired")
	empty(t, tm.C())
	f.Advance(500 * time.Millisecond)
	assert.Equal(t, t0.Add(4500*time.Millisecond), received(t, tm.C()))
	tm.Reset(time.Second)
	f.Advance(time.Second)
	assert.False(t, tm.Stop())
	empty(t, tm.C())

	// Reset of an armed timer moves its deadline.
	tm.Reset(time.Second)
	f.Advance(900 * time.Millisecond)
	assert.True(t, tm.Reset(time.Second))
	f.Advance(900 * time.Millisecond)
	empty(t, tm.C())
	f.Advance(100 * time.Millisecond)
	received(t, tm.C())
	// And Reset to zero fires it at once.
	tm.Reset(time.Hour)
	assert.True(t, tm.Reset(0))
	received(t, tm.C())
	assert.Zero(t, f.Timers())
}

func TestFakeTicker(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(t0)
	tk := f.NewTicker(time.Second)
	assert.Equal(t, 1, f.Timers())
	f.Advance(3500 * time.Millisecond)
	// Ticks at 1s, 2s and 3s: the channel holds the first, the others are
	// dropped while it is full.
	assert.Equal(t, t0.Add(time.Second), received(t, tk.C()))
	empty(t, tk.C())
	f.Advance(500 * time.Millisecond)
	assert.Equal(t, t0.Add(4*time.Second), received(t, tk.C()))

	tk.Reset(2 * time.Second)
	f.Advance(time.Second)
	empty(t, tk.C())
	f.Advance(time.Second)
	assert.Equal(t, t0.Add(6*time.Second), received(t, tk.C()))

	f.Advance(2 * time.Second)
	tk.Stop()
	empty(t, tk.C())
	assert.Zero(t, f.Timers(), "a stopped ticker is not armed")
	f.Advance(10 * time.Second)
	empty(t, tk.C())

	assert.Panics(t, func() { f.NewTicker(0) })
	assert.Panics(t, func() { tk.Reset(-time.Second) })
}

func TestFakeBlockUntil(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := clock.NewFake(t0)
	woke := make(chan error, 1)
	go func() { woke <- clock.Sleep(ctx, f, time.Minute) }()
	require.NoError(t, f.BlockUntil(ctx, 1), "the sleeper's timer")
	f.Advance(59 * time.Second)
	select {
	case err := <-woke:
		require.FailNow(t, "woke early", "%v", err)
	default:
	}
	f.Advance(time.Second)
	require.NoError(t, <-woke)
	assert.Zero(t, f.Timers())

	// Not enough timers before ctx ends: ctx's error.
	short, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, f.BlockUntil(short, 1), context.Canceled)
	assert.NoError(t, f.BlockUntil(short, 0), "zero timers are always there")
}

func TestSleep(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(t0)
	done, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, clock.Sleep(done, f, time.Second), context.Canceled)
	assert.ErrorIs(t, clock.Sleep(done, f, 0), context.Canceled, "an ended ctx wins over d <= 0")
	assert.NoError(t, clock.Sleep(context.Background(), f, 0))
	assert.NoError(t, clock.Sleep(context.Background(), f, -time.Second))
	assert.Zero(t, f.Timers())

	// ctx ending while asleep: its error, and the timer is stopped.
	ctx, cancel := context.WithCancel(context.Background())
	slept := make(chan error, 1)
	go func() { slept <- clock.Sleep(ctx, f, time.Hour) }()
	require.NoError(t, f.BlockUntil(context.Background(), 1))
	cancel()
	assert.ErrorIs(t, <-slept, context.Canceled)
	assert.Zero(t, f.Timers())

	// The real clock.
	start := time.Now()
	require.NoError(t, clock.Sleep(context.Background(), clock.System(), 2*time.Millisecond))
	assert.GreaterOrEqual(t, time.Since(start), 2*time.Millisecond)
}

// Sleepers on many goroutines and a driver that advances whenever one of
// them waits: every sleeper wakes, and -race sees no data race.
func TestFakeConcurrentUse(t *testing.T) {
	t.Parallel()
	f := clock.NewFake(t0)
	const sleepers, rounds = 8, 50
	var wg sync.WaitGroup
	for i := range sleepers {
		wg.Go(func() {
			for r := range rounds {
				d := time.Duration(1+(i+r)%3) * time.Millisecond
				before := f.Monotonic()
				assert.NoError(t, clock.Sleep(context.Background(), f, d))
				assert.GreaterOrEqual(t, f.Monotonic()-before, d)
				_ = f.Now()
			}
		})
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { <-all; stop() }()
	for f.BlockUntil(ctx, 1) == nil {
		f.Advance(time.Millisecond)
	}
	<-all
	assert.Zero(t, f.Timers())
	assert.GreaterOrEqual(t, f.Monotonic(), rounds*time.Millisecond)
}

func TestSystem(t *testing.T) {
	t.Parallel()
	c := clock.System()
	assert.Equal(t, c, clock.System(), "System values compare equal")
	m := c.Monotonic()
	assert.WithinDuration(t, time.Now(), c.Now(), time.Second)
	assert.GreaterOrEqual(t, c.Monotonic(), m)

	tm := c.NewTimer(time.Millisecond)
	<-tm.C()
	assert.False(t, tm.Stop(), "fired")
	assert.False(t, tm.Reset(time.Hour))
	assert.True(t, tm.Stop())

	tk := c.NewTicker(time.Millisecond)
	<-tk.C()
	tk.Reset(time.Millisecond)
	<-tk.C()
	tk.Stop()
}
