package clockguard_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/clockguard"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/snowflake"
)

// noTicks is an interval long enough that the background loop of a Guard on
// the real clock never runs during a test: checks happen through CheckNow
// only.
const noTicks = time.Hour

func startGuard(t *testing.T, client redis.UniversalClient, o clockguard.Options) (*clockguard.Guard, *events) {
	t.Helper()
	ev := &events{}
	o.OnEvent = ev.add
	g, err := clockguard.Start(context.Background(), client, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close(context.Background()) })
	return g, ev
}

// busyHWM simulates a generator issuing IDs continuously: its last tick is
// the tick of its own time, anchored once to the wall clock and advanced by
// the monotonic clock.
func busyHWM(c snowflake.Clock, l snowflake.Layout) func() int64 {
	anchorWall, anchorMono := c.Now(), c.Monotonic()
	return func() int64 { return l.Tick(anchorWall.Add(c.Monotonic() - anchorMono)) }
}

func TestRegressionReported(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	client := s.Client(t)
	for _, step := range []time.Duration{5 * time.Millisecond, 5 * time.Second, time.Hour} {
		t.Run(step.String(), func(t *testing.T) {
			clock := newTestClock(0)
			g, ev := startGuard(t, client, clockguard.Options{
				Interval: tickInterval, Clock: clock, MaxSkew: 10 * time.Second,
				HWM: busyHWM(clock, snowflake.Twitter()),
			})
			_, err := g.CheckNow(context.Background())
			require.NoError(t, err)
			st := g.Stats()
			require.Zero(t, st.Regressions, "reported before any step: %+v", st)
			require.Zero(t, st.BehindHWM, "reported before any step: %+v", st)

			clock.Step(-step)
			est, err := g.CheckNow(context.Background())
			if step < 10*time.Second {
				require.NoError(t, err)
			}
			assert.InDelta(t, -step, est.Offset, float64(est.Uncertainty), "offset after step")

			st = g.Stats()
			require.Equal(t, uint64(1), st.Regressions, "regressions")
			assert.InDelta(t, step, st.LargestRegression, float64(time.Millisecond), "largest regression")
			regs := ev.of(clockguard.EventRegression)
			require.Len(t, regs, 1, "regression events")
			assert.InDelta(t, step, regs[0].Amount, float64(time.Millisecond), "regression event amount")

			// The simulated generator kept its own time; the wall clock is
			// now behind its last tick by the step (less under one tick).
			require.Equal(t, uint64(1), st.BehindHWM, "behind-HWM reports")
			assert.LessOrEqual(t, st.LargestBehindHWM, step, "behind HWM")
			assert.GreaterOrEqual(t, st.LargestBehindHWM, step-snowflake.Twitter().TimeUnit-time.Millisecond, "behind HWM")
			require.Len(t, ev.of(clockguard.EventBehindHWM), 1, "behind-HWM events")

			// No new step: nothing new to report as a regression.
			_, _ = g.CheckNow(context.Background())
			assert.Equal(t, uint64(1), g.Stats().Regressions, "regressions after a quiet check")
		})
	}
}

func TestForwardStepIsNoRegression(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	clock := newTestClock(0)
	g, _ := startGuard(t, s.Client(t), clockguard.Options{Interval: tickInterval, Clock: clock})
	clock.Step(time.Hour)
	_, err := g.CheckNow(context.Background())
	require.ErrorIs(t, err, clockguard.ErrClockSkew, "after a 1h step forward")
	st := g.Stats()
	assert.Zero(t, st.Regressions, "stats after a forward step: %+v", st)
	assert.True(t, st.Beyond, "stats after a forward step: %+v", st)
	assert.GreaterOrEqual(t, st.LargestSkew, time.Hour-time.Second, "stats after a forward step: %+v", st)
}

