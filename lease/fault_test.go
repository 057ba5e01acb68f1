package lease

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/internal/redistest"
)

// MinReplicas with a real replica: renewals wait for it; with the replica
// gone, renewals fail, the fence stops rising and IDs stop at it. The
// renewals run in virtual time; each WAIT is real.
func TestMinReplicas(t *testing.T) {
	t.Parallel()
	master, replicas := redistest.StartReplicated(t, redistest.Config{}, 1)
	c := master.Client(t)
	ctx := context.Background()
	o := testOpts("replicas", layout64)
	o.TTL = 10 * time.Second // real time: the key must not expire while the test runs
	o.MinReplicas = 1
	o.RenewInterval = 240 * time.Millisecond
	o.ReplicaTimeout = 200 * time.Millisecond
	f := inVirtualTime(t, c, &o)
	l := acquireReplicated(t, c, o)
	g := newFakeGen(l)
	l.Bind(g)
	// Every fence the lease adopts is on the replica already.
	rc := replicas[0].Client(t)
	onReplica := &replicaProbe{t: t, c: rc, key: l.keys.hwm, field: itoa(l.WorkerID())}
	l.Bind(onReplica)

	// renewUntil renews until cond holds; a loaded machine may make a WAIT
	// fall short now and then, so it allows a few more renewals than needed.
	renewUntil := func(what string, cond func(Stats) bool) {
		t.Helper()
		for i := 0; !cond(l.Stats()); i++ {
			require.Less(t, i, 20, "%s: %+v", what, l.Stats())
			renew(t, f, l)
		}
	}
	// The scripts' cache flushed: the pipelined EVALSHA falls back to EVAL.
	require.NoError(t, c.ScriptFlush(ctx).Err())
	renewUntil("renewals with a live replica", func(s Stats) bool { return s.Renewals >= 3 })
	assert.GreaterOrEqual(t, onReplica.checked(), 3, "fences checked on the replica")

	replicas[0].Kill()
	renewUntil("renewals did not fail without the replica", func(s Stats) bool { return s.ConsecutiveFailures >= 2 })
	fence := l.Fence()
	for range 4 {
		renew(t, f, l)
	}
	s := l.Stats()
	assert.Equal(t, fence, s.Fence, "fence while renewals fail")
	assert.GreaterOrEqual(t, s.ConsecutiveFailures, uint64(6), "ConsecutiveFailures")
	require.ErrorIs(t, s.LastError, ErrReplication)
	select {
	case <-l.Done():
		t.Fatal("a failed renewal ended the lease")
	default:
	}
	// IDs stop at the fence: once the clock passes it, nothing is issued.
	_, err := g.Next()
	require.NoError(t, err, "before the fence")
	f.Advance(layout64.Time(fence + 1).Sub(f.Now()))
	_, err = g.Next()
	require.ErrorIs(t, err, errFenced)

	// An acquire whose write no replica acknowledged is undone.
	before := keysOf(t, c)
	_, err = Acquire(ctx, c, o)
	require.ErrorIs(t, err, ErrReplication)
	after := keysOf(t, c)
	for k := range after {
		if strings.Contains(k, ":lease:") {
			assert.True(t, before[k] != "", "acquire left %s behind", k)
		}
	}
}

// replicaProbe is a bound target that checks, when a fence is adopted,
// that the replica already holds an HWM at least as high.
type replicaProbe struct {
	t          *testing.T
	c          *redis.Client
	key, field string
	mu         sync.Mutex
	n          int
}

func (p *replicaProbe) SetFence(tick int64) {
	v, err := p.c.HGet(context.Background(), p.key, p.field).Int64()
	if err != nil || v < tick {
		p.t.Errorf("fence %d adopted while the replica's HWM is %d (%v)", tick, v, err)
	}
	p.mu.Lock()
	p.n++
	p.mu.Unlock()
}

func (p *replicaProbe) checked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

