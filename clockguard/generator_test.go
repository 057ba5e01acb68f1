package clockguard_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/clockguard"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/snowflake"
)

// keptIDs is how many IDs each issuing goroutine keeps for the uniqueness
// check; it checks the order of all of them as they come.
const keptIDs = 50_000

// issuer keeps a generator busy in the background, as a service would.
type issuer struct {
	gen     *snowflake.Generator
	stop    atomic.Bool
	n       atomic.Int64 // IDs issued so far
	refused []atomic.Int64
	wg      sync.WaitGroup
	ids     [][]snowflake.ID // per goroutine, in issue order, the first keptIDs
}

func startIssuing(t *testing.T, gen *snowflake.Generator, goroutines int) *issuer {
	t.Helper()
	is := &issuer{gen: gen, ids: make([][]snowflake.ID, goroutines), refused: make([]atomic.Int64, goroutines)}
	for i := range goroutines {
		is.wg.Go(func() {
			var last snowflake.ID
			for !is.stop.Load() {
				id, err := gen.Next()
				switch {
				case err == nil:
					if id <= last {
						assert.Fail(t, "an ID went backwards", "goroutine %d: %d after %d", i, id, last)
						return
					}
					last = id
					if len(is.ids[i]) < keptIDs {
						is.ids[i] = append(is.ids[i], id)
					}
					is.n.Add(1)
				case errors.Is(err, snowflake.ErrPaused):
					is.refused[i].Add(1)
					runtime.Gosched()
				default:
					assert.NoError(t, err, "Next")
					return
				}
			}
		})
	}
	t.Cleanup(is.finish)
	return is
}

func (is *issuer) finish() {
	is.stop.Store(true)
	is.wg.Wait()
}

// refusals is how many calls each goroutine had refused with ErrPaused.
func (is *issuer) refusals() []int64 {
	r := make([]int64, len(is.refused))
	for i := range r {
		r[i] = is.refused[i].Load()
	}
	return r
}

// check stops the issuers and asserts that no ID kept was issued twice; it
// returns how many IDs were issued in all.
func (is *issuer) check(t *testing.T) int64 {
	t.Helper()
	is.finish()
	seen := make(map[snowflake.ID]bool)
	for _, ids := range is.ids {
		for _, id := range ids {
			require.False(t, seen[id], "ID %d issued twice", id)
			seen[id] = true
		}
	}
	return is.n.Load()
}

// The wall clock is stepped back mid-run while a real generator, on the
// same clock, issues IDs: the guard reports the step and how far the clock
// is behind the generator's last tick, and no ID goes backwards or repeats.
func TestRegressionWithGenerator(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	client := s.Client(t)
	for _, step := range []time.Duration{5 * time.Millisecond, 5 * time.Second, time.Hour} {
		t.Run(step.String(), func(t *testing.T) {
			clock := newTestClock(0)
			gen, err := snowflake.New(snowflake.Twitter(), 7, snowflake.Options{Clock: clock})
			require.NoError(t, err)
			g, ev := startGuard(t, client, clockguard.Options{
				Interval: tickInterval, Clock: clock, MaxSkew: 10 * time.Second,
				Target: gen, HWM: gen.LastTick, Layout: snowflake.Twitter(),
			})
			is := startIssuing(t, gen, 3)
			require.Eventually(t, func() bool { return gen.LastTick() > 0 }, 5*time.Second, time.Millisecond, "IDs issued")

			clock.Step(-step)
			clock.tick(t, g)
			assert.Equal(t, uint64(1), g.Stats().Regressions, "regressions at the first check after the step")
			// How far behind the generator's last tick the clock is depends on
			// how fresh that tick is: check until a check lands while it is.
			for i := 0; g.Stats().BehindHWM == 0; i++ {
				require.Less(t, i, 100, "behind-HWM not reported: %+v", g.Stats())
				clock.tick(t, g)
			}
			at := is.n.Load()
			require.Eventually(t, func() bool { return is.n.Load() >= at+1000 }, 5*time.Second, time.Millisecond,
				"more IDs after the step")
			n := is.check(t)

			st := g.Stats()
			require.Equal(t, uint64(1), st.Regressions, "regressions")
			assert.InDelta(t, step, st.LargestRegression, float64(time.Millisecond), "regression")
			assert.Positive(t, st.LargestBehindHWM, "behind the generator's last tick")
			assert.LessOrEqual(t, st.LargestBehindHWM, step, "behind the generator's last tick")
			// Stats change before the events are delivered: wait for them.
			require.Eventually(t, func() bool {
				return len(ev.of(clockguard.EventRegression)) >= 1 && len(ev.of(clockguard.EventBehindHWM)) >= 1
			}, 5*time.Second, time.Millisecond, "regression and behind-HWM events")
			require.Len(t, ev.of(clockguard.EventRegression), 1, "regression events")
			require.False(t, gen.Paused(), "Warn policy paused the generator")
			t.Logf("%d IDs, behind by %v", n, st.LargestBehindHWM)
		})
	}
}

