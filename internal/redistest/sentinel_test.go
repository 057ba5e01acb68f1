package redistest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// servedBy returns the port of the server that answers c.
func servedBy(ctx context.Context, c redis.UniversalClient) (string, error) {
	text, err := c.Info(ctx, "server").Result()
	if err != nil {
		return "", err
	}
	return parseInfo(text)["tcp_port"], nil
}

func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for Sentinel to notice a dead master and fail over; runs without -short")
	}
	t.Parallel()
	ctx := context.Background()
	g := StartSentinels(t, SentinelConfig{Config: Config{Password: "pw"}})
	require.Len(t, g.Sentinels, 3, "sentinels")
	require.Len(t, g.Nodes, 2, "nodes")
	first := g.Master(t)
	require.Same(t, g.Nodes[0], first, "sentinels name %s, want %s", first.Addr, g.Nodes[0].Addr)
	c := g.Client(t)
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	port, err := servedBy(ctx, c)
	require.NoError(t, err, "port of the failover client's server")
	require.Equal(t, strconv.Itoa(first.Port), port, "port of the failover client's server")
	WaitSynced(t, first, g.Nodes[1])

	start := time.Now()
	old, now := g.Failover(t)
	t.Logf("failover took %v", time.Since(start))
	require.Same(t, first, old, "failover: old master %s, want %s", old.Addr, first.Addr)
	require.Same(t, g.Nodes[1], now, "failover: new master %s, want %s", now.Addr, g.Nodes[1].Addr)
	require.False(t, old.Running(), "failover: old master %s still running", old.Addr)
	require.Equal(t, "master", now.Info(t, "replication")["role"], "role of the new master")

	// Clients built from the helper's options follow the new master.
	uc := redis.NewUniversalClient(g.UniversalOptions())
	defer uc.Close()
	for _, cl := range []redis.UniversalClient{c, uc} {
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			port, err := servedBy(ctx, cl)
			require.NoError(c, err, "port of the server after failover")
			require.Equal(c, strconv.Itoa(now.Port), port, "port of the server after failover")
			v, err := cl.Get(ctx, "k").Result()
			require.NoError(c, err, "GET after failover")
			assert.Equal(c, "v", v, "GET after failover")
		}, 10*time.Second, 50*time.Millisecond)
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
	require.NotSame(t, old, now, "force failover: old %s, new %s", old.Addr, now.Addr)
	require.Same(t, g.Nodes[1], now, "force failover: new master %s, want %s", now.Addr, g.Nodes[1].Addr)
	// The old master stays up and becomes a replica of the new one.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		m, err := old.info(ctx, "replication")
		require.NoError(c, err) // the switch to replica closes connections
		assert.Equal(c, "slave", m["role"], "role of the old master")
		assert.Equal(c, strconv.Itoa(now.Port), m["master_port"], "master port of the old master")
	}, 15*time.Second, 50*time.Millisecond)
	t.Logf("old master a replica after %v", time.Since(start))
	rs := g.Replicas(t)
	require.Len(t, rs, 1, "replicas after failover")
	require.Same(t, old, rs[0], "replica after failover: %s, want the old master %s", rs[0].Addr, old.Addr)
}
