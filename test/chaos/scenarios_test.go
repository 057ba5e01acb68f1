package chaos_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/test/chaos"
)

// The Sentinel, Cluster and eviction scenarios run five workers on four
// worker IDs (2 worker bits): one spare, so takeovers still happen.
const (
	smallProcs   = 5
	smallWorkers = 4
)

// runSentinel: a master with two replicas behind three Sentinels; the
// workers use MinReplicas 2 (every replica acknowledges each HWM raise)
// through a Sentinel failover client, and the master is killed (SIGKILL) so
// that the Sentinels promote a replica. With MinReplicas 1 and two replicas
// a failover can promote the replica that did not acknowledge: a soak with
// that setting saw 98,304 duplicates (docs/reliability.md).
func runSentinel(t *testing.T, d time.Duration) {
	h := newHarness(t, "sentinel")
	g := redistest.StartSentinels(t, redistest.SentinelConfig{Replicas: 2})
	admin := g.Client(t)
	addrs := strings.Join(g.Addrs(), ",")
	for i := range smallProcs {
		h.startProc(fmt.Sprintf("s%02d", i), nil, 0, "-sentinel-master", g.MasterName,
			"-sentinel-addrs", addrs, "-worker-bits", "2", "-min-replicas", "2")
	}
	h.waitIssuing(admin, smallWorkers, 30*time.Second)
	h.note("all %d worker IDs held and issuing, MinReplicas 2, master %s", smallWorkers, g.Master(t).Addr)
	deadline := time.Now().Add(d)
	for cycle := 0; cycle == 0 || time.Now().Before(deadline); cycle++ {
		sentinelFailover(h, g, admin)
		if t.Failed() {
			break
		}
		time.Sleep(time.Second)
		h.waitIssuing(admin, smallWorkers, 30*time.Second)
		time.Sleep(2 * time.Second)
		h.nodePause(admin)
		time.Sleep(time.Second)
		h.waitIssuing(admin, smallWorkers, 30*time.Second)
		time.Sleep(time.Second)
	}
	r := h.check("sentinel failover, 2 replicas, MinReplicas 2")
	h.runPost(r)
	h.printNotes("sentinel")
	assert.NoError(t, r.Err())
}

func sentinelFailover(h *harness, g *redistest.Sentinels, admin *redis.Client) {
	t := h.t
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	epochKey := h.keys.Epoch()
	epoch, err := admin.Get(ctx, epochKey).Result()
	require.NoError(t, err, "sentinel-failover: read the dataset epoch")
	at := time.Now()
	old, now := g.Failover(t)
	h.fault("sentinel-failover")
	promoted := time.Now()
	require.NotEqual(t, old.Addr, now.Addr, "sentinel-failover: the master did not change")
	require.Equal(t, "master", now.Info(t, "replication")["role"], "sentinel-failover: the role of the new master %s", now.Addr)
	// With MinReplicas 2 nothing can be renewed or acquired until the old
	// master is back as the second replica: restart it now and make it a
	// replica of the new master at once, as the Sentinels would a few
	// seconds later.
	old.Restart()
	host, port, _ := net.SplitHostPort(now.Addr)
	oc := redis.NewClient(old.Options())
	assert.NoError(t, oc.Do(ctx, "REPLICAOF", host, port).Err(), "sentinel-failover: make the old master %s a replica of %s", old.Addr, now.Addr)
	_ = oc.Close()
	// The fleet must hold its worker IDs on the promoted replica itself.
	nc := redis.NewClient(now.Options())
	defer nc.Close()
	var ls []lease.Info
	if !poll(30*time.Second, func() bool {
		lctx, lcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer lcancel()
		ls, err = lease.List(lctx, nc, h.ns)
		held := 0
		for _, l := range ls {
			if h.byHost(l.Host) != nil {
				held++
			}
		}
		return err == nil && held == smallWorkers
	}) {
		assert.Failf(t, "leases not back", "sentinel-failover: the workers do not hold %d leases on the new master %s: %v %v", smallWorkers, now.Addr, ls, err)
	}
	ectx, ecancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ecancel()
	newEpoch, err := nc.Get(ectx, epochKey).Result()
	assert.NoError(t, err, "sentinel-failover: read the dataset epoch on the new master")
	kept := "kept (no data loss seen)"
	if newEpoch != epoch {
		kept = "CHANGED (the promoted replica looked like a data loss)"
	}
	h.sample("sentinel-failover", "promotion after the kill", promoted.Sub(at))
	h.note("sentinel-failover: master %s killed; %s promoted after %v; dataset epoch %s; old master restarted as a replica",
		old.Addr, now.Addr, promoted.Sub(at).Round(time.Millisecond), kept)
	h.after(func(r *chaos.Report) {
		h.noteOutages(r, "sentinel-failover", at, promoted.Add(2*time.Second), 0)
		// Every worker that held a lease before must issue IDs after.
		for _, p := range r.Procs {
			last := time.Time{}
			for _, tn := range p.Tenures {
				last = tn.To
			}
			if !last.IsZero() && last.Before(promoted) && len(p.Tenures) > 0 && p.Tenures[0].From.Before(at) {
				h.note("sentinel-failover:   data: %s issued nothing after the failover (last batch %v before it)",
					p.Name, promoted.Sub(last).Round(time.Millisecond))
			}
		}
	})
}

