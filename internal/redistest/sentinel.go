package redistest

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelConfig says how to start a Sentinel-managed master. Zero fields
// take the defaults given.
type SentinelConfig struct {
	// Config is used for the master and its replicas. TLS is not supported.
	Config Config
	// Replicas is the number of replicas (default 1).
	Replicas int
	// Sentinels is the number of Sentinel processes (default 3).
	Sentinels int
	// Quorum is the number of Sentinels that must agree the master is down
	// (default a majority of Sentinels).
	Quorum int
	// MasterName is the monitored master's name (default "mymaster").
	MasterName string
	// DownAfter is down-after-milliseconds (default 1s).
	DownAfter time.Duration
	// FailoverTimeout is failover-timeout (default 3s); a failed failover is
	// retried after twice this.
	FailoverTimeout time.Duration
}

// Sentinels is a master with replicas watched by Sentinel processes. Its
// fields are read-only; its methods are safe for concurrent use except where
// they take a testing.TB.
type Sentinels struct {
	MasterName string
	// Sentinels are the Sentinel processes; Pause, Kill and Restart work on
	// them too (a restarted Sentinel reads the config it rewrote).
	Sentinels []*Server
	// Nodes are the data servers: Nodes[0] was the master at start. Ask
	// Master for the current one.
	Nodes []*Server

	cfg SentinelConfig
}

