package redistest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// servedBy returns the port of the server that answers c.
func servedBy(ctx context.Context, c redis.UniversalClient) (string, error) {
	text, err := c.Info(ctx, "server").Result()
	if err != nil {
		return "", err
	}
	return parseInfo(text)["tcp_port"], nil
}

func eventually(t *testing.T, limit time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for Sentinel to notice a dead master and fail over; runs without -short")
	}
	t.Parallel()
	ctx := context.Background()
	g := StartSentinels(t, SentinelConfig{Config: Config{Password: "pw"}})
	if len(g.Sentinels) != 3 || len(g.Nodes) != 2 {
		t.Fatalf("%d sentinels, %d nodes", len(g.Sentinels), len(g.Nodes))
	}
	first := g.Master(t)
	if first != g.Nodes[0] {
		t.Fatalf("sentinels name %s, want %s", first.Addr, g.Nodes[0].Addr)
	}
	c := g.Client(t)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if port, err := servedBy(ctx, c); err != nil || port != strconv.Itoa(first.Port) {
		t.Fatalf("failover client served by port %s (%v), want %d", port, err, first.Port)
	}
	WaitSynced(t, first, g.Nodes[1])

	start := time.Now()
	old, now := g.Failover(t)
	t.Logf("failover took %v", time.Since(start))
	if old != first || now != g.Nodes[1] || old.Running() {
		t.Fatalf("failover: old %s (running %v), new %s", old.Addr, old.Running(), now.Addr)
	}
	if role := now.Info(t, "replication")["role"]; role != "master" {
		t.Fatalf("new master has role %s", role)
	}

	// Clients built from the helper's options follow the new master.
	uc := redis.NewUniversalClient(g.UniversalOptions())
	defer uc.Close()
	for _, cl := range []redis.UniversalClient{c, uc} {
		eventually(t, 10*time.Second, func() error {
			if port, err := servedBy(ctx, cl); err != nil || port != strconv.Itoa(now.Port) {
				return errorf("served by port %s (%v), want %d", port, err, now.Port)
			}
			if v, err := cl.Get(ctx, "k").Result(); err != nil || v != "v" {
				return errorf("GET after failover: %q, %v", v, err)
			}
			return nil
		})
	}
}

func TestSentinelForceFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for Sentinel to fail over twice; runs without -short")
	}
	t.Parallel()
	ctx := context.Background()
	g := StartSentinels(t, SentinelConfig{})
	start := time.Now()
	old, now := g.ForceFailover(t)
	t.Logf("failover took %v", time.Since(start))
	if old == now || now != g.Nodes[1] {
		t.Fatalf("force failover: old %s, new %s", old.Addr, now.Addr)
	}
	// The old master stays up and becomes a replica of the new one.
	eventually(t, 15*time.Second, func() error {
		m, err := old.info(ctx, "replication")
		if err != nil {
			return err // the switch to replica closes connections
		}
		if m["role"] != "slave" || m["master_port"] != strconv.Itoa(now.Port) {
			return errorf("old master: role %s of port %s", m["role"], m["master_port"])
		}
		return nil
	})
	t.Logf("old master a replica after %v", time.Since(start))
	if rs := g.Replicas(t); len(rs) != 1 || rs[0] != old {
		t.Fatalf("replicas after failover: %v", rs)
	}
}
