package clockguard_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen/clockguard"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/snowflake"
)

// noTicks is an interval long enough that the background loop never runs
// during a test: checks happen through CheckNow only.
const noTicks = time.Hour

func startGuard(t *testing.T, client redis.UniversalClient, o clockguard.Options) (*clockguard.Guard, *events) {
	t.Helper()
	ev := &events{}
	o.OnEvent = ev.add
	g, err := clockguard.Start(context.Background(), client, o)
	if err != nil {
		t.Fatal(err)
	}
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
			clock := newFakeClock(0)
			g, ev := startGuard(t, client, clockguard.Options{
				Interval: noTicks, Clock: clock, MaxSkew: 10 * time.Second,
				HWM: busyHWM(clock, snowflake.Twitter()),
			})
			if _, err := g.CheckNow(context.Background()); err != nil {
				t.Fatal(err)
			}
			if st := g.Stats(); st.Regressions != 0 || st.BehindHWM != 0 {
				t.Fatalf("reported before any step: %+v", st)
			}

			clock.Step(-step)
			est, err := g.CheckNow(context.Background())
			if step < 10*time.Second && err != nil {
				t.Fatal(err)
			}
			within(t, "offset after step", est.Offset, -step, est.Uncertainty)

			st := g.Stats()
			if st.Regressions != 1 {
				t.Fatalf("regressions = %d, want 1", st.Regressions)
			}
			within(t, "largest regression", st.LargestRegression, step, time.Millisecond)
			regs := ev.of(clockguard.EventRegression)
			if len(regs) != 1 {
				t.Fatalf("%d regression events, want 1", len(regs))
			}
			within(t, "regression event amount", regs[0].Amount, step, time.Millisecond)

			// The simulated generator kept its own time; the wall clock is
			// now behind its last tick by the step (less under one tick).
			if st.BehindHWM != 1 {
				t.Fatalf("behind-HWM reports = %d, want 1", st.BehindHWM)
			}
			if b := st.LargestBehindHWM; b > step || b < step-snowflake.Twitter().TimeUnit-time.Millisecond {
				t.Fatalf("behind HWM by %v, want just under %v", b, step)
			}
			if len(ev.of(clockguard.EventBehindHWM)) != 1 {
				t.Fatal("no behind-HWM event")
			}

			// No new step: nothing new to report as a regression.
			_, _ = g.CheckNow(context.Background())
			if st := g.Stats(); st.Regressions != 1 {
				t.Fatalf("regressions = %d after a quiet check, want 1", st.Regressions)
			}
		})
	}
}

func TestForwardStepIsNoRegression(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	clock := newFakeClock(0)
	g, _ := startGuard(t, s.Client(t), clockguard.Options{Interval: noTicks, Clock: clock})
	clock.Step(time.Hour)
	_, err := g.CheckNow(context.Background())
	if !errors.Is(err, clockguard.ErrClockSkew) {
		t.Fatalf("err = %v, want ErrClockSkew after a 1h step forward", err)
	}
	if st := g.Stats(); st.Regressions != 0 || !st.Beyond || st.LargestSkew < time.Hour-time.Second {
		t.Fatalf("stats after a forward step: %+v", st)
	}
}