// StartSentinels starts a master, its replicas and the Sentinels, and waits
// until every Sentinel sees the master, all replicas and the other
// Sentinels, so a failover can start at once.
func StartSentinels(t testing.TB, cfg SentinelConfig) *Sentinels {
	t.Helper()
	if cfg.Config.TLS != nil {
		t.Fatalf("redistest: StartSentinels does not support TLS")
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Sentinels == 0 {
		cfg.Sentinels = 3
	}
	if cfg.Quorum == 0 {
		cfg.Quorum = cfg.Sentinels/2 + 1
	}
	if cfg.MasterName == "" {
		cfg.MasterName = "mymaster"
	}
	if cfg.DownAfter == 0 {
		cfg.DownAfter = time.Second
	}
	if cfg.FailoverTimeout == 0 {
		cfg.FailoverTimeout = 3 * time.Second
	}
	master, replicas := StartReplicated(t, cfg.Config, cfg.Replicas)
	g := &Sentinels{MasterName: cfg.MasterName, Nodes: append([]*Server{master}, replicas...), cfg: cfg}
	for i := 0; i < cfg.Sentinels; i++ {
		g.Sentinels = append(g.Sentinels, g.startSentinel(t, master))
	}
	if err := g.waitReady(20 * time.Second); err != nil {
		t.Fatalf("redistest: sentinels not ready: %v", err)
	}
	return g
}

func (g *Sentinels) startSentinel(t testing.TB, master *Server) *Server {
	t.Helper()
	bin := Binary(t)
	s := &Server{t: t, dir: t.TempDir()}
	t.Cleanup(s.Kill)
	conf := filepath.Join(s.dir, "sentinel.conf")
	name := g.MasterName
	s.launch(func(port int) []string {
		var b strings.Builder
		fmt.Fprintf(&b, "sentinel monitor %s 127.0.0.1 %d %d\n", name, master.Port, g.cfg.Quorum)
		fmt.Fprintf(&b, "sentinel down-after-milliseconds %s %d\n", name, g.cfg.DownAfter.Milliseconds())
		fmt.Fprintf(&b, "sentinel failover-timeout %s %d\n", name, g.cfg.FailoverTimeout.Milliseconds())
		fmt.Fprintf(&b, "sentinel parallel-syncs %s 1\n", name)
		if pw := g.cfg.Config.Password; pw != "" {
			fmt.Fprintf(&b, "sentinel auth-pass %s %s\n", name, pw)
		}
		writeFile(t, conf, []byte(b.String()))
		return []string{bin, conf, "--sentinel",
			"--port", strconv.Itoa(port),
			"--bind", "127.0.0.1",
			"--dir", s.dir,
			"--daemonize", "no",
			"--logfile", s.logPath(),
		}
	})
	return s
}

// Addrs returns the Sentinels' addresses.
func (g *Sentinels) Addrs() []string {
	addrs := make([]string, len(g.Sentinels))
	for i, s := range g.Sentinels {
		addrs[i] = s.Addr
	}
	return addrs
}

// FailoverOptions returns new options for redis.NewFailoverClient.
func (g *Sentinels) FailoverOptions() *redis.FailoverOptions {
	return &redis.FailoverOptions{
		MasterName:    g.MasterName,
		SentinelAddrs: g.Addrs(),
		Password:      g.cfg.Config.Password,
	}
}

// UniversalOptions returns new options for redis.NewUniversalClient, which
// makes a failover client from them.
func (g *Sentinels) UniversalOptions() *redis.UniversalOptions {
	return &redis.UniversalOptions{
		MasterName: g.MasterName,
		Addrs:      g.Addrs(),
		Password:   g.cfg.Config.Password,
	}
}

// Client returns a failover client for the master, closed when the test ends.
func (g *Sentinels) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewFailoverClient(g.FailoverOptions())
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Node returns the data server with address addr, or nil.
func (g *Sentinels) Node(addr string) *Server {
	for _, n := range g.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// Master returns the data server that the Sentinels agree is the master,
// waiting up to 10s for them to agree.
func (g *Sentinels) Master(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var m *Server
	err := poll(ctx, func(ctx context.Context) error {
		var err error
		m, err = g.agreedMaster(ctx)
		return err
	})
	if err != nil {
		t.Fatalf("redistest: sentinels name no master: %v", err)
	}
	return m
}

// Replicas returns the data servers other than the current master, running
// or not.
func (g *Sentinels) Replicas(t testing.TB) []*Server {
	t.Helper()
	m := g.Master(t)
	var rs []*Server
	for _, n := range g.Nodes {
		if n != m {
			rs = append(rs, n)
		}
	}
	return rs
}

// WaitForMaster waits until the Sentinels that answer (at least a majority)
// agree on a master other than old, and that server reports role master.
// It returns the new master or fails the test after 30s.
func (g *Sentinels) WaitForMaster(t testing.TB, old *Server) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var m *Server
	err := poll(ctx, func(ctx context.Context) error {
		var err error
		if m, err = g.agreedMaster(ctx); err != nil {
			return err
		}
		if m == old {
			return fmt.Errorf("sentinels still name %s", old.Addr)
		}
		info, err := m.info(ctx, "replication")
		if err != nil {
			return err
		}
		if info["role"] != "master" {
			return fmt.Errorf("%s named master but has role %q", m.Addr, info["role"])
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: no new master after %s: %v\n%s", old.Addr, err, g.logs())
	}
	return m
}

// Failover kills the current master with SIGKILL and waits for the
// Sentinels to promote a replica. It returns the killed master (Restart
// brings it back, and the Sentinels then make it a replica) and the new one.
func (g *Sentinels) Failover(t testing.TB) (old, now *Server) {
	t.Helper()
	old = g.Master(t)
	old.Kill()
	return old, g.WaitForMaster(t, old)
}

// ForceFailover asks a Sentinel for a failover without a failure (SENTINEL
// FAILOVER) and waits for the new master. The old master stays up; the
// Sentinels make it a replica of the new one some 10s later.
func (g *Sentinels) ForceFailover(t testing.TB) (old, now *Server) {
	t.Helper()
	old = g.Master(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err := poll(ctx, func(ctx context.Context) error {
		var last error
		for _, s := range g.Sentinels {
			c := redis.NewSentinelClient(s.quickOptions())
			last = c.Failover(ctx, g.MasterName).Err()
			c.Close()
			if last == nil {
				return nil
			}
		}
		return last
	})
	if err != nil {
		t.Fatalf("redistest: SENTINEL FAILOVER: %v", err)
	}
	return old, g.WaitForMaster(t, old)
}

// agreedMaster asks every Sentinel at once and returns the master that all
// those that answered name, if they are a majority.
func (g *Sentinels) agreedMaster(ctx context.Context) (*Server, error) {
	addrs := make([]string, len(g.Sentinels))
	var wg sync.WaitGroup
	for i, s := range g.Sentinels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !s.Running() {
				return
			}
			c := redis.NewSentinelClient(s.quickOptions())
			defer c.Close()
			if a, err := c.GetMasterAddrByName(ctx, g.MasterName).Result(); err == nil && len(a) == 2 {
				addrs[i] = net.JoinHostPort(a[0], a[1])
			}
		}()
	}
	wg.Wait()
	seen, n := "", 0
	for _, a := range addrs {
		if a == "" {
			continue
		}
		if seen != "" && a != seen {
			return nil, fmt.Errorf("sentinels disagree: %v", addrs)
		}
		seen, n = a, n+1
	}
	if n < len(g.Sentinels)/2+1 {
		return nil, fmt.Errorf("only %d of %d sentinels answered: %v", n, len(g.Sentinels), addrs)
	}
	m := g.Node(seen)
	if m == nil {
		return nil, fmt.Errorf("sentinels name unknown master %s", seen)
	}
	return m, nil
}

// waitReady waits until each Sentinel sees the master up, every replica with
// a working link, and all other Sentinels.
func (g *Sentinels) waitReady(limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for _, s := range g.Sentinels {
		err := poll(ctx, func(ctx context.Context) error {
			c := redis.NewSentinelClient(s.quickOptions())
			defer c.Close()
			m, err := c.Master(ctx, g.MasterName).Result()
			if err != nil {
				return err
			}
			if m["flags"] != "master" {
				return fmt.Errorf("master flags %q", m["flags"])
			}
			if others, _ := strconv.Atoi(m["num-other-sentinels"]); others < len(g.Sentinels)-1 {
				return fmt.Errorf("sees %d other sentinels", others)
			}
			rs, err := c.Replicas(ctx, g.MasterName).Result()
			if err != nil {
				return err
			}
			ok := 0
			for _, r := range rs {
				if r["flags"] == "slave" && r["master-link-status"] == "ok" {
					ok++
				}
			}
			if ok < len(g.Nodes)-1 {
				return fmt.Errorf("sees %d of %d replicas healthy", ok, len(g.Nodes)-1)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("sentinel %s: %w\n%s", s.Addr, err, g.logs())
		}
	}
	return nil
}

func (g *Sentinels) logs() string {
	var b strings.Builder
	for _, s := range g.Sentinels {
		fmt.Fprintf(&b, "--- sentinel %s log:\n%s", s.Addr, tail(s.Log(), 30))
	}
	return b.String()
}

func tail(s string, lines int) string {
	parts := strings.SplitAfter(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "")
}
