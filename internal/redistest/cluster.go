package redistest

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterConfig says how to start a Redis Cluster. Zero fields take the
// defaults given.
type ClusterConfig struct {
	// Config is used for every node (ReplicaOf is ignored).
	Config Config
	// Masters is the number of masters sharing the 16384 slots (default 3).
	Masters int
	// Replicas is the number of replicas per master (default 0).
	Replicas int
	// NodeTimeout is cluster-node-timeout (default 2s): how long a node may
	// be unreachable before it is failed over.
	NodeTimeout time.Duration
}

// Cluster is a Redis Cluster whose slots the helper assigned itself. Its
// fields are read-only; its methods are safe for concurrent use except where
// they take a testing.TB.
type Cluster struct {
	// Masters are the masters at start; master i holds the i-th even share
	// of the slots. After a failover ask MasterFor.
	Masters []*Server
	// Replicas are the replicas at start; Replicas[i] replicates
	// Masters[i % len(Masters)].
	Replicas []*Server

	cfg ClusterConfig
}

// StartCluster starts the nodes in cluster mode (each with its own directory
// and nodes.conf), assigns the slots, joins them with CLUSTER MEET, attaches
// the replicas, and waits until every node reports cluster_state:ok.
func StartCluster(t testing.TB, cfg ClusterConfig) *Cluster {
	t.Helper()
	if cfg.Masters == 0 {
		cfg.Masters = 3
	}
	if cfg.NodeTimeout == 0 {
		cfg.NodeTimeout = 2 * time.Second
	}
	cfg.Config.ReplicaOf = ""
	c := &Cluster{cfg: cfg}
	busPorts := map[*Server]int{}
	start := func() *Server {
		var bus int
		s := startNode(t, cfg.Config, func(dir string, port int) []string {
			bus = FreePort(t)
			return []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
				"--cluster-node-timeout", strconv.FormatInt(cfg.NodeTimeout.Milliseconds(), 10),
				"--cluster-port", strconv.Itoa(bus),
			}
		})
		busPorts[s] = bus
		return s
	}
	for i := 0; i < cfg.Masters; i++ {
		c.Masters = append(c.Masters, start())
	}
	for i := 0; i < cfg.Masters*cfg.Replicas; i++ {
		c.Replicas = append(c.Replicas, start())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must := func(s *Server, args ...any) {
		t.Helper()
		if err := s.do(ctx, args...); err != nil {
			t.Fatalf("redistest: %v on %s: %v", args, s.Addr, err)
		}
	}
	nodes := c.Nodes()
	// Distinct config epochs before the nodes meet, as redis-cli does, so
	// they need not resolve collisions.
	for i, s := range nodes {
		must(s, "CLUSTER", "SET-CONFIG-EPOCH", i+1)
	}
	for i, s := range c.Masters {
		lo, hi := i*16384/cfg.Masters, (i+1)*16384/cfg.Masters-1
		must(s, "CLUSTER", "ADDSLOTSRANGE", lo, hi)
	}
	for _, s := range nodes[1:] {
		must(nodes[0], "CLUSTER", "MEET", "127.0.0.1", s.Port, busPorts[s])
	}
	if err := c.waitJoined(ctx); err != nil {
		t.Fatalf("redistest: cluster nodes did not meet: %v", err)
	}
	for i, r := range c.Replicas {
		id := c.nodeID(t, ctx, c.Masters[i%cfg.Masters])
		must(r, "CLUSTER", "REPLICATE", id)
	}
	for i, r := range c.Replicas {
		if err := waitSynced(c.Masters[i%cfg.Masters], []*Server{r}, 15*time.Second); err != nil {
			t.Fatalf("redistest: cluster replica: %v", err)
		}
	}
	c.WaitHealthy(t)
	return c
}

func (c *Cluster) nodeID(t testing.TB, ctx context.Context, s *Server) string {
	t.Helper()
	cl := s.quick()
	defer cl.Close()
	id, err := cl.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		t.Fatalf("redistest: CLUSTER MYID on %s: %v", s.Addr, err)
	}
	return id
}

