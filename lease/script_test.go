package lease

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
		require.NoError(t, c.HSet(ctx, k.hwm, itoa(id), now-100).Err())
	}
	require.NoError(t, c.HSet(ctx, k.hwm, "17", now-5000).Err())
	l := mustAcquire(t, c, o)
	assert.Equal(t, int64(17), l.WorkerID(), "l.WorkerID()")
	// The quarantine of a first use is later than HWM 17.
	assert.Equal(t, l.quarantine, l.StartAfter(), "l.StartAfter()")
	assert.True(t, hwmOf(t, c, "low", 17) >= l.Fence(), "HWM raised to the fence before it is used")

	// Never-used IDs (no HWM) come before any used one.
	require.NoError(t, c.HDel(ctx, k.hwm, "40").Err())
	l2 := mustAcquire(t, c, o)
	assert.Equal(t, int64(40), l2.WorkerID(), "l2.WorkerID()")
}

func TestScriptAcquireIsIdempotentPerToken(t *testing.T) {
	t.Parallel()
	c := scriptServer(t)
	o, err := testOpts("idem", layout64).resolve()
	require.NoError(t, err)
	l := &Lease{opts: o, keys: KeysOf("idem"), run: runner{client: c}, anchor: newClockAnchor(o.Clock),
		token: "tok", workers: 64, window: o.Layout.Ticks(o.Window)}
	ctx := context.Background()
	r1, err := l.acquireWindow(ctx, 5, 64)
	require.NoError(t, err)
	assert.Equal(t, int64(1), r1.status, "status")
	// The same call again (go-redis retrying after a lost reply) returns the
	// same worker and start, even though the HWM is now the first fence.
	r2, err := l.acquireWindow(ctx, 5, 64)
	require.NoError(t, err)
	assert.Equal(t, r1.id, r2.id, "r2.id")
	assert.Equal(t, r1.startAfter, r2.startAfter, "r2.startAfter")
	assert.Equal(t, r1.epoch, r2.epoch, "r2.epoch")
	n, err := c.Keys(ctx, "{idem}:lease:*").Result()
	require.NoError(t, err)
	assert.Equal(t, 1, len(n), "lease keys")

	// release.lua deletes only the token's key, with the HWM given.
	other := KeysOf("idem").Lease((r1.id + 1) % 64)
	require.NoError(t, c.Set(ctx, other, "someone|h|1|2|3", 0).Err())
	del, err := l.releaseKeys(KeysOf("idem").window(nil, 0, 64, 64), 0, "12345")
	require.NoError(t, err)
	assert.Equal(t, int64(1), del, "del")
	assert.Equal(t, int64(12345), hwmOf(t, c, "idem", r1.id), "released HWM")
	assert.Equal(t, int64(1), c.Exists(ctx, other).Val(), "other holder's key kept")
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
		require.NoError(t, err)
		return v
	}
	f := l.Fence()
	assert.Equal(t, []any{int64(1), f + 10, int64(0)}, renew(f+10), "renew")
	assert.Equal(t, f+10, hwmOf(t, c, "renew", l.WorkerID()), "HWM raised")
	assert.Equal(t, []any{int64(1), f + 5, int64(0)}, renew(f+5), "a lower fence is accepted")
	assert.Equal(t, f+10, hwmOf(t, c, "renew", l.WorkerID()), "but never lowers the HWM")

	// A holder whose clock runs an hour ahead proposes a fence an hour
	// ahead; it is granted no more than Redis' clock + Window, and the HWM
	// is raised only that far.
	ahead := o.Layout.Tick(time.Now().Add(time.Hour)) + window
	r := renew(ahead)
	assert.Len(t, r, 3, "reply length")
	granted := r[1].(int64)
	now := redisTick(t, c, o.Layout)
	assert.True(t, granted <= now+window && granted >= now+window-o.Layout.Ticks(time.Second), "granted fence %d, want about Redis tick %d + Window %d", granted, now, window)
	assert.Equal(t, max(f+10, granted), hwmOf(t, c, "renew", l.WorkerID()), "HWM raised to the capped fence only")
	f = hwmOf(t, c, "renew", l.WorkerID()) - 10 // so the lost-lease checks below read the HWM as it is now

	val := c.Get(ctx, lk).Val()
	require.NoError(t, c.Set(ctx, lk, "other|h|1|2|3", 0).Err())
	assert.Equal(t, []any{int64(0), "taken"}, renew(f+20), "renew")
	require.NoError(t, c.Del(ctx, lk).Err())
	assert.Equal(t, []any{int64(0), "expired"}, renew(f+20), "renew")
	require.NoError(t, c.HSet(ctx, lk, "a", "b").Err())
	assert.Equal(t, []any{int64(0), "wrongtype"}, renew(f+20), "renew")
	require.NoError(t, c.Del(ctx, lk).Err())
	require.NoError(t, c.Set(ctx, lk, val, 0).Err())
	require.NoError(t, c.Set(ctx, k.epoch, "new", 0).Err())
	assert.Equal(t, []any{int64(0), "epoch-changed"}, renew(f+20), "renew")
	require.NoError(t, c.Del(ctx, k.epoch).Err())
	assert.Equal(t, []any{int64(0), "epoch-missing"}, renew(f+20), "renew")
	require.NoError(t, c.Set(ctx, k.epoch, l.epoch, 0).Err())

	// Another server (a restart; the data persisted) or no meta hash: lost.
	srv.Restart()
	assert.Equal(t, []any{int64(0), "server-changed"}, renew(f+20), "renew")
	require.NoError(t, c.Del(ctx, k.meta).Err())
	assert.Equal(t, []any{int64(0), "meta-missing"}, renew(f+20), "renew")
	assert.Equal(t, f+10, hwmOf(t, c, "renew", l.WorkerID()), "a lost lease writes nothing")
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
		require.NoError(t, err)
		return v
	}
	assert.Equal(t, any(int64(2)), renew()[2], "replicas asked for with 2 connected")
	replicas[1].Kill()
	require.Eventually(t, func() bool { return strings.Contains(c.Info(ctx, "replication").Val(), "connected_slaves:1\r") }, 10*time.Second, 5*time.Millisecond, "the master still counts the killed replica")
	assert.Equal(t, any(int64(2)), renew()[2], "replicas asked for after one left")
	assert.Equal(t, "2", c.HGet(ctx, k.meta, "replicas").Val(), "remembered replicas")
	require.NoError(t, ForgetReplicas(ctx, c, "reps", 1))
	assert.Equal(t, any(int64(1)), renew()[2], "replicas asked for after ForgetReplicas")
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
	o.RenewInterval = ManualRenewal     // renewals are the test's
	require.NoError(t, Init(ctx, c, o)) // no first-use quarantine
	a := mustAcquire(t, c, o)
	k := KeysOf("moved")
	b := mustAcquire(t, c, o)
	assert.Equal(t, a.epoch, b.epoch, "same server: same epoch")
	assert.True(t, b.StartAfter() < redisTick(t, c, layout64), "same server: no quarantine, starts after %d", b.StartAfter())
	server := c.HGet(ctx, k.meta, "server").Val()

	moved := func(srv *redistest.Server, c *redis.Client, what string) {
		t.Helper()
		before := redisTick(t, c, layout64)
		x := mustAcquire(t, c, o)
		q := before + layout64.Ticks(o.Window) + layout64.Ticks(o.MaxSkew)
		assert.True(t, x.StartAfter() >= q, "after %s: start %d, below the quarantine %d", what, x.StartAfter(), q)
		assert.True(t, x.epoch != b.epoch, "after %s the epoch must change", what)
		require.ErrorIs(t, a.Renew(ctx), ErrLeaseLost)
		next := c.HGet(ctx, k.meta, "server").Val()
		want := srv.Info(t, "server")["run_id"] + ":" + srv.Info(t, "replication")["master_replid"]
		assert.True(t, next != server && next == want, "%s: server stamped %q, want %q", what, next, want)
		server = next
		b = x
	}
	master.Restart()
	moved(master, c, "a restart")

	// A replica of it, promoted: another incarnation that has the data.
	replica := redistest.Start(t, redistest.Config{ReplicaOf: master.Addr})
	redistest.WaitSynced(t, master, replica)
	rc := replica.Client(t)
	require.NoError(t, rc.Do(ctx, "REPLICAOF", "NO", "ONE").Err())
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
	require.NoError(t, pc.Do(ctx, "REPLICAOF", "NO", "ONE").Err())
	old.Kill()
	k := KeysOf("longp")
	assert.Equal(t, "1", pc.HGet(ctx, k.meta, "replicas").Val(), "the old master's count, replicated")

	// The first acquire on the promoted server starts over: no replica.
	mustAcquire(t, pc, o)
	assert.Equal(t, "0", pc.HGet(ctx, k.meta, "replicas").Val(), "a promoted replica starts over")

	// It gets a replica of its own; the namespace remembers it.
	r2 := redistest.Start(t, redistest.Config{ReplicaOf: promoted.Addr})
	redistest.WaitSynced(t, promoted, r2)
	acquireReplicated(t, pc, o)
	assert.Equal(t, "1", pc.HGet(ctx, k.hwm, "_replicas").Val(), "the copy in the hwm hash")

	// The meta hash is lost (a DEL). The server still shows master_replid2,
	// but it did not take over from the master that stamped this data (it
	// stamped it itself): the count stays 1.
	require.NoError(t, pc.Del(ctx, k.meta).Err())
	r2.Kill()
	require.Eventually(t, func() bool { return strings.Contains(pc.Info(ctx, "replication").Val(), "connected_slaves:0\r") }, 10*time.Second, 5*time.Millisecond, "the promoted master still counts its replica")
	_, err := Acquire(ctx, pc, o)
	require.ErrorIs(t, err, ErrReplication) // waits for the remembered replica, which is gone: fail closed
}

