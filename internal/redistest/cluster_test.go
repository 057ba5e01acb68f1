package redistest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := StartCluster(t, ClusterConfig{Config: Config{Password: "pw"}})
	if len(c.Masters) != 3 || len(c.Replicas) != 0 {
		t.Fatalf("%d masters, %d replicas", len(c.Masters), len(c.Replicas))
	}
	cc := c.Client(t)
	const n = 300
	for i := 0; i < n; i++ {
		if err := cc.Set(ctx, fmt.Sprint("key:", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// The keys spread over all three masters, each holding only its slots.
	var total int64
	for _, m := range c.Masters {
		k := m.Client(t).DBSize(ctx).Val()
		if k == 0 {
			t.Fatalf("master %s holds no keys", m.Addr)
		}
		total += k
		if info := m.Info(t, "cluster"); info["cluster_enabled"] != "1" {
			t.Fatalf("%s not in cluster mode", m.Addr)
		}
	}
	if total != n {
		t.Fatalf("masters hold %d keys, want %d", total, n)
	}
	owner := c.MasterFor(t, "key:7")
	if v, err := owner.Client(t).Get(ctx, "key:7").Result(); err != nil || v != "7" {
		t.Fatalf("owner %s of key:7: %q, %v", owner.Addr, v, err)
	}

	// Scripts need all keys in one slot: a hash tag does it.
	script := redis.NewScript(`return redis.call("SET", KEYS[1], ARGV[1]) and redis.call("SET", KEYS[2], ARGV[1])`)
	if err := script.Run(ctx, cc, []string{"{ns}:a", "{ns}:b"}, "x").Err(); err != nil {
		t.Fatalf("script on one slot: %v", err)
	}
	err := script.Run(ctx, cc, []string{"a", "b"}, "x").Err()
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("script across slots: got %v, want CROSSSLOT", err)
	}

	uc := redis.NewUniversalClient(c.UniversalOptions())
	defer uc.Close()
	if _, ok := uc.(*redis.ClusterClient); !ok {
		t.Fatalf("universal client is %T", uc)
	}
	if v, err := uc.Get(ctx, "key:42").Result(); err != nil || v != "42" {
		t.Fatalf("universal client: %q, %v", v, err)
	}
}

func TestClusterReplicaFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for the cluster to fail over; runs without -short")
	}
	t.Parallel()
	ctx := context.Background()
	c := StartCluster(t, ClusterConfig{Replicas: 1, NodeTimeout: time.Second})
	if len(c.Replicas) != 3 {
		t.Fatalf("%d replicas", len(c.Replicas))
	}
	for i, m := range c.Masters {
		if got := m.Info(t, "replication")["connected_slaves"]; got != "1" {
			t.Fatalf("master %s has %s replicas", m.Addr, got)
		}
		if got := c.Replicas[i].Info(t, "replication")["role"]; got != "slave" {
			t.Fatalf("replica %s has role %s", c.Replicas[i].Addr, got)
		}
	}
	cc := c.Client(t)
	if err := cc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old := c.MasterFor(t, "k")
	var replica *Server
	for i, m := range c.Masters {
		if m == old {
			replica = c.Replicas[i]
		}
	}
	WaitSynced(t, old, replica)

	old.Kill()
	c.WaitFailover(t, old)
	if now := c.MasterFor(t, "k"); now != replica {
		t.Fatalf("key served by %s after failover, want its replica %s", now.Addr, replica.Addr)
	}
	// go-redis reloads the slot map only every ClusterStateReloadInterval
	// (60s by default) when the old master just refuses connections.
	cc.ReloadState(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := cc.Get(ctx, "k").Result()
		if err == nil && v == "v" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster client after failover: %q, %v", v, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestClusterTLS(t *testing.T) {
	t.Parallel()
	ca := NewCA(t)
	c := StartCluster(t, ClusterConfig{Config: Config{TLS: ca}})
	cc := c.Client(t)
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		if err := cc.Set(ctx, fmt.Sprint("k", i), "v", 0).Err(); err != nil {
			t.Fatalf("cluster client over TLS: %v", err)
		}
	}
	o := c.Options()
	o.TLSConfig = NewCA(t).ClientConfig()
	o.MaxRetries = -1
	bad := redis.NewClusterClient(o)
	defer bad.Close()
	if err := bad.Set(ctx, "k0", "v", 0).Err(); !isUnknownAuthority(err) {
		t.Fatalf("cluster client trusting another CA: got %v, want unknown authority", err)
	}
}
