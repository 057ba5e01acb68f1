package idgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen/clock"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/snowflake"
)

// Starting is a Generator being started in the background, for a service
// that brings its listener up first and reports "not ready" until the
// worker ID is held (Start). It is a Source: Next, NextN and NextContext
// work as the Generator's once it is running, and answer ErrUnavailable
// ("starting: ...") before. Safe for concurrent use.
//
// The zero Starting is closed and never started: Ready, Wait, Next, NextN
// and NextContext return an error matching ErrClosed, Generator is nil and
// Close returns nil.
type Starting struct {
	layout snowflake.Layout
	gen    atomic.Pointer[Generator]
	cancel context.CancelFunc
	done   chan struct{} // closed when the start succeeded or failed for good

	mu      sync.Mutex
	lastErr error // why the last attempt failed (nil before the first)
	failErr error // set when the start failed for good
}

// Start is New without the wait: it checks every option at once (a bad
// option is returned as by New, with no network call), then starts the
// Generator in the background and returns. A start that fails for a reason
// that retrying can fix (Redis unreachable, no free worker ID, clock skew,
// not enough replicas) is retried with a growing back-off (up to 5 s); one
// that cannot (a layout mismatch, refused credentials or permissions, an
// evicting Redis) ends it: Ready then returns that error for good. Close
// stops the start, or closes the Generator once started.
func Start(client redis.UniversalClient, opts Options) (*Starting, error) {
	if client == nil {
		return nil, errNilClient()
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := opts.withDefaults()
	s := &Starting{layout: d.Layout, cancel: cancel, done: make(chan struct{})}
	go s.run(ctx, client, opts, d.Clock)
	return s, nil
}

func (s *Starting) run(ctx context.Context, client redis.UniversalClient, opts Options, c clock.Clock) {
	defer close(s.done)
	backoff := 100 * time.Millisecond
	for {
		g, err := New(ctx, client, opts)
		if err == nil {
			s.gen.Store(g)
			return
		}
		s.mu.Lock()
		s.lastErr = err
		if ctx.Err() != nil || permanent(err) {
			s.failErr = err
			if ctx.Err() != nil {
				s.failErr = ErrClosed
			}
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		_ = clock.Sleep(ctx, c, backoff) // an ended ctx ends the next attempt, and the loop
		backoff = min(2*backoff, 5*time.Second)
	}
}

// errZeroStarting is what the methods of a zero Starting return.
var errZeroStarting = fmt.Errorf("%w (a zero Starting: make one with Start)", ErrClosed)

// permanent reports whether a start error cannot be fixed by retrying.
func permanent(err error) bool {
	for _, e := range []error{ErrInvalidOptions, ErrRedisAuth, lease.ErrLayoutMismatch, lease.ErrEvictionPolicy,
		lease.ErrNoServerInfo, lease.ErrForeignKey} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Generator is the started Generator, or nil while starting (or after the
// start failed).
func (s *Starting) Generator() *Generator { return s.gen.Load() }

// Ready is nil once the Generator is running and ready (Generator.Ready);
// before, an error matching ErrUnavailable that says what the start waits
// for; after a start that failed for good, that error.
func (s *Starting) Ready() error {
	if g := s.gen.Load(); g != nil {
		return g.Ready()
	}
	if s.done == nil {
		return errZeroStarting
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.failErr != nil:
		return s.failErr
	case s.lastErr != nil:
		return fmt.Errorf("%w: starting: the last attempt failed: %w", ErrUnavailable, s.lastErr)
	}
	return fmt.Errorf("%w: starting: acquiring a worker ID", ErrUnavailable)
}

// Wait waits until the Generator is running (and returns it) or the start
// failed for good, or ctx ends.
func (s *Starting) Wait(ctx context.Context) (*Generator, error) {
	if s.done == nil {
		return nil, errZeroStarting
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w (while: %w)", ctx.Err(), s.Ready())
	}
	if g := s.gen.Load(); g != nil {
		return g, nil
	}
	return nil, s.Ready()
}

// Next is the Generator's Next once started; before, the error Ready gives.
func (s *Starting) Next() (snowflake.ID, error) {
	if g := s.gen.Load(); g != nil {
		return g.Next()
	}
	return 0, s.Ready()
}

// NextN is the Generator's NextN once started; before, 0 and the error
// Ready gives.
func (s *Starting) NextN(dst []snowflake.ID) (int, error) {
	if g := s.gen.Load(); g != nil {
		return g.NextN(dst)
	}
	return 0, s.Ready()
}

// NextContext waits for the start (and then for the Generator to recover,
// as Generator.NextContext does) until ctx ends.
func (s *Starting) NextContext(ctx context.Context) (snowflake.ID, error) {
	g, err := s.Wait(ctx)
	if err != nil {
		return 0, err
	}
	return g.NextContext(ctx)
}

// Layout is the bit layout of the IDs.
func (s *Starting) Layout() snowflake.Layout { return s.layout }

// Close stops a start in progress, or closes the started Generator (see
// Generator.Close). Idempotent.
func (s *Starting) Close(ctx context.Context) error {
	if s.done == nil {
		return nil // the zero Starting runs nothing
	}
	s.cancel()
	select {
	case <-s.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if g := s.gen.Load(); g != nil {
		return g.Close(ctx)
	}
	return nil
}

var _ Source = (*Starting)(nil)
