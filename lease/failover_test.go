package lease

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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
			var old *Lease
			eventually(t, 10*time.Second, func() bool {
				l, err := Acquire(ctx, master.Client(t), o)
				if err != nil && !errors.Is(err, ErrReplication) {
					t.Fatalf("acquire: %v", err)
				}
				old = l
				return err == nil
			}, "acquire with the replica up kept falling short")
			t.Cleanup(func() { _ = old.Close(context.Background()) })
			eventually(t, 10*time.Second, func() bool { return old.Stats().Renewals >= 2 }, "renewals before the cut: %+v", old.Stats())
			redistest.WaitSynced(t, master, replica)
			synced := old.Fence()

			// Cut replication, let the holder renew (or try to) on the master
			// for a while, then promote the replica.
			link.Cut(redistest.Both)
			time.Sleep(time.Second)
			fenceOnMaster := old.Fence()
			if tc.minReplicas == NoReplicaWait {
				must(t, fenceOnMaster > synced, "fence did not rise on the master: %d", fenceOnMaster)
			} else {
				must(t, errors.Is(old.Stats().LastError, ErrReplication), "renewal with the replica cut off: %v", old.Stats().LastError)
				// (A renewal in flight at the cut may still have been
				// acknowledged, so the fence may be a little above synced;
				// what matters is the comparison with the new holder below.)
			}
			if !tc.keepMaster {
				master.Kill()
			}

			rc := redis.NewClient(&redis.Options{Addr: replica.Addr})
			t.Cleanup(func() { _ = rc.Close() })
			noErr(t, rc.Do(ctx, "REPLICAOF", "NO", "ONE").Err())
			// Wait for the old lease key to expire on the promoted replica.
			eventually(t, 5*time.Second, func() bool {
				n, err := rc.Exists(ctx, LeaseKey("fo", 0)).Result()
				return err == nil && n == 0
			}, "old lease key still on the promoted replica")

			newer := mustAcquire(t, rc, o) // same options: the promoted node serves alone
			if tc.keepMaster {
				// Split brain: the old holder goes on trying on the old
				// master while the new one starts; give it time to try.
				waitPast(oneWorker, newer.StartAfter())
				time.Sleep(time.Second)
				fenceOnMaster = old.Fence()
			}
			t.Logf("fence granted on the old master %d, replica had %d, new holder starts after %d",
				fenceOnMaster, synced, newer.StartAfter())
			if tc.wantOverlap {
				check(t, newer.StartAfter() < fenceOnMaster,
					"expected the old holder's fence to pass the new holder's start; it starts after %d, fence %d",
					newer.StartAfter(), fenceOnMaster)
			} else {
				check(t, newer.StartAfter() >= fenceOnMaster,
					"new holder starts after %d, below the old holder's fence %d", newer.StartAfter(), fenceOnMaster)
			}
			noErr(t, newer.Close(context.Background()))
		})
	}
}
