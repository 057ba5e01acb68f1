package clockguard_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snowlease/idgen/clockguard"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/snowflake"
)

// issuer keeps a generator busy in the background, as a service would, and
// keeps every ID it was given.
type issuer struct {
	gen  *snowflake.Generator
	stop atomic.Bool
	n    atomic.Int64 // IDs issued so far
	wg   sync.WaitGroup
	ids  [][]snowflake.ID // per goroutine, in issue order
}

func startIssuing(t *testing.T, gen *snowflake.Generator, goroutines int) *issuer {
	t.Helper()
	is := &issuer{gen: gen, ids: make([][]snowflake.ID, goroutines)}
	for i := range goroutines {
		is.wg.Add(1)
		go func() {
			defer is.wg.Done()
			for !is.stop.Load() {
				id, err := gen.Next()
				switch {
				case err == nil:
					is.ids[i] = append(is.ids[i], id)
					is.n.Add(1)
				case errors.Is(err, snowflake.ErrPaused):
					time.Sleep(100 * time.Microsecond)
				default:
					t.Errorf("Next: %v", err)
					return
				}
				if len(is.ids[i])%64 == 0 {
					time.Sleep(50 * time.Microsecond) // keep the count of IDs modest under -race
				}
			}
		}()
	}
	t.Cleanup(is.finish)
	return is
}

func (is *issuer) finish() {
	is.stop.Store(true)
	is.wg.Wait()
}

// check asserts that each goroutine's IDs strictly increase and that no ID
// was issued twice, and returns how many there were.
func (is *issuer) check(t *testing.T) int {
	t.Helper()
	is.finish()
	seen := make(map[snowflake.ID]bool)
	for g, ids := range is.ids {
		for i, id := range ids {
			if i > 0 && id <= ids[i-1] {
				t.Fatalf("goroutine %d: ID %d after %d went backwards", g, id, ids[i-1])
			}
			if seen[id] {
				t.Fatalf("ID %d issued twice", id)
			}
			seen[id] = true
		}
	}
	return len(seen)
}

// The wall clock is stepped back mid-run while a real generator, on the
// same clock, issues IDs: the guard reports the step and how far the clock
// is behind the generator's last tick, and no ID goes backwards or repeats.
func TestRegressionWithGenerator(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	client := s.Client(t)
	for _, step := range []time.Duration{5 * time.Millisecond, 5 * time.Second, time.Hour} {
		t.Run(step.String(), func(t *testing.T) {
			clock := newFakeClock(0)
			gen, err := snowflake.New(snowflake.Twitter(), 7, snowflake.Options{Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			g, ev := startGuard(t, client, clockguard.Options{
				Interval: 20 * time.Millisecond, Clock: clock, MaxSkew: 10 * time.Second,
				Target: gen, HWM: gen.LastTick, Layout: snowflake.Twitter(),
			})
			is := startIssuing(t, gen, 3)
			eventually(t, 5*time.Second, "IDs issued", func() bool { return gen.LastTick() > 0 })

			clock.Step(-step)
			eventually(t, 5*time.Second, "regression reported", func() bool { return g.Stats().Regressions > 0 })
			eventually(t, 5*time.Second, "behind-HWM reported", func() bool { return g.Stats().BehindHWM > 0 })
			time.Sleep(30 * time.Millisecond) // more IDs after the step
			n := is.check(t)

			st := g.Stats()
			if st.Regressions != 1 {
				t.Fatalf("regressions = %d, want 1", st.Regressions)
			}
			within(t, "regression", st.LargestRegression, step, time.Millisecond)
			if b := st.LargestBehindHWM; b <= 0 || b > step {
				t.Fatalf("behind the generator's last tick by %v, want up to %v", b, step)
			}
			// Stats change before the events are delivered: wait for them.
			eventually(t, 5*time.Second, "regression and behind-HWM events", func() bool {
				return len(ev.of(clockguard.EventRegression)) >= 1 && len(ev.of(clockguard.EventBehindHWM)) >= 1
			})
			if n := len(ev.of(clockguard.EventRegression)); n != 1 {
				t.Fatalf("%d regression events, want 1", n)
			}
			if gen.Paused() {
				t.Fatal("Warn policy paused the generator")
			}
			t.Logf("%d IDs, behind by %v", n, st.LargestBehindHWM)
		})
	}
}

// The Pause policy stops a real generator while the clock is off Redis's by
// more than MaxSkew, and lets it go on once it is back.
func TestPausePolicyStopsGenerator(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	clock := newFakeClock(0)
	gen, err := snowflake.New(snowflake.Twitter(), 3, snowflake.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := startGuard(t, s.Client(t), clockguard.Options{
		Interval: 20 * time.Millisecond, MaxSkew: 50 * time.Millisecond,
		Policy: clockguard.Pause, Target: gen, Clock: clock,
	})
	is := startIssuing(t, gen, 2)

	clock.Set(2 * time.Second)
	eventually(t, 5*time.Second, "generator paused", gen.Paused)
	if _, err := gen.Next(); !errors.Is(err, snowflake.ErrPaused) {
		t.Fatalf("Next while skewed: %v, want ErrPaused", err)
	}
	time.Sleep(10 * time.Millisecond) // calls past their check when Pause came may still end with an ID
	before := is.n.Load()
	time.Sleep(50 * time.Millisecond)
	if after := is.n.Load(); after != before {
		t.Fatalf("%d IDs issued while paused", after-before)
	}

	clock.Set(0)
	eventually(t, 5*time.Second, "generator resumed", func() bool { return !gen.Paused() })
	eventually(t, 5*time.Second, "IDs after the resume", func() bool { return is.n.Load() > before })
	if _, err := gen.Next(); err != nil {
		t.Fatalf("Next after the skew cleared: %v", err)
	}
	is.check(t)
	if st := g.Stats(); st.Paused || st.Beyond {
		t.Fatalf("stats: %+v", st)
	}
}

// A check hanging on a stopped Redis does not slow the generator down.
func TestRedisPauseDoesNotBlockNext(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	clock := newFakeClock(0)
	gen, err := snowflake.New(snowflake.Twitter(), 1, snowflake.Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	g, _ := startGuard(t, s.Client(t), clockguard.Options{
		Interval: noTicks, Timeout: 500 * time.Millisecond, Clock: clock,
		Policy: clockguard.Pause, Target: gen,
	})
	s.Pause()
	t.Cleanup(s.Resume)
	done := make(chan error, 1)
	go func() {
		_, err := g.CheckNow(context.Background())
		done <- err
	}()
	slowest := time.Duration(0)
	for waiting := true; waiting; {
		select {
		case err := <-done:
			if !errors.Is(err, clockguard.ErrUnreachable) {
				t.Fatalf("check: %v, want ErrUnreachable", err)
			}
			waiting = false
		default:
			t0 := time.Now()
			if _, err := gen.Next(); err != nil {
				t.Fatalf("Next during the check: %v", err)
			}
			slowest = max(slowest, time.Since(t0))
			time.Sleep(time.Millisecond)
		}
	}
	if slowest > 100*time.Millisecond {
		t.Fatalf("Next took %v while a check waited on Redis", slowest)
	}
	if !g.Stats().Stale || gen.Paused() {
		t.Fatalf("after the failed check: stale %v, paused %v", g.Stats().Stale, gen.Paused())
	}
}