func TestPausePolicy(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	clock := newFakeClock(0)
	target := &fakeTarget{}
	g, ev := startGuard(t, s.Client(t), clockguard.Options{
		Interval: 20 * time.Millisecond, MaxSkew: 50 * time.Millisecond,
		Policy: clockguard.Pause, Target: target, Clock: clock,
	})
	if _, err := target.Next(); err != nil {
		t.Fatalf("issuing before any skew: %v", err)
	}

	clock.Set(2 * time.Second)
	eventually(t, 5*time.Second, "target paused", target.paused.Load)
	if _, err := target.Next(); !errors.Is(err, errPaused) {
		t.Fatalf("issued while skewed: %v", err)
	}
	st := g.Stats()
	if !st.Paused || !st.Beyond {
		t.Fatalf("stats while skewed: %+v", st)
	}
	within(t, "offset while skewed", st.Estimate.Offset, 2*time.Second, st.Estimate.Uncertainty)
	// The policy acts on the target before the events are delivered: wait
	// for them, then check that each came once.
	eventually(t, 5*time.Second, "skew and paused events", func() bool {
		return len(ev.of(clockguard.EventSkew)) >= 1 && len(ev.of(clockguard.EventPaused)) >= 1
	})
	if len(ev.of(clockguard.EventSkew)) != 1 || len(ev.of(clockguard.EventPaused)) != 1 {
		t.Fatalf("events: %v", ev.list())
	}

	clock.Set(0)
	eventually(t, 5*time.Second, "target resumed", func() bool { return !target.paused.Load() })
	if _, err := target.Next(); err != nil {
		t.Fatalf("issuing after the skew cleared: %v", err)
	}
	if st := g.Stats(); st.Paused || st.Beyond {
		t.Fatalf("stats after the skew cleared: %+v", st)
	}
	eventually(t, 5*time.Second, "skew-cleared and resumed events", func() bool {
		return len(ev.of(clockguard.EventSkewCleared)) >= 1 && len(ev.of(clockguard.EventResumed)) >= 1
	})
	if len(ev.of(clockguard.EventSkewCleared)) != 1 || len(ev.of(clockguard.EventResumed)) != 1 {
		t.Fatalf("events: %v", ev.list())
	}
	// More checks inside the bound call nothing more.
	n := g.Stats().ChecksOK
	eventually(t, 5*time.Second, "more checks", func() bool { return g.Stats().ChecksOK >= n+3 })
	if p, r := target.pauses.Load(), target.resumes.Load(); p != 1 || r != 1 {
		t.Fatalf("pauses %d, resumes %d, want 1 and 1", p, r)
	}
}

func TestWarnPolicyDoesNotPause(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	clock := newFakeClock(0)
	target := &fakeTarget{}
	g, ev := startGuard(t, s.Client(t), clockguard.Options{
		Interval: noTicks, MaxSkew: 50 * time.Millisecond, Target: target, Clock: clock,
	})
	clock.Set(-2 * time.Second)
	if _, err := g.CheckNow(context.Background()); !errors.Is(err, clockguard.ErrClockSkew) {
		t.Fatalf("err = %v, want ErrClockSkew", err)
	}
	if target.pauses.Load() != 0 || g.Stats().Paused {
		t.Fatal("Warn policy paused the target")
	}
	skews := ev.of(clockguard.EventSkew)
	if len(skews) != 1 {
		t.Fatalf("%d skew events, want 1", len(skews))
	}
	within(t, "skew event amount", skews[0].Amount, 2*time.Second, skews[0].Estimate.Uncertainty)
}

func TestSetTargetAndCloseRelease(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	clock := newFakeClock(0)
	first, second := &fakeTarget{}, &fakeTarget{}
	g, _ := startGuard(t, s.Client(t), clockguard.Options{
		Interval: noTicks, MaxSkew: 50 * time.Millisecond, Policy: clockguard.Pause, Target: first, Clock: clock,
	})
	clock.Set(time.Hour)
	_, _ = g.CheckNow(context.Background())
	if !first.paused.Load() {
		t.Fatal("first target not paused")
	}

	// A generator swapped in while the skew lasts starts paused.
	g.SetTarget(second)
	if !second.paused.Load() || first.paused.Load() {
		t.Fatalf("after SetTarget: first paused %v, second paused %v", first.paused.Load(), second.paused.Load())
	}
	// Setting the same target again must not let it issue, even briefly.
	g.SetTarget(second)
	if second.resumes.Load() != 0 {
		t.Fatal("SetTarget of the current target resumed it")
	}

	g.Close(context.Background())
	g.Close(context.Background()) // idempotent
	if second.paused.Load() || g.Stats().Paused {
		t.Fatal("Close left the target paused")
	}
	if _, err := g.CheckNow(context.Background()); !errors.Is(err, clockguard.ErrClosed) {
		t.Fatalf("CheckNow after Close: %v, want ErrClosed", err)
	}
}

