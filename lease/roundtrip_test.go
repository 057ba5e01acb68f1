package lease

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/internal/redistest"
)

// tripCounter counts the round trips of the lease's calls: single script
// commands and pipelines holding one (a new connection's handshake is not
// counted).
type tripCounter struct{ trips atomic.Int64 }

func isLeaseCall(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "evalsha", "eval", "wait":
		return true
	}
	return false
}

func (h *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isLeaseCall(cmd) {
			h.trips.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			if isLeaseCall(c) {
				h.trips.Add(1)
				break
			}
		}
		return next(ctx, cmds)
	}
}

// A renewal is one round trip, as before the server-identity check: on a
// master without replicas the script alone, with a replica the script and
// WAIT in one pipeline. An acquire is one round trip too, except the first
// on a master whose replicas it did not know of yet (undo, then once more
// with WAIT).
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	for _, replicas := range []int{0, 1} {
		t.Run(map[int]string{0: "no_replica", 1: "one_replica"}[replicas], func(t *testing.T) {
			t.Parallel()
			master := redistest.Start(t, redistest.Config{})
			if replicas > 0 {
				replica := redistest.Start(t, redistest.Config{ReplicaOf: master.Addr})
				redistest.WaitSynced(t, master, replica)
			}
			c := master.Client(t)
			var h tripCounter
			c.AddHook(&h)
			o := testOpts("trips", layout64)
			o.TTL = 10 * time.Second
			o.RenewInterval = ManualRenewal
			o.ReplicaTimeout = time.Second
			ctx := context.Background()
			for _, s := range []*redis.Script{acquireScript, renewScript, releaseScript} {
				require.NoError(t, s.Load(ctx, c).Err()) // no NOSCRIPT fallback in the count
			}
			h.trips.Store(0)
			l := mustAcquire(t, c, o)
			first := h.trips.Load()
			if replicas == 0 {
				assert.Equal(t, int64(1), first, "round trips of the first acquire")
			} else {
				// acquire without WAIT, undo, acquire with WAIT 1
				assert.Equal(t, int64(3), first, "round trips of the first acquire on a master with a replica")
			}
			for range 3 {
				h.trips.Store(0)
				require.NoError(t, l.Renew(ctx))
				assert.Equal(t, int64(1), h.trips.Load(), "round trips of a renewal")
			}
			require.NoError(t, l.Close(context.Background()))
			h.trips.Store(0)
			l = mustAcquire(t, c, o) // knows nothing yet: a new lease
			if replicas == 0 {
				assert.Equal(t, int64(1), h.trips.Load(), "round trips of a later acquire")
			}
			require.NoError(t, l.Close(context.Background()))
		})
	}
}
