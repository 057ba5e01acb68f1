package lease

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen/internal/redistest"
)

// Checks of the scripts' logic, each on its own redis-server.

func scriptServer(t *testing.T) *redis.Client {
	t.Helper()
	return redistest.Start(t, redistest.Config{}).Client(t)
}

func TestScriptPrefersLowestHWM(t *testing.T) {
	t.Parallel()
	c := scriptServer(t)
	ctx := context.Background()
	o := testOpts("low", layout64)
	o.TTL = time.Minute // no renewal during the test
	k := KeysOf("low")
	now := layout64.Tick(time.Now())
	// Every worker used recently except 17, whose HWM is furthest in the past.
	for id := range int64(64) {
		noErr(t, c.HSet(ctx, k.hwm, itoa(id), now-100).Err())
	}
	noErr(t, c.HSet(ctx, k.hwm, "17", now-5000).Err())
	l := mustAcquire(t, c, o)
	equal(t, l.WorkerID(), int64(17), "l.WorkerID()")
	// The quarantine of a first use is later than HWM 17.
	equal(t, l.StartAfter(), l.quarantine, "l.StartAfter()")
	check(t, hwmOf(t, c, "low", 17) >= l.Fence(), "HWM raised to the fence before it is used")

	// Never-used IDs (no HWM) come before any used one.
	noErr(t, c.HDel(ctx, k.hwm, "40").Err())
	l2 := mustAcquire(t, c, o)
	equal(t, l2.WorkerID(), int64(40), "l2.WorkerID()")
}

func TestScriptAcquireIsIdempotentPerToken(t *testing.T) {
	t.Parallel()
	c := scriptServer(t)
	o, err := testOpts("idem", layout64).resolve()
	noErr(t, err)
	l := &Lease{opts: o, keys: KeysOf("idem"), run: runner{client: c}, anchor: newClockAnchor(o.Clock),
		token: "tok", workers: 64, window: o.Layout.Ticks(o.Window)}
	ctx := context.Background()
	r1, err := l.acquireWindow(ctx, 5, 64)
	noErr(t, err)
	equal(t, r1.status, int64(1), "status")
	// The same call again (go-redis retrying after a lost reply) returns the
	// same worker and start, even though the HWM is now the first fence.
	r2, err := l.acquireWindow(ctx, 5, 64)
	noErr(t, err)
	equal(t, r2.id, r1.id, "r2.id")
	equal(t, r2.startAfter, r1.startAfter, "r2.startAfter")
	equal(t, r2.epoch, r1.epoch, "r2.epoch")
	n, err := c.Keys(ctx, "{idem}:lease:*").Result()
	noErr(t, err)
	equal(t, len(n), 1, "lease keys")

	// release.lua deletes only the token's key, with the HWM given.
	other := KeysOf("idem").Lease((r1.id + 1) % 64)
	noErr(t, c.Set(ctx, other, "someone|h|1|2|3", 0).Err())
	del, err := l.releaseKeys(KeysOf("idem").window(nil, 0, 64, 64), 0, "12345")
	noErr(t, err)
	equal(t, del, int64(1), "del")
	equal(t, hwmOf(t, c, "idem", r1.id), int64(12345), "released HWM")
	equal(t, c.Exists(ctx, other).Val(), int64(1), "other holder's key kept")
}

