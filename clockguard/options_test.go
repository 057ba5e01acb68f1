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
				require.NoError(t, err, "valid options refused")
				return
			}
			var oe *clockguard.OptionError
			require.ErrorIs(t, err, clockguard.ErrInvalidOptions)
			require.ErrorAs(t, err, &oe)
			require.Equal(t, c.field, oe.Field, "the field named")
			require.Contains(t, err.Error(), c.field+" is ")
			require.Contains(t, err.Error(), "allowed")
			// The constructors refuse the same options before touching Redis.
			_, err = clockguard.New(nowhere, c.opts)
			require.ErrorAs(t, err, &oe, "New accepted them")
			_, err = clockguard.Check(context.Background(), nowhere, c.opts)
			require.ErrorAs(t, err, &oe, "Check accepted them")
		})
	}
}

func TestBadArguments(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: closedAddr(t)})
	t.Cleanup(func() { _ = c.Close() })
	for _, n := range []int{0, -1, clockguard.MaxSamples + 1} {
		var oe *clockguard.OptionError
		_, err := clockguard.Measure(context.Background(), c, nil, n)
		if assert.ErrorAs(t, err, &oe, "Measure with %d samples", n) {
			assert.Equal(t, "samples", oe.Field, "Measure with %d samples", n)
		}
	}
	var oe *clockguard.OptionError
	_, err := clockguard.Measure(context.Background(), nil, nil, 1)
	if assert.ErrorAs(t, err, &oe, "Measure with a nil client") {
		assert.Equal(t, "client", oe.Field, "Measure with a nil client")
	}
	_, err = clockguard.Start(context.Background(), nil, clockguard.Options{})
	if assert.ErrorAs(t, err, &oe, "Start with a nil client") {
		assert.Equal(t, "client", oe.Field, "Start with a nil client")
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
	require.ErrorAs(t, err, &oe, "Check")
	require.Equal(t, "MaxSkew", oe.Field, "Check")
	require.Contains(t, err.Error(), "measured uncertainty", "Check")
	g, err := clockguard.Start(context.Background(), client, opts)
	require.Nil(t, g, "Start")
	require.ErrorAs(t, err, &oe, "Start")
	require.Equal(t, "MaxSkew", oe.Field, "Start")
	opts.MaxSkew = 50 * time.Millisecond
	_, err = clockguard.Check(context.Background(), client, opts)
	require.NoError(t, err, "a resolvable MaxSkew refused")
}
