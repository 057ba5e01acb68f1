package clockguard_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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
			est, err := clockguard.Measure(context.Background(), client, newFakeClock(off), 5)
			if err != nil {
				t.Fatal(err)
			}
			// Redis shares this host's clock: the true offset is the injected one.
			within(t, "offset", est.Offset, off, est.Uncertainty)
			if est.Samples != 5 {
				t.Errorf("samples = %d, want 5", est.Samples)
			}
			if est.RTT <= 0 || est.Uncertainty != est.RTT/2+clockguard.TimeResolution {
				t.Errorf("rtt %v, uncertainty %v: want uncertainty = rtt/2 + %v", est.RTT, est.Uncertainty, clockguard.TimeResolution)
			}
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
				MaxSkew: c.maxSkew, Clock: newFakeClock(c.off),
			})
			if !c.refuse {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				within(t, "offset", est.Offset, c.off, est.Uncertainty)
				return
			}
			if !errors.Is(err, clockguard.ErrClockSkew) {
				t.Fatalf("err = %v, want ErrClockSkew", err)
			}
			var se *clockguard.SkewError
			if !errors.As(err, &se) {
				t.Fatalf("err %T is not a *SkewError", err)
			}
			if se.MaxSkew != c.maxSkew || se.Estimate != est {
				t.Errorf("SkewError carries %v / %v, want %v / %v", se.Estimate, se.MaxSkew, est, c.maxSkew)
			}
			within(t, "offset", est.Offset, c.off, est.Uncertainty)
			msg := err.Error()
			for _, want := range []string{est.Offset.String(), "MaxSkew " + c.maxSkew.String(), est.Uncertainty.String() + " uncertainty"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not say %q", msg, want)
				}
			}
			dir := "ahead of"
			if c.off < 0 {
				dir = "behind"
			}
			if !strings.Contains(msg, dir) {
				t.Errorf("message %q does not say %q", msg, dir)
			}
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
	clock := newFakeClock(2 * time.Second)
	ctx := context.Background()

	base, err := clockguard.Measure(ctx, client, clock, 5)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "offset without latency", base.Offset, clock.Offset(), base.Uncertainty)

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
			if err != nil {
				t.Fatal(err)
			}
			if est.RTT < c.added || est.Uncertainty < c.added/2 {
				t.Errorf("rtt %v, uncertainty %v with %v added to the round trip", est.RTT, est.Uncertainty, c.added)
			}
			if grew := est.Uncertainty - base.Uncertainty; grew < c.added/2-2*time.Millisecond {
				t.Errorf("uncertainty grew by %v, want about %v", grew, c.added/2)
			}
			within(t, "offset", est.Offset, clock.Offset(), est.Uncertainty)
			// The one-sided delay shows in the offset, by about half of it:
			// the reason the uncertainty is what a check must allow for.
			within(t, "offset error", est.Offset-clock.Offset(), c.bias, d/4)
		})
	}
}

func TestMeasureUnreachable(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := clockguard.Measure(ctx, c, nil, 3)
	if !errors.Is(err, clockguard.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}

// Measure returns when ctx ends, even though go-redis (without
// ContextTimeoutEnabled) would wait for its read timeout.
func TestMeasureHonoursContext(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	client := s.Client(t)
	if err := client.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	s.Pause()
	t.Cleanup(s.Resume)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := clockguard.Measure(ctx, client, nil, 3)
	if !errors.Is(err, clockguard.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrUnreachable from the deadline", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Measure took %v with a 100ms context", took)
	}
}

// On a cluster, Options.Key sends TIME to the master of the key's slot: the
// check passes while every other master is stopped.
func TestClusterKeyRouting(t *testing.T) {
	c := redistest.StartCluster(t, redistest.ClusterConfig{Masters: 2})
	client := c.Client(t)
	const key = "{idgen}"
	clock := newFakeClock(-10 * time.Millisecond)
	opts := clockguard.Options{Key: key, Clock: clock, MaxSkew: 50 * time.Millisecond, Timeout: 500 * time.Millisecond}
	if _, err := clockguard.Check(context.Background(), client, opts); err != nil {
		t.Fatal(err) // also loads the client's view of the slots
	}

	owner := c.MasterFor(t, key)
	for _, m := range c.Masters {
		if m != owner {
			m.Pause()
			t.Cleanup(m.Resume)
		}
	}
	for range 3 {
		est, err := clockguard.Check(context.Background(), client, opts)
		if err != nil {
			t.Fatalf("with the other masters stopped: %v", err)
		}
		within(t, "offset", est.Offset, clock.Offset(), est.Uncertainty)
	}
}
