package lease

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/internal/redistest"
)

// Init makes the first acquire start at once; it refuses a namespace that
// has any of its keys.
func TestInitSkipsFirstUseQuarantine(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	ctx := context.Background()
	o := testOpts("init", layout64)
	o.MaxSkew = time.Second // a first-use quarantine would be TTL + 1 s
	require.NoError(t, Init(ctx, c, o))
	l := mustAcquire(t, c, o)
	now := redisTick(t, c, layout64)
	assert.True(t, l.StartAfter() < now, "after Init the first holder starts after %d, ahead of Redis tick %d", l.StartAfter(), now)
	assert.Equal(t, layout64.Fingerprint(), c.HGet(ctx, KeysOf("init").Meta(), "layout").Val(), "layout recorded")

	require.ErrorIs(t, Init(ctx, c, o), ErrNamespaceInUse)

	// A lease key alone (the rest deleted) still means the namespace was used.
	other := testOpts("init2", layout64)
	require.NoError(t, c.Set(ctx, KeysOf("init2").Lease(63), "tok|h|1|2|3", time.Minute).Err())
	require.ErrorIs(t, Init(ctx, c, other), ErrNamespaceInUse)
	assert.Equal(t, int64(0), c.Exists(ctx, KeysOf("init2").Meta(), KeysOf("init2").Epoch()).Val(), "keys written by a refused Init")

	_, err := Acquire(ctx, c, Options{Namespace: "init", Layout: oneWorker, TTL: time.Second})
	require.ErrorIs(t, err, ErrLayoutMismatch)
}
