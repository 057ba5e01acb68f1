package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReplicatedWait(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	master, reps := StartReplicated(t, Config{Password: "pw"}, 2)
	masterPort := master.Info(t, "server")["tcp_port"]
	for _, r := range reps {
		m := r.Info(t, "replication")
		require.Equal(t, "slave", m["role"], "role of replica %s", r.Addr)
		require.Equal(t, masterPort, m["master_port"], "master port of replica %s", r.Addr)
	}

	// WAIT counts the replicas that acknowledged this connection's writes,
	// so the writes and the WAIT share one connection.
	conn := master.Client(t).Conn()
	defer conn.Close()
	// The timeout is generous for a loaded machine (the -race suite runs
	// packages side by side); a WAIT that is met returns at once anyway.
	wait := func(key string) int64 {
		t.Helper()
		require.NoError(t, conn.Set(ctx, key, "v", 0).Err())
		n, err := conn.Wait(ctx, 2, 2*time.Second).Result()
		require.NoError(t, err)
		return n
	}
	require.EqualValues(t, 2, wait("a"), "WAIT with both replicas up")

	reps[1].Pause()
	require.EqualValues(t, 1, wait("b"), "WAIT with one replica paused")
	reps[1].Resume()

	reps[0].Kill()
	require.EqualValues(t, 1, wait("c"), "WAIT with one replica killed")
	reps[0].Restart() // comes back as a replica and resyncs
	WaitSynced(t, master, reps...)
	for _, r := range reps {
		v, err := r.Client(t).Get(ctx, "c").Result()
		require.NoError(t, err, "replica %s after resync", r.Addr)
		require.Equal(t, "v", v, "replica %s after resync", r.Addr)
	}
	require.EqualValues(t, 2, wait("d"), "WAIT after restart")
}

func TestWaitSyncedFailsOnDeadReplica(t *testing.T) {
	t.Parallel()
	master, reps := StartReplicated(t, Config{}, 1)
	reps[0].Kill()
	require.Error(t, waitSynced(master, reps, 500*time.Millisecond), "waitSynced passed with the replica killed")
}
