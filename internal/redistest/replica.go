package redistest

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// StartReplicated starts a master and n replicas of it (replicaof), all with
// cfg (its ReplicaOf is ignored), and waits until every replica is in sync.
// Pause, Kill or Restart a replica to make WAIT fall short; a restarted
// replica attaches to the master again.
func StartReplicated(t testing.TB, cfg Config, n int) (master *Server, replicas []*Server) {
	t.Helper()
	cfg.ReplicaOf = ""
	master = Start(t, cfg)
	rcfg := cfg
	rcfg.ReplicaOf = master.Addr
	for i := 0; i < n; i++ {
		replicas = append(replicas, Start(t, rcfg))
	}
	WaitSynced(t, master, replicas...)
	return master, replicas
}

// WaitSynced waits until each replica has a live link to its master and has
// applied everything master had written when WaitSynced was called. It fails
// the test after 15s. Replicas linked through a Proxy work too.
func WaitSynced(t testing.TB, master *Server, replicas ...*Server) {
	t.Helper()
	if err := waitSynced(master, replicas, 15*time.Second); err != nil {
		t.Fatalf("redistest: %v", err)
	}
}

func waitSynced(master *Server, replicas []*Server, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var target int64
	if err := poll(ctx, func(ctx context.Context) error {
		m, err := master.info(ctx, "replication")
		if err != nil {
			return err
		}
		if m["role"] != "master" {
			return fmt.Errorf("%s has role %q, not master", master.Addr, m["role"])
		}
		target, err = strconv.ParseInt(m["master_repl_offset"], 10, 64)
		return err
	}); err != nil {
		return fmt.Errorf("read master %s offset: %w", master.Addr, err)
	}
	for _, r := range replicas {
		if err := poll(ctx, func(ctx context.Context) error {
			m, err := r.info(ctx, "replication")
			if err != nil {
				return err
			}
			if m["role"] != "slave" || m["master_link_status"] != "up" {
				return fmt.Errorf("role %q, master link %q", m["role"], m["master_link_status"])
			}
			off, err := strconv.ParseInt(m["slave_repl_offset"], 10, 64)
			if err != nil {
				return err
			}
			if off < target {
				return fmt.Errorf("at offset %d of %d", off, target)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("replica %s of %s not in sync: %w\n%s", r.Addr, master.Addr, err, r.Log())
		}
	}
	return nil
}

// poll calls f every 50ms until it returns nil or ctx ends, and then returns
// f's last error.
func poll(ctx context.Context, f func(ctx context.Context) error) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := f(cctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}
