package idgen_test

import (
	"context"
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
// the start retries, then the generator issues IDs once Redis is back.
func TestStartInBackground(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := redis.NewClient(&redis.Options{Addr: rs.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	opts := fast("bg")
	opts.OpTimeout = 200 * time.Millisecond
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
	time.Sleep(500 * time.Millisecond) // a failed attempt or two
	assert.ErrorIs(t, s.Ready(), idgen.ErrUnavailable)

	rs.Resume()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
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
	s, err = idgen.Start(client, idgen.Options{Namespace: "slow"})
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond)
	assert.ErrorIs(t, s.Ready(), idgen.ErrUnavailable)
	require.NoError(t, s.Close(ctx))
	assert.ErrorIs(t, s.Ready(), idgen.ErrClosed)
	infos, err := lease.List(ctx, client, "slow")
	require.NoError(t, err)
	assert.Empty(t, infos, "a closed start leaves no lease")
}
