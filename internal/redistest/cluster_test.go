package redistest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := StartCluster(t, ClusterConfig{Config: Config{Password: "pw"}})
	require.Len(t, c.Masters, 3, "masters")
	require.Empty(t, c.Replicas, "replicas")
	cc := c.Client(t)
	const n = 300
	for i := 0; i < n; i++ {
		require.NoError(t, cc.Set(ctx, fmt.Sprint("key:", i), i, 0).Err())
	}
	// The keys spread over all three masters, each holding only its slots.
	var total int64
	for _, m := range c.Masters {
		k := m.Client(t).DBSize(ctx).Val()
		require.NotZero(t, k, "master %s holds no keys", m.Addr)
		total += k
		require.Equal(t, "1", m.Info(t, "cluster")["cluster_enabled"], "%s not in cluster mode", m.Addr)
	}
	require.EqualValues(t, n, total, "keys held by the masters")
	owner := c.MasterFor(t, "key:7")
	v, err := owner.Client(t).Get(ctx, "key:7").Result()
	require.NoError(t, err, "owner %s of key:7", owner.Addr)
	require.Equal(t, "7", v, "owner %s of key:7", owner.Addr)

	// Scripts need all keys in one slot: a hash tag does it.
	script := redis.NewScript(`return redis.call("SET", KEYS[1], ARGV[1]) and redis.call("SET", KEYS[2], ARGV[1])`)
	require.NoError(t, script.Run(ctx, cc, []string{"{ns}:a", "{ns}:b"}, "x").Err(), "script on one slot")
	err = script.Run(ctx, cc, []string{"a", "b"}, "x").Err()
	require.ErrorContains(t, err, "CROSSSLOT", "script across slots")

	uc := redis.NewUniversalClient(c.UniversalOptions())
	defer uc.Close()
	require.IsType(t, &redis.ClusterClient{}, uc, "universal client")
	v, err = uc.Get(ctx, "key:42").Result()
	require.NoError(t, err, "universal client")
	require.Equal(t, "42", v, "universal client")
}

func TestClusterReplicaFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for the cluster to fail over; runs without -short")
	}
	t.Parallel()
	ctx := context.Background()
	c := StartCluster(t, ClusterConfig{Replicas: 1, NodeTimeout: time.Second})
	require.Len(t, c.Replicas, 3, "replicas")
	for i, m := range c.Masters {
		require.Equal(t, "1", m.Info(t, "replication")["connected_slaves"], "replicas of master %s", m.Addr)
		require.Equal(t, "slave", c.Replicas[i].Info(t, "replication")["role"], "role of replica %s", c.Replicas[i].Addr)
	}
	cc := c.Client(t)
	require.NoError(t, cc.Set(ctx, "k", "v", 0).Err())
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
	now := c.MasterFor(t, "k")
	require.Same(t, replica, now, "key served by %s after failover, want its replica %s", now.Addr, replica.Addr)
	// go-redis reloads the slot map only every ClusterStateReloadInterval
	// (60s by default) when the old master just refuses connections.
	cc.ReloadState(ctx)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		v, err := cc.Get(ctx, "k").Result()
		require.NoError(c, err, "cluster client after failover")
		assert.Equal(c, "v", v, "cluster client after failover")
	}, 10*time.Second, 50*time.Millisecond)
}

func TestClusterTLS(t *testing.T) {
	t.Parallel()
	ca := NewCA(t)
	c := StartCluster(t, ClusterConfig{Config: Config{TLS: ca}})
	cc := c.Client(t)
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		require.NoError(t, cc.Set(ctx, fmt.Sprint("k", i), "v", 0).Err(), "cluster client over TLS")
	}
	o := c.Options()
	o.TLSConfig = NewCA(t).ClientConfig()
	o.MaxRetries = -1
	bad := redis.NewClusterClient(o)
	defer bad.Close()
	err := bad.Set(ctx, "k0", "v", 0).Err()
	require.True(t, isUnknownAuthority(err), "cluster client trusting another CA: got %v, want unknown authority", err)
}