func TestScriptRenewOutcomes(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{Persist: true})
	c := srv.Client(t)
	ctx := context.Background()
	o := testOpts("renew", layout64)
	o.TTL = time.Minute
	l := mustAcquire(t, c, o)
	k := KeysOf("renew")
	lk := k.Lease(l.WorkerID())
	// The Window passed to the script: wider than the lease's, so that the
	// small raises below stay under the cap.
	window := o.Layout.Ticks(o.TTL) + 1000
	renew := func(fence int64) []any {
		v, err := renewScript.Run(ctx, c, []string{k.epoch, k.hwm, lk, k.meta}, l.token, l.epoch, 60000, l.WorkerID(), fence,
			o.Layout.Epoch.UnixMilli(), o.Layout.TimeUnit.Milliseconds(), window, 0).Slice()
		noErr(t, err)
		return v
	}
	f := l.Fence()
	equalSlice(t, renew(f+10), []any{int64(1), f + 10, int64(0)}, "renew")
	equal(t, hwmOf(t, c, "renew", l.WorkerID()), f+10, "HWM raised")
	equalSlice(t, renew(f+5), []any{int64(1), f + 5, int64(0)}, "a lower fence is accepted")
	equal(t, hwmOf(t, c, "renew", l.WorkerID()), f+10, "but never lowers the HWM")

	// A holder whose clock runs an hour ahead proposes a fence an hour
	// ahead; it is granted no more than Redis' clock + Window, and the HWM
	// is raised only that far.
	ahead := o.Layout.Tick(time.Now().Add(time.Hour)) + window
	r := renew(ahead)
	equal(t, len(r), 3, "reply length")
	granted := r[1].(int64)
	now := redisTick(t, c, o.Layout)
	check(t, granted <= now+window && granted >= now+window-o.Layout.Ticks(time.Second),
		"granted fence %d, want about Redis tick %d + Window %d", granted, now, window)
	equal(t, hwmOf(t, c, "renew", l.WorkerID()), max(f+10, granted), "HWM raised to the capped fence only")
	f = hwmOf(t, c, "renew", l.WorkerID()) - 10 // so the lost-lease checks below read the HWM as it is now

	val := c.Get(ctx, lk).Val()
	noErr(t, c.Set(ctx, lk, "other|h|1|2|3", 0).Err())
	equalSlice(t, renew(f+20), []any{int64(0), "taken"}, "renew")
	noErr(t, c.Del(ctx, lk).Err())
	equalSlice(t, renew(f+20), []any{int64(0), "expired"}, "renew")
	noErr(t, c.HSet(ctx, lk, "a", "b").Err())
	equalSlice(t, renew(f+20), []any{int64(0), "wrongtype"}, "renew")
	noErr(t, c.Del(ctx, lk).Err())
	noErr(t, c.Set(ctx, lk, val, 0).Err())
	noErr(t, c.Set(ctx, k.epoch, "new", 0).Err())
	equalSlice(t, renew(f+20), []any{int64(0), "epoch-changed"}, "renew")
	noErr(t, c.Del(ctx, k.epoch).Err())
	equalSlice(t, renew(f+20), []any{int64(0), "epoch-missing"}, "renew")
	noErr(t, c.Set(ctx, k.epoch, l.epoch, 0).Err())

	// Another server (a restart; the data persisted) or no meta hash: lost.
	srv.Restart()
	equalSlice(t, renew(f+20), []any{int64(0), "server-changed"}, "renew")
	noErr(t, c.Del(ctx, k.meta).Err())
	equalSlice(t, renew(f+20), []any{int64(0), "meta-missing"}, "renew")
	equal(t, hwmOf(t, c, "renew", l.WorkerID()), f+10, "a lost lease writes nothing")
}

// The replicas the master has are remembered in the namespace and asked
// for; a count that falls is still asked for, until ForgetReplicas.
func TestScriptRenewRemembersReplicas(t *testing.T) {
	t.Parallel()
	master, replicas := redistest.StartReplicated(t, redistest.Config{}, 2)
	redistest.WaitSynced(t, master, replicas...)
	c := master.Client(t)
	ctx := context.Background()
	o := testOpts("reps", layout64)
	o.TTL = time.Minute
	o.RenewInterval = ManualRenewal
	o.ReplicaTimeout = time.Second
	l := acquireReplicated(t, c, o)
	k := KeysOf("reps")
	renew := func() []any {
		v, err := renewScript.Run(ctx, c, []string{k.epoch, k.hwm, k.Lease(l.WorkerID()), k.meta}, l.token, l.epoch, 60000,
			l.WorkerID(), l.Fence(), o.Layout.Epoch.UnixMilli(), o.Layout.TimeUnit.Milliseconds(), l.window, 0).Slice()
		noErr(t, err)
		return v
	}
	equal(t, renew()[2], any(int64(2)), "replicas asked for with 2 connected")
	replicas[1].Kill()
	eventually(t, 10*time.Second, func() bool { return master.Info(t, "replication")["connected_slaves"] == "1" },
		"the master still counts the killed replica")
	equal(t, renew()[2], any(int64(2)), "replicas asked for after one left")
	equal(t, c.HGet(ctx, k.meta, "replicas").Val(), "2", "remembered replicas")
	noErr(t, ForgetReplicas(ctx, c, "reps", 1))
	equal(t, renew()[2], any(int64(1)), "replicas asked for after ForgetReplicas")
}

