package lease

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/internal/redistest"
)

// A Redis with AOF killed with SIGKILL and started again, with the data it
// had or with the data of an earlier moment (the AOF copied after the first
// renewal and put back before the restart: what a machine crash with
// appendfsync everysec, or a restored backup, leaves; the epoch key is in
// it, so the data looks intact). Either way the restarted server is another
// incarnation (run_id, master_replid), so the next acquire treats the data
// as possibly older: it starts above the quarantine, above every fence
// granted before, and the old holder's next renewal finds its lease lost.
// No operator step is needed (the runbook that deleted the epoch key after
// a restore is one no longer).
func TestRestartWithPersistence(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		restoreOld bool
	}{
		{"appendfsync_always", false},
		{"older_data_restored", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			srv := redistest.Start(t, redistest.Config{Persist: true})
			c := srv.Client(t)
			o := testOpts("aof", oneWorker)
			o.RenewInterval = ManualRenewal
			old := mustAcquire(t, c, o)
			// Never released: Close would write the HWM back.
			t.Cleanup(func() { _ = old.Close(context.Background()) })

			require.NoError(t, old.Renew(ctx), "first renewal")
			firstFence := old.Fence()
			aof := filepath.Join(srv.Dir(), "appendonlydir")
			saved := filepath.Join(t.TempDir(), "appendonlydir")
			if tc.restoreOld {
				copyDir(t, aof, saved)
			}
			// Later renewals raise the fence further as the clock moves on
			// (the fence is capped at Redis' clock, so this is real time).
			require.Eventually(t, func() bool { return old.Renew(ctx) == nil && old.Fence() > firstFence+10 },
				5*time.Second, 10*time.Millisecond, "the fence did not rise")
			lastFence := old.Fence()

			srv.Kill()
			if tc.restoreOld {
				require.NoError(t, os.RemoveAll(aof))
				copyDir(t, saved, aof)
			}
			srv.Restart()
			hwm := hwmOf(t, c, "aof", 0)
			if tc.restoreOld {
				// The fault really happened: the restored data is older.
				require.True(t, hwm >= firstFence && hwm < lastFence, "restored HWM %d, want the first renewal's %d (below the last fence %d)", hwm, firstFence, lastFence)
			}

			// The old holder's key is back (its token, its expiry): its
			// renewal must not go on from the older data.
			require.ErrorIs(t, old.Renew(ctx), ErrLeaseLost)
			assert.True(t, strings.Contains(old.Err().Error(), "restarted or failed over"), "reason: %v", old.Err())

			before := redisTick(t, c, oneWorker)
			require.Eventually(t, func() bool {
				n, err := c.Exists(ctx, KeysOf("aof").Lease(0)).Result()
				return err == nil && n == 0
			}, 5*time.Second, 5*time.Millisecond, "old lease key still there after the restart")
			newer := mustAcquire(t, c, o)
			t.Logf("old holder's fences: %d after the first renewal, %d at the crash; restored HWM %d; new holder starts after %d",
				firstFence, lastFence, hwm, newer.StartAfter())
			assert.True(t, newer.StartAfter() >= lastFence, "new holder starts after %d, below the old holder's fence %d", newer.StartAfter(), lastFence)
			q := before + oneWorker.Ticks(o.Window) + oneWorker.Ticks(o.MaxSkew)
			assert.True(t, newer.StartAfter() >= q, "new holder starts after %d, below the quarantine %d", newer.StartAfter(), q)
			require.NoError(t, newer.Close(context.Background()))
		})
	}
}

// copyDir copies the regular files of directory src into a new directory
// dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)), "copy %s", src)
}
