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

	"github.com/snowlease/idgen/internal/redistest"
)

// MinReplicas with a real replica: renewals wait for it; with the replica
// gone, renewals fail, the fence stops rising and IDs stop at it.
func TestMinReplicas(t *testing.T) {
	t.Parallel()
	master, replicas := redistest.StartReplicated(t, redistest.Config{}, 1)
	c := master.Client(t)
	ctx := context.Background()
	o := testOpts("replicas", layout64)
	o.MinReplicas = 1
	o.RenewInterval = 240 * time.Millisecond
	o.ReplicaTimeout = 200 * time.Millisecond
	l := acquireReplicated(t, c, o)
	g := newFakeGen(l)
	l.Bind(g)
	// Every fence the lease adopts is on the replica already.
	rc := replicas[0].Client(t)
	onReplica := &replicaProbe{t: t, c: rc, key: l.keys.hwm, field: itoa(l.WorkerID())}
	l.Bind(onReplica)

	// The scripts' cache flushed: the pipelined EVALSHA falls back to EVAL.
	noErr(t, c.ScriptFlush(ctx).Err())
	eventually(t, 6*time.Second, func() bool { return l.Stats().Renewals >= 3 }, "renewals with a live replica: %+v", l.Stats())
	check(t, onReplica.checked() >= 3, "only %d fences checked", onReplica.checked())

	replicas[0].Kill()
	eventually(t, 2*time.Second, func() bool { return l.Stats().ConsecutiveFailures >= 2 }, "renewals did not fail without the replica")
	fence := l.Fence()
	time.Sleep(4 * o.RenewInterval)
	s := l.Stats()
	equal(t, s.Fence, fence, "fence while renewals fail")
	errIs(t, s.LastError, ErrReplication)
	select {
	case <-l.Done():
		t.Fatal("a failed renewal ended the lease")
	default:
	}
	// IDs stop at the fence: once the clock passes it, nothing is issued.
	waitPast(layout64, fence)
	_, err := g.Next()
	errIs(t, err, errFenced)

	// An acquire whose write no replica acknowledged is undone.
	before := keysOf(t, c)
	_, err = Acquire(ctx, c, o)
	errIs(t, err, ErrReplication)
	after := keysOf(t, c)
	for k := range after {
		if strings.Contains(k, ":lease:") {
			check(t, before[k] != "", "acquire left %s behind", k)
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
	noErr(t, err)
	text := string(doc)
	i := strings.Index(text, "ACL SETUSER idgen ")
	must(t, i >= 0, "docs/operations.md has no ACL SETUSER idgen line")
	line := text[i:]
	line = line[:strings.Index(line, "```")]
	line = strings.ReplaceAll(line, "\\\n", " ")
	fields := strings.Fields(line)
	must(t, len(fields) > 5 && fields[3] == "on" && fields[4] == ">PASSWORD", "unexpected ACL line: %q", line)
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
	eventually(t, 3*time.Second, func() bool { return l.Stats().Renewals >= 2 }, "renewals as the ACL user: %+v", l.Stats())
	infos, err := List(ctx, c, "acl")
	noErr(t, err)
	equal(t, len(infos), 1, "listed")
	noErr(t, l.Close(context.Background()))
	equal(t, master.Client(t).Exists(ctx, l.keys.lease(l.WorkerID())).Val(), int64(0), "key after release")

	// The key pattern is enforced: another namespace is refused.
	_, err = Acquire(ctx, c, testOpts("other", layout64))
	errIs(t, err, ErrPermission)

	// Without one of the commands the scripts call: a clear error, nothing left.
	master.SetUser(t, "nohset", append([]string{"on", ">pw"}, rules...)...)
	master.SetUser(t, "nohset", "-hset")
	_, err = Acquire(ctx, master.ClientAs(t, "nohset", "pw"), testOpts("acl", layout64))
	errIs(t, err, ErrPermission)
	check(t, strings.Contains(err.Error(), "+hset") && strings.Contains(err.Error(), "~{<namespace>}:*"),
		"message lists what the user needs: %v", err)
	infos, err = List(ctx, c, "acl")
	noErr(t, err)
	equal(t, len(infos), 0, "leases after a refused acquire")
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
		errIs(t, err, ErrUnavailable)
		check(t, time.Since(at) < 800*time.Millisecond, "failing took %v with OpTimeout 300ms", time.Since(at))
		lctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err = List(lctx, c, "x")
		errIs(t, err, ErrUnavailable)
	})

	t.Run("bounded by ctx", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t, redistest.Config{})
		c := srv.Client(t)
		noErr(t, c.Ping(ctx).Err()) // a pooled connection that will hang
		srv.Pause()
		cctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		defer cancel()
		at := time.Now()
		_, err := Acquire(cctx, c, testOpts("paused", layout64))
		took := time.Since(at)
		srv.Resume()
		errIs(t, err, ErrUnavailable)
		errIs(t, err, context.DeadlineExceeded)
		check(t, took < 400*time.Millisecond, "failing took %v with a 150ms deadline", took)
		// The script may still run once Redis answers; the late reply
		// triggers a compare-and-delete, so no lease key is left.
		admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { _ = admin.Close() })
		eventually(t, 10*time.Second, func() bool {
			n, err := admin.Keys(ctx, "{paused}:lease:*").Result()
			return err == nil && len(n) == 0
		}, "a lease key was left behind")
	})

	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t, redistest.Config{Password: "right"})
		c := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: "wrong"})
		t.Cleanup(func() { _ = c.Close() })
		_, err := Acquire(ctx, c, testOpts("x", layout64))
		errIs(t, err, ErrAuth)
		c2 := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { _ = c2.Close() })
		_, err = Acquire(ctx, c2, testOpts("x", layout64))
		errIs(t, err, ErrAuth)
		_, err = List(ctx, c2, "x")
		errIs(t, err, ErrAuth)
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
		setup func(k keySet) error
		want  []error
		text  string
	}{
		{"lease keys are hashes", func(k keySet) error {
			for id := range int64(64) {
				if err := c.HSet(ctx, k.lease(id), "f", "v").Err(); err != nil {
					return err
				}
			}
			return nil
		}, []error{ErrNoWorkerAvailable, ErrForeignKey}, "64 lease keys hold values of another type"},
		{"hwm is a string", func(k keySet) error { return c.Set(ctx, k.hwm, "x", 0).Err() },
			[]error{ErrForeignKey}, "hwm holds a string"},
		{"meta is a list", func(k keySet) error { return c.RPush(ctx, k.meta, "x").Err() },
			[]error{ErrForeignKey}, "meta holds a list"},
		{"epoch is a hash", func(k keySet) error { return c.HSet(ctx, k.epoch, "x", "y").Err() },
			[]error{ErrForeignKey}, "epoch holds a hash"},
		{"hwm not a number", func(k keySet) error {
			for id := range int64(64) {
				if err := c.HSet(ctx, k.hwm, itoa(id), "soon").Err(); err != nil {
					return err
				}
			}
			return nil
		}, []error{ErrForeignKey}, "not an integer"},
		{"another layout", func(k keySet) error { return c.HSet(ctx, k.meta, "layout", "v1 something else").Err() },
			[]error{ErrLayoutMismatch}, "v1 something else"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := "foreign" + itoa(int64(i))
			noErr(t, tc.setup(newKeySet(ns)))
			before := keysOf(t, c)
			_, err := Acquire(ctx, c, testOpts(ns, layout64))
			for _, w := range tc.want {
				errIs(t, err, w)
			}
			check(t, strings.Contains(err.Error(), tc.text), "message %q lacks %q", err, tc.text)
			after := keysOf(t, c)
			check(t, len(after) == len(before), "keys before %v, after %v", before, after)
			for k, typ := range before {
				equal(t, after[k], typ, "type of "+k)
			}
		})
	}
	// A foreign string in a lease key is a held worker, shown by List.
	noErr(t, c.Set(ctx, "{liststr}:lease:3", "not ours", 0).Err())
	mustAcquire(t, c, testOpts("liststr", layout64))
	infos, err := List(ctx, c, "liststr")
	noErr(t, err)
	found := false
	for _, in := range infos {
		if in.WorkerID == 3 {
			found = true
			equal(t, in.Host, "not ours", "raw value")
			equal(t, in.TTL, time.Duration(-1), "no TTL")
		}
	}
	check(t, found, "foreign lease not listed: %v", infos)
}

