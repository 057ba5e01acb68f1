package lease

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/snowlease/idgen/internal/redistest"
)

// A Redis with AOF killed with SIGKILL and started again: what the next
// holder of a worker ID starts after, depending on what the restarted server
// has.
//
//   - appendfsync always: every acknowledged raise of the HWM was on disk
//     before the reply, so the next holder starts at or above the old
//     holder's fence.
//   - the data of an earlier moment (here: the AOF copied after the first
//     renewal and put back before the restart) is what a machine crash with
//     appendfsync everysec can leave, up to a second old, and what restoring
//     a backup leaves. The epoch key is in it, so nothing looks lost: the
//     next holder starts below the old holder's last fence and the ticks in
//     between can be issued twice. This is why the operations guide asks for
//     appendfsync always (and idgen doctor warns on everysec).
//   - the same older data with the epoch key deleted after the restart (the
//     runbook in docs/operations.md): the loss is visible, and the next
//     holder waits out the quarantine, above every fence granted before.
//
// A SIGKILL of the process does not lose what everysec had written but not
// yet fsynced (the kernel still has it); only a crash of the machine does,
// which a test cannot do here, so the second case puts the older data in
// place by hand.
func TestRestartWithPersistence(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		restoreOld  bool
		dropEpoch   bool // the runbook's step after a restore: DEL the epoch key
		wantOverlap bool
	}{
		{"appendfsync_always_keeps_every_raise", false, false, false},
		{"older_data_restored_overlaps", true, false, true},
		{"older_data_restored_epoch_deleted_safe", true, true, false},
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
			t.Cleanup(func() { _ = old.Close() })

			noErr(t, old.Renew(ctx), "first renewal")
			firstFence := old.Fence()
			aof := filepath.Join(srv.Dir(), "appendonlydir")
			saved := filepath.Join(t.TempDir(), "appendonlydir")
			if tc.restoreOld {
				copyDir(t, aof, saved)
			}
			// Two more renewals a little apart raise the fence further.
			for range 2 {
				time.Sleep(150 * time.Millisecond)
				noErr(t, old.Renew(ctx), "renewal")
			}
			lastFence := old.Fence()
			must(t, lastFence > firstFence, "fence did not rise: %d then %d", firstFence, lastFence)

			srv.Kill()
			if tc.restoreOld {
				noErr(t, os.RemoveAll(aof))
				copyDir(t, saved, aof)
			}
			srv.Restart()
			if tc.dropEpoch {
				noErr(t, c.Del(ctx, KeysOf("aof").Epoch).Err())
			}

			// The old lease key comes back with its expiry; wait it out.
			eventually(t, 5*time.Second, func() bool {
				n, err := c.Exists(ctx, LeaseKey("aof", 0)).Result()
				return err == nil && n == 0
			}, "old lease key still there after the restart")
			newer := mustAcquire(t, c, o)
			t.Logf("old holder's fences: %d after the first renewal, %d at the crash; new holder starts after %d",
				firstFence, lastFence, newer.StartAfter())
			if tc.wantOverlap {
				check(t, newer.StartAfter() < lastFence,
					"expected the new holder to start below the old holder's last fence (the lost raises); it starts after %d, fence %d",
					newer.StartAfter(), lastFence)
				check(t, newer.StartAfter() >= firstFence,
					"the restored data should hold the first renewal's HWM %d; new holder starts after %d",
					firstFence, newer.StartAfter())
			} else {
				check(t, newer.StartAfter() >= lastFence,
					"new holder starts after %d, below the old holder's fence %d", newer.StartAfter(), lastFence)
			}
			noErr(t, newer.Close())
		})
	}
}

// copyDir copies the regular files of directory src into a new directory
// dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	noErr(t, os.CopyFS(dst, os.DirFS(src)), "copy", src)
}