// The Pause policy, driven by background checks: each check runs when the
// test fires the guard's ticker.
func TestPausePolicy(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	clock := newTestClock(0)
	target := &fakeTarget{}
	g, ev := startGuard(t, s.Client(t), clockguard.Options{
		Interval: tickInterval, MaxSkew: 50 * time.Millisecond,
		Policy: clockguard.Pause, Target: target, Clock: clock,
	})
	_, err := target.Next()
	require.NoError(t, err, "issuing before any skew")

	clock.Set(2 * time.Second)
	clock.tick(t, g)
	require.Eventually(t, target.paused.Load, 5*time.Second, time.Millisecond, "target paused")
	_, err = target.Next()
	require.ErrorIs(t, err, errPaused, "issued while skewed")
	st := g.Stats()
	require.True(t, st.Paused, "stats while skewed: %+v", st)
	require.True(t, st.Beyond, "stats while skewed: %+v", st)
	assert.InDelta(t, 2*time.Second, st.Estimate.Offset, float64(st.Estimate.Uncertainty), "offset while skewed")
	// The policy acts on the target before the events are delivered: wait
	// for them, then check that each came once.
	require.Eventually(t, func() bool {
		return len(ev.of(clockguard.EventSkew)) >= 1 && len(ev.of(clockguard.EventPaused)) >= 1
	}, 5*time.Second, time.Millisecond, "skew and paused events")
	require.Len(t, ev.of(clockguard.EventSkew), 1, "events: %v", ev.list())
	require.Len(t, ev.of(clockguard.EventPaused), 1, "events: %v", ev.list())

	clock.Set(0)
	clock.tick(t, g)
	require.Eventually(t, func() bool { return !target.paused.Load() }, 5*time.Second, time.Millisecond, "target resumed")
	_, err = target.Next()
	require.NoError(t, err, "issuing after the skew cleared")
	st = g.Stats()
	assert.False(t, st.Paused, "stats after the skew cleared: %+v", st)
	assert.False(t, st.Beyond, "stats after the skew cleared: %+v", st)
	require.Eventually(t, func() bool {
		return len(ev.of(clockguard.EventSkewCleared)) >= 1 && len(ev.of(clockguard.EventResumed)) >= 1
	}, 5*time.Second, time.Millisecond, "skew-cleared and resumed events")
	require.Len(t, ev.of(clockguard.EventSkewCleared), 1, "events: %v", ev.list())
	require.Len(t, ev.of(clockguard.EventResumed), 1, "events: %v", ev.list())

	// More checks inside the bound call nothing more.
	n := g.Stats().ChecksOK
	for range 3 {
		clock.tick(t, g)
	}
	assert.Equal(t, n+3, g.Stats().ChecksOK, "one check a tick")
	assert.Equal(t, int64(1), target.pauses.Load(), "pauses")
	assert.Equal(t, int64(1), target.resumes.Load(), "resumes")
}

func TestWarnPolicyDoesNotPause(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	clock := newTestClock(0)
	target := &fakeTarget{}
	g, ev := startGuard(t, s.Client(t), clockguard.Options{
		Interval: tickInterval, MaxSkew: 50 * time.Millisecond, Target: target, Clock: clock,
	})
	clock.Set(-2 * time.Second)
	_, err := g.CheckNow(context.Background())
	require.ErrorIs(t, err, clockguard.ErrClockSkew)
	assert.Zero(t, target.pauses.Load(), "Warn policy paused the target")
	assert.False(t, g.Stats().Paused, "Warn policy paused the target")
	skews := ev.of(clockguard.EventSkew)
	require.Len(t, skews, 1, "skew events")
	assert.InDelta(t, 2*time.Second, skews[0].Amount, float64(skews[0].Estimate.Uncertainty), "skew event amount")
}

func TestSetTargetAndCloseRelease(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	clock := newTestClock(0)
	first, second := &fakeTarget{}, &fakeTarget{}
	g, _ := startGuard(t, s.Client(t), clockguard.Options{
		Interval: tickInterval, MaxSkew: 50 * time.Millisecond, Policy: clockguard.Pause, Target: first, Clock: clock,
	})
	clock.Set(time.Hour)
	_, _ = g.CheckNow(context.Background())
	require.True(t, first.paused.Load(), "first target not paused")

	// A generator swapped in while the skew lasts starts paused.
	g.SetTarget(second)
	require.True(t, second.paused.Load(), "second target not paused after SetTarget")
	require.False(t, first.paused.Load(), "first target still paused after SetTarget")
	// Setting the same target again must not let it issue, even briefly.
	g.SetTarget(second)
	require.Zero(t, second.resumes.Load(), "SetTarget of the current target resumed it")

	g.Close(context.Background())
	g.Close(context.Background()) // idempotent
	require.False(t, second.paused.Load(), "Close left the target paused")
	require.False(t, g.Stats().Paused, "Close left the target paused")
	_, err := g.CheckNow(context.Background())
	require.ErrorIs(t, err, clockguard.ErrClosed, "CheckNow after Close")
	assert.Zero(t, clock.Timers(), "the guard's ticker after Close")
}

// A stopped Redis (SIGSTOP) during a check: the check gives up after its
// timeout, the last good estimate stands and is marked stale, and nothing
// else waits for it.
func TestRedisPauseMarksStale(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	client := s.Client(t)
	clock := newTestClock(10 * time.Millisecond)
	target := &fakeTarget{}
	g, ev := startGuard(t, client, clockguard.Options{
		Interval: tickInterval, Timeout: 300 * time.Millisecond, Clock: clock,
		Policy: clockguard.Pause, Target: target,
	})
	good := g.Stats()
	sent := timeSent(client)

	s.Pause()
	t.Cleanup(s.Resume)
	checked := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := g.CheckNow(context.Background())
		checked <- err
	}()
	wait(t, sent, "the check's TIME request")

	// While the check waits on Redis, issuing and Stats answer at once.
	slowest := time.Duration(0)
	for range 20 {
		t0 := time.Now()
		_, err := target.Next()
		require.NoError(t, err, "issuing during the check")
		_ = g.Stats()
		slowest = max(slowest, time.Since(t0))
	}
	assert.Less(t, slowest, 100*time.Millisecond, "an operation while a check waited on Redis")

	err := <-checked
	assert.Less(t, time.Since(start), 2*time.Second, "the check with a 300ms timeout")
	require.ErrorIs(t, err, clockguard.ErrUnreachable)
	st := g.Stats()
	require.True(t, st.Stale, "stats after the failed check: %+v", st)
	require.Equal(t, uint64(1), st.ChecksFailed, "stats after the failed check: %+v", st)
	require.Error(t, st.LastError, "stats after the failed check")
	require.Equal(t, good.Estimate, st.Estimate, "the last good estimate changed")
	require.True(t, st.LastGood.Equal(good.LastGood), "the last good estimate changed")
	require.Zero(t, target.pauses.Load(), "a failed check paused the target")
	stale := ev.of(clockguard.EventStale)
	require.Len(t, stale, 1, "stale events")
	require.Equal(t, good.Estimate, stale[0].Estimate, "stale event's estimate")

	s.Resume()
	require.Eventually(t, func() bool {
		_, err := g.CheckNow(context.Background())
		return err == nil
	}, 10*time.Second, 5*time.Millisecond, "a good check after Redis resumed")
	st = g.Stats()
	require.False(t, st.Stale, "still stale after a good check: %+v", st)
	require.NoError(t, st.LastError, "still stale after a good check")
	require.Len(t, ev.of(clockguard.EventRecovered), 1, "recovered events")
}