// runCluster: a three-master Redis Cluster with a replica per master; the
// workers go through a ClusterClient with MinReplicas 1. Faults: a worker
// paused past its TTL, a lease key deleted, and the master of the
// namespace's slot killed so that its replica takes over.
func runCluster(t *testing.T, d time.Duration) {
	h := newHarness(t, "cluster")
	cl := redistest.StartCluster(t, redistest.ClusterConfig{Masters: 3, Replicas: 1})
	opts := cl.Options()
	opts.ClusterStateReloadInterval = 500 * time.Millisecond
	admin := redis.NewClusterClient(opts)
	t.Cleanup(func() { _ = admin.Close() })
	addrs := strings.Join(cl.Addrs(), ",")
	for i := range smallProcs {
		h.startProc(fmt.Sprintf("c%02d", i), nil, 0, "-cluster-addrs", addrs,
			"-worker-bits", "2", "-min-replicas", "1", "-cluster-reload", "500ms")
	}
	h.waitIssuing(admin, smallWorkers, 30*time.Second)
	slotKey := h.keys.HWM()
	h.note("all %d worker IDs held and issuing through a ClusterClient; the namespace's slot is on %s",
		smallWorkers, cl.MasterFor(t, slotKey).Addr)
	deadline := time.Now().Add(d)
	settle := func() {
		time.Sleep(time.Second)
		h.waitIssuing(admin, smallWorkers, 40*time.Second)
		time.Sleep(time.Second)
	}
	for cycle := 0; cycle == 0 || time.Now().Before(deadline); cycle++ {
		h.nodePause(admin)
		settle()
		h.stealLease(admin, "lease-delete", false)
		settle()
		clusterFailover(h, cl, slotKey)
		if t.Failed() {
			break
		}
		settle()
	}
	r := h.check("cluster, ClusterClient, MinReplicas 1")
	h.runPost(r)
	h.printNotes("cluster")
	assert.NoError(t, r.Err())
}

func clusterFailover(h *harness, cl *redistest.Cluster, slotKey string) {
	t := h.t
	old := cl.MasterFor(t, slotKey)
	at := time.Now()
	old.Kill()
	h.fault("cluster-failover")
	cl.WaitFailover(t, old)
	promoted := time.Now()
	now := cl.MasterFor(t, slotKey)
	require.NotEqual(t, old.Addr, now.Addr, "cluster-failover: the master of the slot of %s did not change", slotKey)
	h.sample("cluster-failover", "slot served by the replica after the kill", promoted.Sub(at))
	old.Restart()
	cl.WaitHealthy(t)
	h.note("cluster-failover: %s (master of the namespace's slot) killed; %s serves it after %v; old master restarted",
		old.Addr, now.Addr, promoted.Sub(at).Round(time.Millisecond))
	h.after(func(r *chaos.Report) { h.noteOutages(r, "cluster-failover", at, promoted.Add(3*time.Second), 0) })
}

