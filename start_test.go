package idgen_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/snowflake"
)

// Start returns at once; readiness says "starting" while Redis is down and
// the start retries after a back-off on its clock (virtual here), then the
// generator issues IDs once Redis is back.
func TestStartInBackground(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := redis.NewClient(&redis.Options{Addr: rs.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	opts := fast("bg")
	opts.OpTimeout = 200 * time.Millisecond
	require.NoError(t, idgen.Init(context.Background(), client, opts)) // no start-up wait once Redis is back
	clk := newVirtualTimers()
	opts.Clock = clk
	rs.Pause()
	begin := time.Now()
	s, err := idgen.Start(client, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	assert.Less(t, time.Since(begin), time.Second, "Start does not wait for Redis")

	err = s.Ready()
	assert.ErrorIs(t, err, idgen.ErrUnavailable)
	assert.Contains(t, err.Error(), "starting")
	_, err = s.Next()
	assert.ErrorIs(t, err, idgen.ErrUnavailable)
	assert.Nil(t, s.Generator())

	// The first attempt fails (the clock check times out on the stopped
	// Redis) and the start backs off; it tries again only when the back-off
	// is over, Redis back or not.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, clk.BlockUntil(ctx, 1), "the back-off")
	err = s.Ready()
	assert.ErrorIs(t, err, idgen.ErrUnavailable)
	assert.Contains(t, err.Error(), "the last attempt failed")
	rs.Resume()
	assert.Nil(t, s.Generator(), "started before the back-off was over")
	clk.Advance(100 * time.Millisecond)
	id, err := s.NextContext(ctx)
	require.NoError(t, err)
	assert.Positive(t, id)
	require.NoError(t, s.Ready())
	require.NotNil(t, s.Generator())
	assert.Equal(t, snowflake.Twitter(), s.Layout())
	require.NoError(t, s.Close(context.Background()))
	assert.ErrorIs(t, s.Ready(), idgen.ErrClosed)
}

// A start that cannot succeed by retrying ends with its error; Close stops
// a start in progress.
func TestStartFailsForGoodOrCloses(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	ctx := context.Background()
	require.NoError(t, idgen.Init(ctx, client, idgen.Options{Namespace: "fixed", Layout: snowflake.Sonyflake()}))
	s, err := idgen.Start(client, idgen.Options{Namespace: "fixed"}) // Twitter layout: a mismatch
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = s.Wait(wctx)
	assert.ErrorIs(t, err, lease.ErrLayoutMismatch)
	assert.ErrorIs(t, s.Ready(), lease.ErrLayoutMismatch)
	require.NoError(t, s.Close(ctx))

	_, err = idgen.Start(client, idgen.Options{TTL: -1})
	assert.ErrorIs(t, err, idgen.ErrInvalidOptions, "bad options are refused at once")

	// A namespace in quarantine (new, no Init): Close during the wait.
	waiting := make(chan struct{})
	var once sync.Once
	s, err = idgen.Start(client, idgen.Options{Namespace: "slow",
		OnStartWait: func(idgen.StartWait) { once.Do(func() { close(waiting) }) }})
	require.NoError(t, err)
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the start did not wait out the quarantine")
	}
	assert.ErrorIs(t, s.Ready(), idgen.ErrUnavailable)
	require.NoError(t, s.Close(ctx))
	assert.ErrorIs(t, s.Ready(), idgen.ErrClosed)
	infos, err := lease.List(ctx, client, "slow")
	require.NoError(t, err)
	assert.Empty(t, infos, "a closed start leaves no lease")
}