// On Redis Cluster every key shares the namespace's slot; MinReplicas
// routes WAIT to the master of that slot.
func TestCluster(t *testing.T) {
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
	check(t, a.WorkerID() != b.WorkerID(), "one worker twice")
	eventually(t, 5*time.Second, func() bool { return a.Stats().Renewals >= 3 }, "renewals on the cluster: %+v", a.Stats())
	infos, err := List(context.Background(), c, "cluster")
	noErr(t, err)
	equal(t, len(infos), 2, "listed")

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
	eventually(t, 10*time.Second, func() bool { return a.Stats().Renewals >= s0.Renewals+5 }, "renewals stopped without another shard's replica")
	own.Kill()
	eventually(t, 3*time.Second, func() bool { return a.Stats().ConsecutiveFailures >= 1 },
		"renewals did not fail without the slot master's replica: %+v", a.Stats())
	s1 := a.Stats()
	// Decisive: with WAIT on a random shard, most of these would succeed.
	eventually(t, 10*time.Second, func() bool { return a.Stats().RenewFailures >= s1.RenewFailures+5 }, "no more renewals tried")
	equal(t, a.Stats().Renewals, s1.Renewals, "renewals without the slot master's replica")
	errIs(t, a.Stats().LastError, ErrReplication)
	noErr(t, a.Close(context.Background()))
	noErr(t, b.Close(context.Background()))
}

func TestInvalidClient(t *testing.T) {
	t.Parallel()
	_, err := Acquire(context.Background(), nil, Options{})
	errIs(t, err, ErrInvalidOptions)
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": closedPort(t)}})
	t.Cleanup(func() { _ = ring.Close() })
	_, err = Acquire(context.Background(), ring, Options{MinReplicas: 1})
	var oe *OptionError
	must(t, errors.As(err, &oe), "not an OptionError: %v", err)
	equal(t, oe.Field, "MinReplicas", "field")
}
