package lease

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/internal/redistest"
)

// A failover to a replica that missed the last HWM raises. The replica's
// link to the master is cut, the holder keeps renewing (or trying to) on
// the master, the replica is promoted and a new holder takes the same
// worker ID there.
//
//   - Default options: the namespace remembers that its master has a
//     replica, so every renewal waits for one; with the link cut WAIT counts
//     0, the fence stays at what the replica has, and the new holder starts
//     above it. The promoted replica has no replica of its own and serves
//     alone (it is another history: it starts over from the replicas it
//     has). This holds whether the old master dies or stays up (split
//     brain).
//   - NoReplicaWait: the old master raises the fence where the replica
//     never sees it. If the master dies, the promoted replica is another
//     server incarnation: the new holder waits out the quarantine, above
//     every fence granted before. If the master stays up and the old holder
//     goes on renewing there (clients that still reach it), nothing on the
//     promoted side can know: the fences overlap. This is what the default
//     prevents.
func TestFailoverWithoutReplicaAck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		minReplicas int
		keepMaster  bool // the old master stays up after the promotion
		wantOverlap bool
	}{
		{"default_master_dies", 0, false, false},
		{"default_split_brain", 0, true, false},
		{"NoReplicaWait_master_dies", NoReplicaWait, false, false},
		{"NoReplicaWait_split_brain_overlaps", NoReplicaWait, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			master := redistest.Start(t, redistest.Config{})
			link := redistest.NewProxy(t, master.Addr)
			replica := redistest.Start(t, redistest.Config{ReplicaOf: link.Addr})
			redistest.WaitSynced(t, master, replica)

			o := testOpts("fo", oneWorker)
			o.TTL = time.Second
			o.RenewInterval = 300 * time.Millisecond
			o.MinReplicas = tc.minReplicas
			o.ReplicaTimeout = 250 * time.Millisecond // generous: the -race suite loads the machine
			// Under a loaded -race suite a WAIT can fall short even with the
			// link up; retry the acquire rather than flake.
			old := acquireReplicated(t, master.Client(t), o)
			require.Eventually(t, func() bool { return old.Stats().Renewals >= 2 }, 10*time.Second, 5*time.Millisecond,
				"renewals before the cut")
			redistest.WaitSynced(t, master, replica)
			synced := old.Fence()

			// Cut replication, let the holder renew (or try to) on the master
			// a few times, then promote the replica. (Real time: the renewals
			// wait for a real replica.)
			before := attempts(old.Stats())
			link.Cut(redistest.Both)
			require.Eventually(t, func() bool { return attempts(old.Stats()) >= before+3 }, 10*time.Second, 5*time.Millisecond,
				"renewal attempts after the cut")
			fenceOnMaster := old.Fence()
			if tc.minReplicas == NoReplicaWait {
				require.Greater(t, fenceOnMaster, synced, "fence did not rise on the master")
			} else {
				require.ErrorIs(t, old.Stats().LastError, ErrReplication, "renewal with the replica cut off")
				// (A renewal in flight at the cut may still have been
				// acknowledged, so the fence may be a little above synced;
				// what matters is the comparison with the new holder below.)
			}
			if !tc.keepMaster {
				master.Kill()
			}

			rc := redis.NewClient(&redis.Options{Addr: replica.Addr})
			t.Cleanup(func() { _ = rc.Close() })
			require.NoError(t, rc.Do(ctx, "REPLICAOF", "NO", "ONE").Err())
			// Wait for the old lease key to expire on the promoted replica.
			require.Eventually(t, func() bool {
				n, err := rc.Exists(ctx, KeysOf("fo").Lease(0)).Result()
				return err == nil && n == 0
			}, 5*time.Second, 5*time.Millisecond, "old lease key still on the promoted replica")

			newer := mustAcquire(t, rc, o) // same options: the promoted node serves alone
			if tc.keepMaster {
				// Split brain: the old holder goes on trying on the old
				// master while the new one starts: once the clock is past
				// the new holder's start, let it try a few more times.
				require.Eventually(t, func() bool { return oneWorker.Tick(time.Now()) > newer.StartAfter() },
					10*time.Second, 5*time.Millisecond, "the clock did not pass the new holder's start")
				tried := attempts(old.Stats())
				require.Eventually(t, func() bool { return attempts(old.Stats()) >= tried+3 }, 10*time.Second, 5*time.Millisecond,
					"renewal attempts on the old master")
				fenceOnMaster = old.Fence()
			}
			t.Logf("fence granted on the old master %d, replica had %d, new holder starts after %d",
				fenceOnMaster, synced, newer.StartAfter())
			if tc.wantOverlap {
				assert.Less(t, newer.StartAfter(), fenceOnMaster, "expected the old holder's fence to pass the new holder's start")
			} else {
				assert.GreaterOrEqual(t, newer.StartAfter(), fenceOnMaster, "the new holder starts below the old holder's fence")
			}
			require.NoError(t, newer.Close(context.Background()))
		})
	}
}