// A stopped Redis (SIGSTOP) during a check: the check gives up after its
// timeout, the last good estimate stands and is marked stale, and nothing
// else waits for it.
func TestRedisPauseMarksStale(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	clock := newFakeClock(10 * time.Millisecond)
	target := &fakeTarget{}
	g, ev := startGuard(t, s.Client(t), clockguard.Options{
		Interval: noTicks, Timeout: 300 * time.Millisecond, Clock: clock,
		Policy: clockguard.Pause, Target: target,
	})
	good := g.Stats()

	s.Pause()
	t.Cleanup(s.Resume)
	checked := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := g.CheckNow(context.Background())
		checked <- err
	}()

	// While the check waits on Redis, issuing and Stats answer at once.
	slowest := time.Duration(0)
	for range 20 {
		t0 := time.Now()
		if _, err := target.Next(); err != nil {
			t.Fatalf("issuing during the check: %v", err)
		}
		_ = g.Stats()
		slowest = max(slowest, time.Since(t0))
		time.Sleep(5 * time.Millisecond)
	}
	if slowest > 100*time.Millisecond {
		t.Fatalf("an operation took %v while a check waited on Redis", slowest)
	}

	err := <-checked
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("check took %v with a 300ms timeout", took)
	}
	if !errors.Is(err, clockguard.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	st := g.Stats()
	if !st.Stale || st.ChecksFailed != 1 || st.LastError == nil {
		t.Fatalf("stats after the failed check: %+v", st)
	}
	if st.Estimate != good.Estimate || !st.LastGood.Equal(good.LastGood) {
		t.Fatalf("last good estimate changed: %v, was %v", st.Estimate, good.Estimate)
	}
	if target.pauses.Load() != 0 {
		t.Fatal("a failed check paused the target")
	}
	if stale := ev.of(clockguard.EventStale); len(stale) != 1 || stale[0].Estimate != good.Estimate {
		t.Fatalf("stale events: %v", stale)
	}

	s.Resume()
	eventually(t, 10*time.Second, "a good check after Redis resumed", func() bool {
		_, err := g.CheckNow(context.Background())
		return err == nil
	})
	if st := g.Stats(); st.Stale || st.LastError != nil {
		t.Fatalf("still stale after a good check: %+v", st)
	}
	if len(ev.of(clockguard.EventRecovered)) != 1 {
		t.Fatal("no recovered event")
	}
}

// Close does not wait for a check hanging on a stopped Redis, even with a
// long check timeout.
func TestCloseBoundedWhileRedisStopped(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	ev := &events{}
	g, err := clockguard.Start(context.Background(), s.Client(t), clockguard.Options{
		Interval: 20 * time.Millisecond, Timeout: 10 * time.Second, OnEvent: ev.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Pause()
	t.Cleanup(s.Resume)
	time.Sleep(100 * time.Millisecond) // a background check is now waiting on Redis
	t0 := time.Now()
	g.Close(context.Background())
	if took := time.Since(t0); took > time.Second {
		t.Fatalf("Close took %v while a check waited on a stopped Redis", took)
	}
	if n := len(ev.of(clockguard.EventStale)); n != 0 {
		t.Fatalf("Close reported %d stale checks; a cancelled check is no news", n)
	}
}

func TestNewWithoutRedisReportsStale(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	ev := &events{}
	g, err := clockguard.New(c, clockguard.Options{Interval: 20 * time.Millisecond, Timeout: 200 * time.Millisecond, OnEvent: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close(context.Background())
	eventually(t, 5*time.Second, "a stale event", func() bool { return len(ev.of(clockguard.EventStale)) > 0 })
	st := g.Stats()
	if !st.Stale || st.ChecksOK != 0 || !errors.Is(st.LastError, clockguard.ErrUnreachable) {
		t.Fatalf("stats: %+v", st)
	}
}

func TestStartRefusesSkew(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	target := &fakeTarget{}
	g, err := clockguard.Start(context.Background(), s.Client(t), clockguard.Options{
		Clock: newFakeClock(-time.Hour), Policy: clockguard.Pause, Target: target,
	})
	if g != nil || !errors.Is(err, clockguard.ErrClockSkew) {
		t.Fatalf("Start = %v, %v; want nil, ErrClockSkew", g, err)
	}
	if target.pauses.Load() != 0 {
		t.Fatal("a refused start paused the target")
	}
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
	if took := time.Since(start); took > time.Second {
		t.Fatalf("check took %v with a 200ms timeout", took)
	}
	if !errors.Is(err, clockguard.ErrUnreachable) || !g.Stats().Stale || len(ev.of(clockguard.EventStale)) != 1 {
		t.Fatalf("after a held reply: err %v, stats %+v", err, g.Stats())
	}
	p.Release()
	eventually(t, 5*time.Second, "a good check after the replies were released", func() bool {
		_, err := g.CheckNow(context.Background())
		return err == nil
	})
	if g.Stats().Stale {
		t.Fatal("still stale")
	}
}
