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
)

var offsets = []time.Duration{
	10 * time.Millisecond, -10 * time.Millisecond,
	2 * time.Second, -2 * time.Second,
	time.Hour, -time.Hour,
}

func TestMeasureWithinUncertainty(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	client := s.Client(t)
	for _, off := range offsets {
		t.Run(off.String(), func(t *testing.T) {
			est, err := clockguard.Measure(context.Background(), client, newTestClock(off), 5)
			require.NoError(t, err)
			// Redis shares this host's clock: the true offset is the injected one.
			assert.InDelta(t, off, est.Offset, float64(est.Uncertainty), "offset")
			assert.Equal(t, 5, est.Samples, "samples")
			assert.Positive(t, est.RTT, "rtt")
			assert.Equal(t, est.RTT/2+clockguard.TimeResolution, est.Uncertainty, "uncertainty = rtt/2 + TimeResolution")
		})
	}
}

func TestCheckBound(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	client := s.Client(t)
	cases := []struct {
		off, maxSkew time.Duration
		refuse       bool
	}{
		{10 * time.Millisecond, 50 * time.Millisecond, false},
		{-10 * time.Millisecond, 50 * time.Millisecond, false},
		{2 * time.Second, 50 * time.Millisecond, true},
		{-2 * time.Second, 50 * time.Millisecond, true},
		{2 * time.Second, time.Second, true},
		{-2 * time.Second, time.Second, true},
		{time.Hour, time.Second, true},
		{-time.Hour, time.Second, true},
		{10 * time.Millisecond, time.Second, false},
	}
	for _, c := range cases {
		t.Run(c.off.String()+"/"+c.maxSkew.String(), func(t *testing.T) {
			est, err := clockguard.Check(context.Background(), client, clockguard.Options{
				MaxSkew: c.maxSkew, Clock: newTestClock(c.off),
			})
			if !c.refuse {
				require.NoError(t, err, "refused")
				assert.InDelta(t, c.off, est.Offset, float64(est.Uncertainty), "offset")
				return
			}
			require.ErrorIs(t, err, clockguard.ErrClockSkew)
			var se *clockguard.SkewError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, c.maxSkew, se.MaxSkew, "SkewError's MaxSkew")
			assert.Equal(t, est, se.Estimate, "SkewError's estimate")
			assert.InDelta(t, c.off, est.Offset, float64(est.Uncertainty), "offset")
			msg := err.Error()
			for _, want := range []string{est.Offset.String(), "MaxSkew " + c.maxSkew.String(), est.Uncertainty.String() + " uncertainty"} {
				assert.Contains(t, msg, want)
			}
			dir := "ahead of"
			if c.off < 0 {
				dir = "behind"
			}
			assert.Contains(t, msg, dir)
		})
	}
}

// Through a delaying proxy the uncertainty grows with the added round trip,
// and the true offset stays inside offset ± uncertainty, even when the delay
// is all on one side (which biases the offset itself).
func TestProxyLatency(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	p := redistest.NewProxy(t, s.Addr)
	client := redis.NewClient(&redis.Options{Addr: p.Addr})
	t.Cleanup(func() { _ = client.Close() })
	clock := newTestClock(2 * time.Second)
	ctx := context.Background()

	base, err := clockguard.Measure(ctx, client, clock, 5)
	require.NoError(t, err)
	assert.InDelta(t, clock.Offset(), base.Offset, float64(base.Uncertainty), "offset without latency")

	const d = 30 * time.Millisecond
	cases := []struct {
		name  string
		dir   redistest.Direction
		added time.Duration // added round trip
		bias  time.Duration // expected sign and size of the offset's error
	}{
		{"both", redistest.Both, 2 * d, 0},
		{"upstream", redistest.Upstream, d, -d / 2},
		{"downstream", redistest.Downstream, d, d / 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p.SetLatency(redistest.Both, 0)
			p.SetLatency(c.dir, d)
			t.Cleanup(func() { p.SetLatency(redistest.Both, 0) })
			est, err := clockguard.Measure(ctx, client, clock, 3)
			require.NoError(t, err)
			assert.GreaterOrEqual(t, est.RTT, c.added, "rtt with %v added to the round trip", c.added)
			assert.GreaterOrEqual(t, est.Uncertainty, c.added/2, "uncertainty with %v added to the round trip", c.added)
			assert.GreaterOrEqual(t, est.Uncertainty-base.Uncertainty, c.added/2-2*time.Millisecond, "uncertainty grew by about %v", c.added/2)
			assert.InDelta(t, clock.Offset(), est.Offset, float64(est.Uncertainty), "offset")
			// The one-sided delay shows in the offset, by about half of it:
			// the reason the uncertainty is what a check must allow for.
			assert.InDelta(t, c.bias, est.Offset-clock.Offset(), float64(d/4), "offset error")
		})
	}
}

func TestMeasureUnreachable(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := clockguard.Measure(ctx, c, nil, 3)
	require.ErrorIs(t, err, clockguard.ErrUnreachable)
}

// Measure returns when ctx ends, even though go-redis (without
// ContextTimeoutEnabled) would wait for its read timeout.
func TestMeasureHonoursContext(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	client := s.Client(t)
	require.NoError(t, client.Ping(context.Background()).Err())
	s.Pause()
	t.Cleanup(s.Resume)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := clockguard.Measure(ctx, client, nil, 3)
	require.ErrorIs(t, err, clockguard.ErrUnreachable)
	require.ErrorIs(t, err, context.DeadlineExceeded, "the error comes from the deadline")
	assert.Less(t, time.Since(start), time.Second, "Measure with a 100ms context")
}

// On a cluster, Options.Key sends TIME to the master of the key's slot: the
// check passes while every other master is stopped.
func TestClusterKeyRouting(t *testing.T) {
	c := redistest.StartCluster(t, redistest.ClusterConfig{Masters: 2})
	client := c.Client(t)
	const key = "{idgen}"
	clock := newTestClock(-10 * time.Millisecond)
	opts := clockguard.Options{Key: key, Clock: clock, MaxSkew: 50 * time.Millisecond, Timeout: 500 * time.Millisecond}
	_, err := clockguard.Check(context.Background(), client, opts)
	require.NoError(t, err) // also loads the client's view of the slots

	owner := c.MasterFor(t, key)
	for _, m := range c.Masters {
		if m != owner {
			m.Pause()
			t.Cleanup(m.Resume)
		}
	}
	for range 3 {
		est, err := clockguard.Check(context.Background(), client, opts)
		require.NoError(t, err, "with the other masters stopped")
		assert.InDelta(t, clock.Offset(), est.Offset, float64(est.Uncertainty), "offset")
	}
}
