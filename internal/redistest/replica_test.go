package redistest

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestReplicatedWait(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	master, reps := StartReplicated(t, Config{Password: "pw"}, 2)
	for _, r := range reps {
		if m := r.Info(t, "replication"); m["role"] != "slave" || m["master_port"] != master.Info(t, "server")["tcp_port"] {
			t.Fatalf("replica %s: role %q of port %q", r.Addr, m["role"], m["master_port"])
		}
	}

	// WAIT counts the replicas that acknowledged this connection's writes,
	// so the writes and the WAIT share one connection.
	conn := master.Client(t).Conn()
	defer conn.Close()
	// The timeout is generous for a loaded machine (the -race suite runs
	// packages side by side); a WAIT that is met returns at once anyway.
	wait := func(key string) int64 {
		t.Helper()
		if err := conn.Set(ctx, key, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		n, err := conn.Wait(ctx, 2, 2*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := wait("a"); n != 2 {
		t.Fatalf("WAIT with both replicas up: %d", n)
	}

	reps[1].Pause()
	if n := wait("b"); n != 1 {
		t.Fatalf("WAIT with one replica paused: %d, want 1", n)
	}
	reps[1].Resume()

	reps[0].Kill()
	if n := wait("c"); n != 1 {
		t.Fatalf("WAIT with one replica killed: %d, want 1", n)
	}
	reps[0].Restart() // comes back as a replica and resyncs
	WaitSynced(t, master, reps...)
	for _, r := range reps {
		if v, err := r.Client(t).Get(ctx, "c").Result(); err != nil || v != "v" {
			t.Fatalf("replica %s after resync: %q, %v", r.Addr, v, err)
		}
	}
	if n := wait("d"); n != 2 {
		t.Fatalf("WAIT after restart: %d", n)
	}
}

func TestWaitSyncedFailsOnDeadReplica(t *testing.T) {
	t.Parallel()
	master, reps := StartReplicated(t, Config{}, 1)
	reps[0].Kill()
	if err := waitSynced(master, reps, 500*time.Millisecond); err == nil {
		t.Fatal("waitSynced passed with the replica killed")
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