// The Pause policy stops a real generator while the clock is off Redis's by
// more than MaxSkew, and lets it go on once it is back.
func TestPausePolicyStopsGenerator(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	clock := newTestClock(0)
	gen, err := snowflake.New(snowflake.Twitter(), 3, snowflake.Options{Clock: clock})
	require.NoError(t, err)
	g, _ := startGuard(t, s.Client(t), clockguard.Options{
		Interval: tickInterval, MaxSkew: 50 * time.Millisecond,
		Policy: clockguard.Pause, Target: gen, Clock: clock,
	})
	is := startIssuing(t, gen, 2)

	clock.Set(2 * time.Second)
	clock.tick(t, g)
	require.Eventually(t, gen.Paused, 5*time.Second, time.Millisecond, "generator paused")
	_, err = gen.Next()
	require.ErrorIs(t, err, snowflake.ErrPaused, "Next while skewed")
	// A call past its check when Pause came may still end with an ID: wait
	// until every goroutine has been refused once, then no ID comes while
	// each is refused a hundred times more.
	require.Eventually(t, func() bool { return min(is.refusals()[0], is.refusals()[1]) > 0 }, 5*time.Second, time.Millisecond,
		"issuers refused")
	before, refused := is.n.Load(), is.refusals()
	require.Eventually(t, func() bool {
		r := is.refusals()
		return r[0] >= refused[0]+100 && r[1] >= refused[1]+100
	}, 5*time.Second, time.Millisecond, "more refusals")
	require.Equal(t, before, is.n.Load(), "IDs issued while paused")

	clock.Set(0)
	clock.tick(t, g)
	require.Eventually(t, func() bool { return !gen.Paused() }, 5*time.Second, time.Millisecond, "generator resumed")
	require.Eventually(t, func() bool { return is.n.Load() > before }, 5*time.Second, time.Millisecond, "IDs after the resume")
	_, err = gen.Next()
	require.NoError(t, err, "Next after the skew cleared")
	is.check(t)
	st := g.Stats()
	assert.False(t, st.Paused, "stats: %+v", st)
	assert.False(t, st.Beyond, "stats: %+v", st)
}

// A check hanging on a stopped Redis does not slow the generator down.
func TestRedisPauseDoesNotBlockNext(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	client := s.Client(t)
	clock := newTestClock(0)
	gen, err := snowflake.New(snowflake.Twitter(), 1, snowflake.Options{Clock: clock})
	require.NoError(t, err)
	g, _ := startGuard(t, client, clockguard.Options{
		Interval: tickInterval, Timeout: 500 * time.Millisecond, Clock: clock,
		Policy: clockguard.Pause, Target: gen,
	})
	sent := timeSent(client)
	s.Pause()
	t.Cleanup(s.Resume)
	done := make(chan error, 1)
	go func() {
		_, err := g.CheckNow(context.Background())
		done <- err
	}()
	wait(t, sent, "the check's TIME request") // it now waits on Redis
	slowest := time.Duration(0)
	for range 1000 {
		t0 := time.Now()
		_, err := gen.Next()
		require.NoError(t, err, "Next during the check")
		slowest = max(slowest, time.Since(t0))
	}
	assert.Less(t, slowest, 100*time.Millisecond, "Next while a check waited on Redis")
	require.ErrorIs(t, <-done, clockguard.ErrUnreachable, "the check")
	assert.True(t, g.Stats().Stale, "stale after the failed check")
	assert.False(t, gen.Paused(), "paused after the failed check")
}