// A Redis that may evict any key is refused unless allowed; volatile-*
// policies (only keys with a TTL, the lease keys) are fine.
func TestScriptEvictionPolicy(t *testing.T) {
	t.Parallel()
	c := scriptServer(t)
	ctx := context.Background()
	o := testOpts("evict", layout64)
	o.TTL = time.Minute
	require.NoError(t, c.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err())
	_, err := Acquire(ctx, c, o)
	require.ErrorIs(t, err, ErrEvictionPolicy)
	assert.True(t, strings.Contains(err.Error(), "allkeys-lru") && strings.Contains(err.Error(), "noeviction"), "message: %v", err)
	assert.Equal(t, int64(0), c.Exists(ctx, "{evict}:meta", "{evict}:epoch").Val(), "keys left by a refused acquire")
	o.AllowEviction = true
	mustAcquire(t, c, o)
	o.AllowEviction = false
	require.NoError(t, c.ConfigSet(ctx, "maxmemory-policy", "volatile-lru").Err())
	mustAcquire(t, c, o)
}

func TestScriptLayoutMismatch(t *testing.T) {
	t.Parallel()
	c := scriptServer(t)
	mustAcquire(t, c, testOpts("lay", layout64))
	_, err := Acquire(context.Background(), c, testOpts("lay", twoWorkers))
	require.ErrorIs(t, err, ErrLayoutMismatch)
	assert.True(t, strings.Contains(err.Error(), layout64.Fingerprint()), "error names the stored layout: %v", err)
}