// An acquire on another server incarnation than the one the namespace was
// stamped with treats the data as possibly older: quarantine, a new epoch
// (so earlier leases fail their renewals), and the new server stamped. A
// promoted server forgets the replicas the old master had.
func TestScriptAcquireAfterServerChange(t *testing.T) {
	t.Parallel()
	master := redistest.Start(t, redistest.Config{Persist: true})
	c := master.Client(t)
	ctx := context.Background()
	o := testOpts("moved", layout64)
	o.RenewInterval = ManualRenewal // renewals are the test's
	a := mustAcquire(t, c, o)
	k := KeysOf("moved")
	waitPast(layout64, a.StartAfter())
	b := mustAcquire(t, c, o)
	equal(t, b.epoch, a.epoch, "same server: same epoch")
	check(t, b.StartAfter() < redisTick(t, c, layout64), "same server: no quarantine, starts after %d", b.StartAfter())
	server := c.HGet(ctx, k.meta, "server").Val()

	moved := func(srv *redistest.Server, c *redis.Client, what string) {
		t.Helper()
		before := redisTick(t, c, layout64)
		x := mustAcquire(t, c, o)
		q := before + layout64.Ticks(o.Window) + layout64.Ticks(o.MaxSkew)
		check(t, x.StartAfter() >= q, "after %s: start %d, below the quarantine %d", what, x.StartAfter(), q)
		check(t, x.epoch != b.epoch, "after %s the epoch must change", what)
		errIs(t, a.Renew(ctx), ErrLeaseLost)
		next := c.HGet(ctx, k.meta, "server").Val()
		want := srv.Info(t, "server")["run_id"] + ":" + srv.Info(t, "replication")["master_replid"]
		check(t, next != server && next == want, "%s: server stamped %q, want %q", what, next, want)
		server = next
		b = x
	}
	master.Restart()
	moved(master, c, "a restart")

	// A replica of it, promoted: another incarnation that has the data.
	replica := redistest.Start(t, redistest.Config{ReplicaOf: master.Addr})
	redistest.WaitSynced(t, master, replica)
	rc := replica.Client(t)
	noErr(t, rc.Do(ctx, "REPLICAOF", "NO", "ONE").Err())
	o.MinReplicas = NoReplicaWait // the old master would otherwise be remembered as this one's replica count
	moved(replica, rc, "a promotion")
}

// master_replid2 stays set for a promoted master's whole life: only a
// server that took over from the master that stamped the namespace starts
// over with its replica count. A master promoted long ago that loses its
// meta hash keeps the count from the hwm hash's copy.
func TestScriptLongPromotedMasterKeepsReplicas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := redistest.Start(t, redistest.Config{})
	promoted := redistest.Start(t, redistest.Config{ReplicaOf: old.Addr})
	redistest.WaitSynced(t, old, promoted)
	o := testOpts("longp", layout64)
	o.TTL = time.Minute
	o.RenewInterval = ManualRenewal
	o.ReplicaTimeout = time.Second
	acquireReplicated(t, old.Client(t), o) // stamps the namespace on the old master, 1 replica remembered
	pc := promoted.Client(t)
	redistest.WaitSynced(t, old, promoted)
	noErr(t, pc.Do(ctx, "REPLICAOF", "NO", "ONE").Err())
	old.Kill()
	k := KeysOf("longp")
	equal(t, pc.HGet(ctx, k.meta, "replicas").Val(), "1", "the old master's count, replicated")

	// The first acquire on the promoted server starts over: no replica.
	mustAcquire(t, pc, o)
	equal(t, pc.HGet(ctx, k.meta, "replicas").Val(), "0", "a promoted replica starts over")

	// It gets a replica of its own; the namespace remembers it.
	r2 := redistest.Start(t, redistest.Config{ReplicaOf: promoted.Addr})
	redistest.WaitSynced(t, promoted, r2)
	acquireReplicated(t, pc, o)
	equal(t, pc.HGet(ctx, k.hwm, "_replicas").Val(), "1", "the copy in the hwm hash")

	// The meta hash is lost (a DEL). The server still shows master_replid2,
	// but it did not take over from the master that stamped this data (it
	// stamped it itself): the count stays 1.
	noErr(t, pc.Del(ctx, k.meta).Err())
	r2.Kill()
	eventually(t, 10*time.Second, func() bool { return promoted.Info(t, "replication")["connected_slaves"] == "0" },
		"the promoted master still counts its replica")
	_, err := Acquire(ctx, pc, o)
	errIs(t, err, ErrReplication) // waits for the remembered replica, which is gone: fail closed
}

// A Redis that may evict any key is refused unless allowed; volatile-*
// policies (only keys with a TTL, the lease keys) are fine.
func TestScriptEvictionPolicy(t *testing.T) {
	t.Parallel()
	c := scriptServer(t)
	ctx := context.Background()
	o := testOpts("evict", layout64)
	o.TTL = time.Minute
	noErr(t, c.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err())
	_, err := Acquire(ctx, c, o)
	errIs(t, err, ErrEvictionPolicy)
	check(t, strings.Contains(err.Error(), "allkeys-lru") && strings.Contains(err.Error(), "noeviction"), "message: %v", err)
	equal(t, c.Exists(ctx, "{evict}:meta", "{evict}:epoch").Val(), int64(0), "keys left by a refused acquire")
	o.AllowEviction = true
	mustAcquire(t, c, o)
	o.AllowEviction = false
	noErr(t, c.ConfigSet(ctx, "maxmemory-policy", "volatile-lru").Err())
	mustAcquire(t, c, o)
}

func TestScriptLayoutMismatch(t *testing.T) {
	t.Parallel()
	c := scriptServer(t)
	mustAcquire(t, c, testOpts("lay", layout64))
	_, err := Acquire(context.Background(), c, testOpts("lay", twoWorkers))
	errIs(t, err, ErrLayoutMismatch)
	check(t, strings.Contains(err.Error(), layout64.Fingerprint()), "error names the stored layout: %v", err)
}