// runEviction: Redis with a small maxmemory and an evicting policy, filled
// with junk keys while the workers run and one of them is paused past its
// TTL. An evicted high-water mark or epoch is a lost one; `idgen doctor`
// warns about such a configuration and the library does not support it.
// This scenario REPORTS what happens, duplicates included; it asserts only
// that eviction really happened and what holds whatever Redis does (no
// process goes backwards, no ID above its fence).
func runEviction(t *testing.T, policy string, d time.Duration) {
	h := newHarness(t, "evict-"+policy)
	srv := redistest.Start(t, redistest.Config{Args: []string{"--maxmemory", "3mb", "--maxmemory-policy", policy}})
	admin := srv.Client(t)
	for i := range smallProcs {
		// New refuses an allkeys-* policy unless told to allow it.
		h.startProc(fmt.Sprintf("e%02d", i), nil, 0, "-addr", srv.Addr, "-worker-bits", "2", "-allow-eviction")
	}
	h.waitIssuing(admin, smallWorkers, 30*time.Second)
	h.fault("eviction")
	h.note("eviction: maxmemory 3mb, %s; filling with 1 KiB junk keys", policy)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var junk atomic.Int64
	missing := map[string]*atomic.Int64{}
	keys := []string{h.keys.Epoch(), h.keys.HWM(), h.keys.Meta()}
	for _, k := range keys {
		missing[k] = &atomic.Int64{}
	}
	wg.Add(2)
	go func() { // filler
		defer wg.Done()
		val := strings.Repeat("x", 1024)
		for i := 0; ctx.Err() == nil; i++ {
			_, _ = admin.Pipelined(ctx, func(p redis.Pipeliner) error {
				for j := range 50 {
					p.Set(ctx, "junk:"+strconv.Itoa(i*50+j), val, 0)
				}
				return nil
			})
			junk.Add(50)
			time.Sleep(25 * time.Millisecond)
		}
	}()
	go func() { // watcher of the namespace's keys
		defer wg.Done()
		for ctx.Err() == nil {
			for _, k := range keys {
				if n, err := admin.Exists(ctx, k).Result(); err == nil && n == 0 {
					missing[k].Add(1)
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	at := time.Now()
	deadline := at.Add(d)
	for i := 0; i < 2 || time.Now().Before(deadline); i++ {
		time.Sleep(2 * time.Second)
		evictionPause(h, admin)
	}
	time.Sleep(3 * time.Second)
	cancel()
	wg.Wait()
	stats := srv.Info(t, "stats")
	evicted, _ := strconv.Atoi(stats["evicted_keys"])
	var miss []string
	for _, k := range keys {
		miss = append(miss, fmt.Sprintf("%s missing in %d of the 50ms checks", k, missing[k].Load()))
	}
	h.note("eviction: %d junk keys written over %v; Redis evicted %d keys; %s",
		junk.Load(), time.Since(at).Round(time.Second), evicted, strings.Join(miss, ", "))
	assert.NotZero(t, evicted, "eviction: Redis evicted nothing: the fault did not happen")
	r := h.check("eviction " + policy + ", unsupported config: duplicates reported, not asserted")
	h.runPost(r)
	h.noteOutages(r, "eviction", at, time.Now(), 0)
	h.note("eviction: RESULT (unsupported configuration, not asserted): %d duplicate IDs, %d handovers", r.Duplicates, r.Handovers())
	for _, p := range r.Problems {
		h.note("eviction:   %s", p)
	}
	h.printNotes("eviction " + policy)
	// These hold whatever Redis does.
	problems := strings.Join(r.Problems, "\n")
	assert.Zero(t, r.Backwards, "eviction: backward steps:\n%s", problems)
	assert.Zero(t, r.AboveFence, "eviction: IDs above their fence:\n%s", problems)
	assert.Zero(t, r.WrongWorker, "eviction: runs under a wrong fence record:\n%s", problems)
}

// evictionPause pauses a worker that is issuing IDs past its TTL, without
// requiring a takeover (Redis may have evicted the keys a takeover needs, and
// `idgen leases` lists nothing once the namespace's meta key is gone), and
// notes what happened to its worker ID.
func evictionPause(h *harness, c redis.UniversalClient) {
	var victim *proc
	var w int64
	for _, p := range h.procs {
		if pw, at, ok := p.issuing(); ok && time.Since(at) < 500*time.Millisecond {
			victim, w = p, pw
			break
		}
	}
	if victim == nil {
		h.note("eviction: no worker is issuing IDs; nothing to pause")
		return
	}
	at := time.Now()
	victim.pause()
	h.fault("node-pause")
	time.Sleep(ttl + time.Second)
	victim.resume()
	end := time.Now()
	h.note("eviction: %s (worker %d) SIGSTOPped for %v", victim.name, w, end.Sub(at).Round(time.Millisecond))
	h.after(func(r *chaos.Report) {
		for _, hd := range r.Holders(w) {
			if taker := r.Procs[hd.Proc]; hd.From.After(at) && taker.Name != victim.name {
				h.verifyTakeover(r, "node-pause", victim, h.byHost(taker.Name), w, at, hd.From, end)
				return
			}
		}
		h.note("eviction: nobody issued with worker %d after %s was paused", w, victim.name)
	})
}