// waitJoined waits until every node knows every other one, handshakes done.
func (c *Cluster) waitJoined(ctx context.Context) error {
	nodes := c.Nodes()
	for _, s := range nodes {
		err := poll(ctx, func(ctx context.Context) error {
			cl := s.quick()
			defer cl.Close()
			text, err := cl.ClusterNodes(ctx).Result()
			if err != nil {
				return err
			}
			lines := strings.Split(strings.TrimSpace(text), "\n")
			if len(lines) != len(nodes) {
				return fmt.Errorf("knows %d of %d nodes", len(lines), len(nodes))
			}
			if strings.Contains(text, "handshake") || strings.Contains(text, "noaddr") {
				return fmt.Errorf("handshakes pending:\n%s", text)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("node %s: %w", s.Addr, err)
		}
	}
	return nil
}

// Nodes returns every node: masters first, then replicas (as at start).
func (c *Cluster) Nodes() []*Server {
	return append(append([]*Server{}, c.Masters...), c.Replicas...)
}

// Addrs returns every node's address, for redis.ClusterOptions.Addrs.
func (c *Cluster) Addrs() []string {
	var addrs []string
	for _, s := range c.Nodes() {
		addrs = append(addrs, s.Addr)
	}
	return addrs
}

// Options returns new options for redis.NewClusterClient. Note that a
// go-redis ClusterClient whose master died (connections refused) finds the
// promoted replica only on its next slot-map reload: set
// ClusterStateReloadInterval (60s by default) or call ReloadState.
func (c *Cluster) Options() *redis.ClusterOptions {
	o := &redis.ClusterOptions{Addrs: c.Addrs(), Password: c.cfg.Config.Password}
	if n := c.Masters[0]; n.clientTLS != nil {
		o.TLSConfig = n.clientTLS.Clone()
	}
	return o
}

// UniversalOptions returns new options for redis.NewUniversalClient, which
// makes a cluster client from them.
func (c *Cluster) UniversalOptions() *redis.UniversalOptions {
	o := c.Options()
	return &redis.UniversalOptions{Addrs: o.Addrs, Password: o.Password, TLSConfig: o.TLSConfig, IsClusterMode: true}
}

// Client returns a cluster client, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	t.Helper()
	cl := redis.NewClusterClient(c.Options())
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// MasterFor returns the node that a running node says serves key's slot.
func (c *Cluster) MasterFor(t testing.TB, key string) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range c.Nodes() {
		if !s.Running() {
			continue
		}
		cl := s.quick()
		n, err := cl.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			cl.Close()
			continue
		}
		shards, err := cl.ClusterShards(ctx).Result()
		cl.Close()
		if err != nil {
			continue
		}
		for _, sh := range shards {
			master := shardMaster(sh)
			for _, r := range sh.Slots {
				if r.Start <= n && n <= r.End && master != "" {
					for _, node := range c.Nodes() {
						if node.Addr == master {
							return node
						}
					}
				}
			}
		}
	}
	t.Fatalf("redistest: no running node knows who serves %q", key)
	return nil
}

// WaitHealthy waits until every running node reports cluster_state:ok with
// all 16384 slots served, or fails the test after 30s. Use it after killing
// or restarting nodes.
func (c *Cluster) WaitHealthy(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range c.Nodes() {
		if !s.Running() {
			continue
		}
		err := poll(ctx, func(ctx context.Context) error {
			cl := s.quick()
			defer cl.Close()
			text, err := cl.ClusterInfo(ctx).Result()
			if err != nil {
				return err
			}
			m := parseInfo(text)
			if m["cluster_state"] != "ok" || m["cluster_slots_ok"] != "16384" {
				return fmt.Errorf("cluster_state %s, cluster_slots_ok %s", m["cluster_state"], m["cluster_slots_ok"])
			}
			return nil
		})
		if err != nil {
			t.Fatalf("redistest: cluster node %s not healthy: %v\n%s", s.Addr, err, tail(s.Log(), 20))
		}
	}
}

// WaitFailover waits until every running node says old serves no slots
// (a replica took them over) and the cluster is healthy again, or fails the
// test after 30s. Kill a master, then call it.
func (c *Cluster) WaitFailover(t testing.TB, old *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, s := range c.Nodes() {
		if !s.Running() || s == old {
			continue
		}
		err := poll(ctx, func(ctx context.Context) error {
			cl := s.quick()
			defer cl.Close()
			shards, err := cl.ClusterShards(ctx).Result()
			if err != nil {
				return err
			}
			for _, sh := range shards {
				if shardMaster(sh) == old.Addr && len(sh.Slots) > 0 {
					return fmt.Errorf("%s still serves slots %d-%d", old.Addr, sh.Slots[0].Start, sh.Slots[0].End)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("redistest: node %s: %v\n%s", s.Addr, err, tail(s.Log(), 20))
		}
	}
	c.WaitHealthy(t)
}

// shardMaster is the address (ip:port) of a shard's master, "" if none
// (CLUSTER SHARDS, which replaced CLUSTER SLOTS in Redis 7.0).
func shardMaster(sh redis.ClusterShard) string {
	for _, nd := range sh.Nodes {
		if nd.Role == "master" && nd.Health != "fail" {
			return net.JoinHostPort(nd.IP, strconv.FormatInt(nd.Port, 10))
		}
	}
	return ""
}