func (p *replicaProbe) Stop()           {}
func (p *replicaProbe) LastTick() int64 { return 0 }

// aclRules are the rules of the ACL SETUSER line in docs/operations.md,
// read from the document itself (the documented line is the tested one),
// for namespace ns: the line's "{orders}" becomes "{ns}", and the user name,
// "on" and the password are left to the caller.
func aclRules(t *testing.T, ns string) []string {
	t.Helper()
	doc, err := os.ReadFile("../docs/operations.md")
	require.NoError(t, err)
	text := string(doc)
	i := strings.Index(text, "ACL SETUSER idgen ")
	require.True(t, i >= 0, "docs/operations.md has no ACL SETUSER idgen line")
	line := text[i:]
	line = line[:strings.Index(line, "```")]
	line = strings.ReplaceAll(line, "\\\n", " ")
	fields := strings.Fields(line)
	require.True(t, len(fields) > 5 && fields[3] == "on" && fields[4] == ">PASSWORD", "unexpected ACL line: %q", line)
	rules := fields[5:]
	for i, r := range rules {
		rules[i] = strings.ReplaceAll(r, "{orders}", "{"+ns+"}")
	}
	return rules
}

func TestACLUserWithLeastPrivilege(t *testing.T) {
	t.Parallel()
	master, _ := redistest.StartReplicated(t, redistest.Config{}, 1)
	rules := aclRules(t, "acl")
	master.SetUser(t, "idgen", append([]string{"on", ">s3cret"}, rules...)...)
	c := master.ClientAs(t, "idgen", "s3cret")
	ctx := context.Background()

	o := testOpts("acl", layout64)
	o.RenewInterval = 240 * time.Millisecond
	o.MinReplicas = 1
	o.ReplicaTimeout = 200 * time.Millisecond
	l := acquireReplicated(t, c, o)
	require.Eventually(t, func() bool { return l.Stats().Renewals >= 2 }, 3*time.Second, 5*time.Millisecond, "renewals as the ACL user: %+v", l.Stats())
	infos, err := List(ctx, c, "acl")
	require.NoError(t, err)
	assert.Equal(t, 1, len(infos), "listed")
	require.NoError(t, l.Close(context.Background()))
	assert.Equal(t, int64(0), master.Client(t).Exists(ctx, l.keys.Lease(l.WorkerID())).Val(), "key after release")

	// The key pattern is enforced: another namespace is refused.
	_, err = Acquire(ctx, c, testOpts("other", layout64))
	require.ErrorIs(t, err, ErrPermission)

	// Without one of the commands the scripts call: a clear error, nothing left.
	master.SetUser(t, "nohset", append([]string{"on", ">pw"}, rules...)...)
	master.SetUser(t, "nohset", "-hset")
	_, err = Acquire(ctx, master.ClientAs(t, "nohset", "pw"), testOpts("acl", layout64))
	require.ErrorIs(t, err, ErrPermission)
	assert.True(t, strings.Contains(err.Error(), "+hset") && strings.Contains(err.Error(), "~{<namespace>}:*"), "message lists what the user needs: %v", err)
	infos, err = List(ctx, c, "acl")
	require.NoError(t, err)
	assert.Equal(t, 0, len(infos), "leases after a refused acquire")
}

func TestBadRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		c := redis.NewClient(&redis.Options{Addr: closedPort(t)})
		t.Cleanup(func() { _ = c.Close() })
		// go-redis retries a refused dial for about 1.7s; OpTimeout cuts it short.
		o := testOpts("x", layout64)
		o.OpTimeout = 300 * time.Millisecond
		at := time.Now()
		_, err := Acquire(ctx, c, o)
		require.ErrorIs(t, err, ErrUnavailable)
		assert.True(t, time.Since(at) < 800*time.Millisecond, "failing took %v with OpTimeout 300ms", time.Since(at))
		lctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err = List(lctx, c, "x")
		require.ErrorIs(t, err, ErrUnavailable)
	})

	t.Run("bounded by ctx", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t, redistest.Config{})
		c := srv.Client(t)
		require.NoError(t, c.Ping(ctx).Err()) // a pooled connection that will hang
		srv.Pause()
		cctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		defer cancel()
		at := time.Now()
		_, err := Acquire(cctx, c, testOpts("paused", layout64))
		took := time.Since(at)
		srv.Resume()
		require.ErrorIs(t, err, ErrUnavailable)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.True(t, took < 400*time.Millisecond, "failing took %v with a 150ms deadline", took)
		// The script may still run once Redis answers; the late reply
		// triggers a compare-and-delete, so no lease key is left.
		admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { _ = admin.Close() })
		require.Eventually(t, func() bool {
			n, err := admin.Keys(ctx, "{paused}:lease:*").Result()
			return err == nil && len(n) == 0
		}, 10*time.Second, 5*time.Millisecond, "a lease key was left behind")
	})

	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t, redistest.Config{Password: "right"})
		c := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: "wrong"})
		t.Cleanup(func() { _ = c.Close() })
		_, err := Acquire(ctx, c, testOpts("x", layout64))
		require.ErrorIs(t, err, ErrAuth)
		c2 := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { _ = c2.Close() })
		_, err = Acquire(ctx, c2, testOpts("x", layout64))
		require.ErrorIs(t, err, ErrAuth)
		_, err = List(ctx, c2, "x")
		require.ErrorIs(t, err, ErrAuth)
	})
}

// Keys of the namespace holding something else: a clear error, no panic,
// nothing written.
func TestForeignKeys(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Config{})
	c := srv.Client(t)
	ctx := context.Background()
	cases := []struct {
		name  string
		setup func(k Keys) error
		want  []error
		text  string
	}{
		{"lease keys are hashes", func(k Keys) error {
			for id := range int64(64) {
				if err := c.HSet(ctx, k.Lease(id), "f", "v").Err(); err != nil {
					return err
				}
			}
			return nil
		}, []error{ErrNoWorkerAvailable, ErrForeignKey}, "64 lease keys hold values of another type"},
		{"hwm is a string", func(k Keys) error { return c.Set(ctx, k.hwm, "x", 0).Err() },
			[]error{ErrForeignKey}, "hwm holds a string"},
		{"meta is a list", func(k Keys) error { return c.RPush(ctx, k.meta, "x").Err() },
			[]error{ErrForeignKey}, "meta holds a list"},
		{"epoch is a hash", func(k Keys) error { return c.HSet(ctx, k.epoch, "x", "y").Err() },
			[]error{ErrForeignKey}, "epoch holds a hash"},
		{"hwm not a number", func(k Keys) error {
			for id := range int64(64) {
				if err := c.HSet(ctx, k.hwm, itoa(id), "soon").Err(); err != nil {
					return err
				}
			}
			return nil
		}, []error{ErrForeignKey}, "not an integer"},
		{"another layout", func(k Keys) error { return c.HSet(ctx, k.meta, "layout", "v1 something else").Err() },
			[]error{ErrLayoutMismatch}, "v1 something else"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := "foreign" + itoa(int64(i))
			require.NoError(t, tc.setup(KeysOf(ns)))
			before := keysOf(t, c)
			_, err := Acquire(ctx, c, testOpts(ns, layout64))
			for _, w := range tc.want {
				require.ErrorIs(t, err, w)
			}
			assert.True(t, strings.Contains(err.Error(), tc.text), "message %q lacks %q", err, tc.text)
			after := keysOf(t, c)
			assert.True(t, len(after) == len(before), "keys before %v, after %v", before, after)
			for k, typ := range before {
				assert.Equal(t, typ, after[k], "type of "+k)
			}
		})
	}
	// A foreign string in a lease key is a held worker, shown by List.
	require.NoError(t, c.Set(ctx, "{liststr}:lease:3", "not ours", 0).Err())
	mustAcquire(t, c, testOpts("liststr", layout64))
	infos, err := List(ctx, c, "liststr")
	require.NoError(t, err)
	found := false
	for _, in := range infos {
		if in.WorkerID == 3 {
			found = true
			assert.Equal(t, "not ours", in.Host, "raw value")
			assert.Equal(t, time.Duration(-1), in.TTL, "no TTL")
		}
	}
	assert.True(t, found, "foreign lease not listed: %v", infos)
}

