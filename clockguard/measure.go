package clockguard

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen/snowflake"
)

// Estimate is one measurement of the local wall clock against Redis TIME.
// The true offset lies within Offset ± Uncertainty. It is a plain value,
// safe for concurrent use.
type Estimate struct {
	// Offset is local wall time minus Redis time: positive when the local
	// clock is ahead.
	Offset time.Duration
	// Uncertainty is half the best round trip plus TimeResolution.
	Uncertainty time.Duration
	// RTT is the best sample's round trip, by the monotonic clock.
	RTT time.Duration
	// At is the local wall time of the best sample's midpoint.
	At time.Time
	// Samples is how many samples answered.
	Samples int
}

// Beyond reports whether |Offset| is certainly beyond bound: more than
// bound plus the uncertainty.
func (e Estimate) Beyond(bound time.Duration) bool {
	return e.Offset.Abs() > bound+e.Uncertainty
}

func (e Estimate) String() string {
	return fmt.Sprintf("offset %v ± %v (round trip %v, %d samples)", e.Offset, e.Uncertainty, e.RTT, e.Samples)
}

// SkewError reports a clock beyond the bound. It wraps ErrClockSkew. It is
// a plain value, safe for concurrent use.
type SkewError struct {
	Estimate Estimate
	MaxSkew  time.Duration
}

func (e *SkewError) Error() string {
	dir := "ahead of"
	if e.Estimate.Offset < 0 {
		dir = "behind"
	}
	return fmt.Sprintf("%v: local clock is %v %s Redis TIME (offset %v ± %v uncertainty, round trip %v), bound MaxSkew %v",
		ErrClockSkew, e.Estimate.Offset.Abs(), dir, e.Estimate.Offset, e.Estimate.Uncertainty, e.Estimate.RTT, e.MaxSkew)
}

func (e *SkewError) Unwrap() error { return ErrClockSkew }

// Measure estimates the offset of clock (nil: the system clock) from Redis
// TIME with the best of samples round trips, one TIME command each. It
// returns as soon as ctx ends, even when the client would wait longer for
// its own read timeout: the abandoned request then ends in the background.
// It returns an estimate when at least one sample answered, and otherwise
// an error wrapping ErrUnreachable. Where TIME goes is described in the
// package documentation; to pin a cluster node, pass
// ClusterClient.MasterForKey's client.
func Measure(ctx context.Context, client redis.UniversalClient, clock snowflake.Clock, samples int) (Estimate, error) {
	if samples < 1 || samples > MaxSamples {
		return Estimate{}, optErr("samples", samples, fmt.Sprintf("1 to %d", MaxSamples))
	}
	if client == nil {
		return Estimate{}, errNilClient()
	}
	if clock == nil {
		clock = snowflake.SystemClock()
	}
	return measure(ctx, source(client, ""), clock, samples, nil)
}

// timeSource resolves the node that answers TIME.
type timeSource func(ctx context.Context) (redis.Cmdable, error)

func source(client redis.UniversalClient, key string) timeSource {
	cc, ok := client.(*redis.ClusterClient)
	if !ok || key == "" {
		return func(context.Context) (redis.Cmdable, error) { return client, nil }
	}
	return func(ctx context.Context) (redis.Cmdable, error) {
		node, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return nil, err
		}
		return node, nil
	}
}

// sample is one TIME round trip.
type sample struct {
	wall   time.Time     // local wall clock just before the send
	rtt    time.Duration // monotonic send-to-receive
	server time.Time     // Redis TIME reply
}

func (s sample) estimate() Estimate {
	mid := s.wall.Add(s.rtt / 2)
	return Estimate{
		Offset:      mid.Sub(s.server),
		Uncertainty: s.rtt/2 + TimeResolution,
		RTT:         s.rtt,
		At:          mid,
	}
}

var errOutstanding = errors.New("the previous TIME request is still outstanding")

// measure takes up to n samples and keeps the one with the smallest round
// trip. It stops at the first failure; the samples taken before it stand.
// With gate set, at most one request is outstanding at a time, counting
// abandoned ones.
func measure(ctx context.Context, src timeSource, clock snowflake.Clock, n int, gate *atomic.Bool) (Estimate, error) {
	var best sample
	got := 0
	var lastErr error
	for range n {
		s, err := sampleOnce(ctx, src, clock, gate)
		if err != nil {
			lastErr = err
			break
		}
		if got == 0 || s.rtt < best.rtt {
			best = s
		}
		got++
	}
	if got == 0 {
		return Estimate{}, fmt.Errorf("%w: %w", ErrUnreachable, lastErr)
	}
	e := best.estimate()
	e.Samples = got
	return e, nil
}

type sampleResult struct {
	s   sample
	err error
}

// sampleOnce runs one TIME in its own goroutine so that ctx bounds it even
// when the client ignores context deadlines (go-redis does unless
// ContextTimeoutEnabled is set).
func sampleOnce(ctx context.Context, src timeSource, clock snowflake.Clock, gate *atomic.Bool) (sample, error) {
	if err := ctx.Err(); err != nil {
		return sample{}, err
	}
	if gate != nil && !gate.CompareAndSwap(false, true) {
		return sample{}, errOutstanding
	}
	ch := make(chan sampleResult, 1)
	go func() {
		r := timeOnce(ctx, src, clock)
		if gate != nil {
			gate.Store(false) // before the send: the caller may sample again at once
		}
		ch <- r
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		select {
		case r := <-ch: // answered just in time
			return r.s, r.err
		default:
			return sample{}, ctx.Err()
		}
	}
}

func timeOnce(ctx context.Context, src timeSource, clock snowflake.Clock) sampleResult {
	c, err := src(ctx)
	if err != nil {
		return sampleResult{err: err}
	}
	// Monotonic first, then wall: the request leaves after both readings,
	// so the server's clock is read inside [m0, m1] and no later than
	// wall + rtt.
	m0 := clock.Monotonic()
	wall := clock.Now().Round(0)
	r, err := c.Time(ctx).Result()
	m1 := clock.Monotonic()
	if err != nil {
		return sampleResult{err: err}
	}
	if m1 < m0 {
		return sampleResult{err: fmt.Errorf("monotonic clock went backwards by %v", m0-m1)}
	}
	return sampleResult{s: sample{wall: wall, rtt: m1 - m0, server: r}}
}
