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
	"github.com/snowlease/idgen/snowflake"
)

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name  string
		opts  clockguard.Options
		field string // "" = valid
	}{
		{"zero means defaults", clockguard.Options{}, ""},
		{"negative interval", clockguard.Options{Interval: -time.Second}, "Interval"},
		{"interval below minimum", clockguard.Options{Interval: time.Millisecond}, "Interval"},
		{"smallest interval", clockguard.Options{Interval: clockguard.MinInterval}, ""},
		{"negative samples", clockguard.Options{Samples: -1}, "Samples"},
		{"too many samples", clockguard.Options{Samples: clockguard.MaxSamples + 1}, "Samples"},
		{"negative max skew", clockguard.Options{MaxSkew: -time.Second}, "MaxSkew"},
		{"max skew below 1ms", clockguard.Options{MaxSkew: 500 * time.Microsecond}, "MaxSkew"},
		{"smallest max skew", clockguard.Options{MaxSkew: clockguard.MinMaxSkew}, ""},
		{"negative timeout", clockguard.Options{Timeout: -time.Second}, "Timeout"},
		{"unknown policy", clockguard.Options{Policy: 7}, "Policy"},
		{"negative HWM tolerance", clockguard.Options{HWMTolerance: -1}, "HWMTolerance"},
		{"HWM with a bad layout", clockguard.Options{
			HWM: func() int64 { return 0 }, Layout: snowflake.Layout{TimeUnit: time.Millisecond, TimeBits: 41},
		}, "Layout"},
		{"HWM with the default layout", clockguard.Options{HWM: func() int64 { return 0 }}, ""},
	}
	nowhere := redis.NewClient(&redis.Options{Addr: closedAddr(t)})
	t.Cleanup(func() { _ = nowhere.Close() })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.opts.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("valid options refused: %v", err)
				}
				return
			}
			var oe *clockguard.OptionError
			if !errors.Is(err, clockguard.ErrInvalidOptions) || !errors.As(err, &oe) {
				t.Fatalf("err = %v, want an *OptionError", err)
			}
			if oe.Field != c.field || !strings.Contains(err.Error(), c.field+" is ") || !strings.Contains(err.Error(), "allowed") {
				t.Fatalf("err = %q names field %q, want %q and the allowed range", err, oe.Field, c.field)
			}
			// The constructors refuse the same options before touching Redis.
			if _, err := clockguard.New(nowhere, c.opts); !errors.As(err, &oe) {
				t.Fatalf("New accepted them: %v", err)
			}
			if _, err := clockguard.Check(context.Background(), nowhere, c.opts); !errors.As(err, &oe) {
				t.Fatalf("Check accepted them: %v", err)
			}
		})
	}
}

func TestBadArguments(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: closedAddr(t)})
	t.Cleanup(func() { _ = c.Close() })
	for _, n := range []int{0, -1, clockguard.MaxSamples + 1} {
		var oe *clockguard.OptionError
		if _, err := clockguard.Measure(context.Background(), c, nil, n); !errors.As(err, &oe) || oe.Field != "samples" {
			t.Errorf("Measure with %d samples: %v", n, err)
		}
	}
	var oe *clockguard.OptionError
	if _, err := clockguard.Measure(context.Background(), nil, nil, 1); !errors.As(err, &oe) || oe.Field != "client" {
		t.Errorf("Measure with a nil client: %v", err)
	}
	if _, err := clockguard.Start(context.Background(), nil, clockguard.Options{}); !errors.As(err, &oe) || oe.Field != "client" {
		t.Errorf("Start with a nil client: %v", err)
	}
}

// A MaxSkew the round trip cannot resolve is refused at start, naming the
// measured uncertainty.
func TestMaxSkewBelowMeasuredUncertainty(t *testing.T) {
	s := redistest.Start(t, redistest.Config{})
	p := redistest.NewProxy(t, s.Addr)
	p.SetLatency(redistest.Both, 5*time.Millisecond)
	client := redis.NewClient(&redis.Options{Addr: p.Addr})
	t.Cleanup(func() { _ = client.Close() })
	opts := clockguard.Options{MaxSkew: 2 * time.Millisecond}

	_, err := clockguard.Check(context.Background(), client, opts)
	var oe *clockguard.OptionError
	if !errors.As(err, &oe) || oe.Field != "MaxSkew" || !strings.Contains(err.Error(), "measured uncertainty") {
		t.Fatalf("Check: %v, want a MaxSkew error naming the measured uncertainty", err)
	}
	g, err := clockguard.Start(context.Background(), client, opts)
	if g != nil || !errors.As(err, &oe) || oe.Field != "MaxSkew" {
		t.Fatalf("Start: %v, %v", g, err)
	}
	opts.MaxSkew = 50 * time.Millisecond
	if _, err := clockguard.Check(context.Background(), client, opts); err != nil {
		t.Fatalf("a resolvable MaxSkew refused: %v", err)
	}
}