// Close does not wait for a background check hanging on a stopped Redis,
// even with a long check timeout.
func TestCloseBoundedWhileRedisStopped(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	client := s.Client(t)
	clock := newTestClock(0)
	ev := &events{}
	g, err := clockguard.Start(context.Background(), client, clockguard.Options{
		Interval: tickInterval, Timeout: 10 * time.Second, OnEvent: ev.add, Clock: clock,
	})
	require.NoError(t, err)
	sent := timeSent(client)
	s.Pause()
	t.Cleanup(s.Resume)
	require.NoError(t, clock.BlockUntil(context.Background(), 1), "the guard's ticker")
	clock.Advance(tickInterval)
	wait(t, sent, "the background check's TIME request") // it now waits on Redis
	t0 := time.Now()
	g.Close(context.Background())
	assert.Less(t, time.Since(t0), time.Second, "Close while a check waited on a stopped Redis")
	assert.Empty(t, ev.of(clockguard.EventStale), "Close reported a stale check; a cancelled check is no news")
}

// New runs its first check at once, in the background: without Redis it is
// stale, and nothing else runs until the ticker fires.
func TestNewWithoutRedisReportsStale(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	ev := &events{}
	clock := newTestClock(0)
	g, err := clockguard.New(c, clockguard.Options{Interval: tickInterval, Timeout: 200 * time.Millisecond,
		OnEvent: ev.add, Clock: clock})
	require.NoError(t, err)
	defer g.Close(context.Background())
	require.Eventually(t, func() bool { return len(ev.of(clockguard.EventStale)) > 0 }, 5*time.Second, time.Millisecond,
		"a stale event")
	st := g.Stats()
	assert.True(t, st.Stale, "stats: %+v", st)
	assert.Zero(t, st.ChecksOK, "stats: %+v", st)
	assert.Equal(t, uint64(1), st.ChecksFailed, "the first check only: %+v", st)
	assert.ErrorIs(t, st.LastError, clockguard.ErrUnreachable)

	clock.tick(t, g)
	assert.Equal(t, uint64(2), g.Stats().ChecksFailed, "a second check at the tick")
	assert.Len(t, ev.of(clockguard.EventStale), 2, "stale events")
}

func TestStartRefusesSkew(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	target := &fakeTarget{}
	clock := newTestClock(-time.Hour)
	g, err := clockguard.Start(context.Background(), s.Client(t), clockguard.Options{
		Clock: clock, Policy: clockguard.Pause, Target: target,
	})
	require.Nil(t, g)
	require.ErrorIs(t, err, clockguard.ErrClockSkew)
	assert.Zero(t, target.pauses.Load(), "a refused start paused the target")
	assert.Zero(t, clock.Timers(), "a refused start left a ticker")
}

// A slow Redis (replies held back by the proxy) is handled like a stopped
// one: the check ends at its timeout and the estimate is marked stale.
func TestSlowRedisMarksStale(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	p := redistest.NewProxy(t, s.Addr)
	client := redis.NewClient(&redis.Options{Addr: p.Addr})
	t.Cleanup(func() { _ = client.Close() })
	g, ev := startGuard(t, client, clockguard.Options{Interval: noTicks, Timeout: 200 * time.Millisecond})

	p.Hold()
	start := time.Now()
	_, err := g.CheckNow(context.Background())
	assert.Less(t, time.Since(start), time.Second, "the check with a 200ms timeout")
	require.ErrorIs(t, err, clockguard.ErrUnreachable, "after a held reply")
	require.True(t, g.Stats().Stale, "after a held reply: %+v", g.Stats())
	require.Len(t, ev.of(clockguard.EventStale), 1, "stale events after a held reply")
	p.Release()
	require.Eventually(t, func() bool {
		_, err := g.CheckNow(context.Background())
		return err == nil
	}, 5*time.Second, 5*time.Millisecond, "a good check after the replies were released")
	require.False(t, g.Stats().Stale, "still stale")
}
