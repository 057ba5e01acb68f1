package lease

import (
	"context"
	"testing"
	"time"

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
	noErr(t, Init(ctx, c, o))
	l := mustAcquire(t, c, o)
	now := redisTick(t, c, layout64)
	check(t, l.StartAfter() < now, "after Init the first holder starts after %d, ahead of Redis tick %d", l.StartAfter(), now)
	equal(t, c.HGet(ctx, KeysOf("init").Meta(), "layout").Val(), layout64.Fingerprint(), "layout recorded")

	errIs(t, Init(ctx, c, o), ErrNamespaceInUse)

	// A lease key alone (the rest deleted) still means the namespace was used.
	other := testOpts("init2", layout64)
	noErr(t, c.Set(ctx, KeysOf("init2").Lease(63), "tok|h|1|2|3", time.Minute).Err())
	errIs(t, Init(ctx, c, other), ErrNamespaceInUse)
	equal(t, c.Exists(ctx, KeysOf("init2").Meta(), KeysOf("init2").Epoch()).Val(), int64(0), "keys written by a refused Init")

	_, err := Acquire(ctx, c, Options{Namespace: "init", Layout: oneWorker, TTL: time.Second})
	errIs(t, err, ErrLayoutMismatch)
}