// On Redis Cluster every key shares the namespace's slot; MinReplicas
// routes WAIT to the master of that slot.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts a six-node Redis Cluster; runs without -short")
	}
	t.Parallel()
	cl := redistest.StartCluster(t, redistest.ClusterConfig{Masters: 3, Replicas: 1})
	for i, r := range cl.Replicas {
		redistest.WaitSynced(t, cl.Masters[i%len(cl.Masters)], r)
	}
	c := cl.Client(t)
	o := testOpts("cluster", layout64)
	o.TTL = time.Second
	o.RenewInterval = 300 * time.Millisecond
	o.MinReplicas = 1
	o.ReplicaTimeout = 250 * time.Millisecond // generous: the -race suite loads the machine
	a := acquireReplicated(t, c, o)
	b := acquireReplicated(t, c, o)
	assert.True(t, a.WorkerID() != b.WorkerID(), "one worker twice")
	require.Eventually(t, func() bool { return a.Stats().Renewals >= 3 }, 5*time.Second, 5*time.Millisecond, "renewals on the cluster: %+v", a.Stats())
	infos, err := List(context.Background(), c, "cluster")
	require.NoError(t, err)
	assert.Equal(t, 2, len(infos), "listed")

	// Only the replica of the namespace's master counts. Without another
	// shard's replica renewals go on (a WAIT sent to every shard, as go-redis
	// routes a keyless WAIT, would fall short); without its own they fail.
	m := cl.MasterFor(t, "{cluster}:meta")
	var own, other *redistest.Server
	for i, r := range cl.Replicas {
		if cl.Masters[i%len(cl.Masters)] == m {
			own = r
		} else {
			other = r
		}
	}
	other.Kill()
	s0 := a.Stats()
	require.Eventually(t, func() bool { return a.Stats().Renewals >= s0.Renewals+5 }, 10*time.Second, 5*time.Millisecond, "renewals stopped without another shard's replica")
	own.Kill()
	require.Eventually(t, func() bool { return a.Stats().ConsecutiveFailures >= 1 }, 3*time.Second, 5*time.Millisecond, "renewals did not fail without the slot master's replica: %+v", a.Stats())
	s1 := a.Stats()
	// Decisive: with WAIT on a random shard, most of these would succeed.
	require.Eventually(t, func() bool { return a.Stats().RenewFailures >= s1.RenewFailures+5 }, 10*time.Second, 5*time.Millisecond, "no more renewals tried")
	assert.Equal(t, s1.Renewals, a.Stats().Renewals, "renewals without the slot master's replica")
	require.ErrorIs(t, a.Stats().LastError, ErrReplication)
	require.NoError(t, a.Close(context.Background()))
	require.NoError(t, b.Close(context.Background()))
}

func TestInvalidClient(t *testing.T) {
	t.Parallel()
	_, err := Acquire(context.Background(), nil, Options{})
	require.ErrorIs(t, err, ErrInvalidOptions)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": closedPort(t)}})
	t.Cleanup(func() { _ = ring.Close() })
	_, err = Acquire(context.Background(), ring, Options{MinReplicas: 1})
	var oe *OptionError
	require.True(t, errors.As(err, &oe), "not an OptionError: %v", err)
	assert.Equal(t, "MinReplicas", oe.Field, "field")
}
