package redistest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// proxied starts a server and a proxy in front of it, and returns a direct
// client and a client through the proxy that honours context deadlines.
func proxied(t *testing.T) (*Server, *Proxy, *redis.Client, *redis.Client) {
	t.Helper()
	s := Start(t, Config{})
	p := NewProxy(t, s.Addr)
	o := s.Options()
	o.Addr = p.Addr
	o.ContextTimeoutEnabled = true
	o.MaxRetries = -1
	via := redis.NewClient(o)
	t.Cleanup(func() { _ = via.Close() })
	return s, p, s.Client(t), via
}

func ctxFor(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func TestProxyForwards(t *testing.T) {
	t.Parallel()
	_, p, direct, via := proxied(t)
	ctx := context.Background()
	if err := via.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := direct.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("write through proxy not on server: %q, %v", v, err)
	}
	if p.Conns() == 0 {
		t.Fatal("no connection counted")
	}
	if up, down := p.Forwarded(); up == 0 || down == 0 {
		t.Fatalf("forwarded %d up, %d down", up, down)
	}
	// A large value crosses many chunks intact.
	big := strings.Repeat("0123456789", 100_000)
	if err := via.Set(ctx, "big", big, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := via.Get(ctx, "big").Result(); err != nil || v != big {
		t.Fatalf("big value: len %d, %v", len(v), err)
	}
}

func TestProxyLatency(t *testing.T) {
	t.Parallel()
	_, p, _, via := proxied(t)
	ctx := context.Background()
	if err := via.Ping(ctx).Err(); err != nil { // connect first
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		up, down time.Duration
	}{
		{"up", 150 * time.Millisecond, 0},
		{"down", 0, 150 * time.Millisecond},
		{"both", 100 * time.Millisecond, 120 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.SetLatency(Upstream, tc.up)
			p.SetLatency(Downstream, tc.down)
			start := time.Now()
			if err := via.Ping(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if got := time.Since(start); got < tc.up+tc.down {
				t.Fatalf("round trip %v, want >= %v", got, tc.up+tc.down)
			}
		})
	}
	p.Restore()
	start := time.Now()
	if err := via.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if got := time.Since(start); got > 100*time.Millisecond {
		t.Fatalf("round trip after Restore %v", got)
	}
}

func TestProxyHoldReplies(t *testing.T) {
	t.Parallel()
	_, p, direct, via := proxied(t)
	ctx := context.Background()
	if err := via.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	p.Hold()
	done := make(chan error, 1)
	go func() {
		cctx, cancel := ctxFor(10 * time.Second)
		defer cancel()
		done <- via.Set(cctx, "k", "held", 0).Err()
	}()
	// The request runs on the server while its reply waits in the proxy.
	deadline := time.Now().Add(5 * time.Second)
	for direct.Get(ctx, "k").Val() != "held" {
		if time.Now().After(deadline) {
			t.Fatal("held request never reached the server")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("reply delivered while held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	p.Release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("held reply: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("reply not delivered after Release")
	}
}

func TestProxyCut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dir          Direction
		reachesRedis bool
	}{
		{Upstream, false},
		{Downstream, true},
		{Both, false},
	} {
		t.Run(fmt.Sprint(tc.dir), func(t *testing.T) {
			t.Parallel()
			_, p, direct, via := proxied(t)
			ctx := context.Background()
			if err := via.Ping(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			p.Cut(tc.dir)
			cctx, cancel := ctxFor(300 * time.Millisecond)
			err := via.Set(cctx, "k", "v", 0).Err()
			cancel()
			if err == nil {
				t.Fatal("command answered through a cut")
			}
			time.Sleep(100 * time.Millisecond) // anything in flight lands
			if got := direct.Exists(ctx, "k").Val() == 1; got != tc.reachesRedis {
				t.Fatalf("request reached redis: %v, want %v", got, tc.reachesRedis)
			}
			// New connections are blackholed too.
			cctx, cancel = ctxFor(300 * time.Millisecond)
			err = via.Ping(cctx).Err()
			cancel()
			if err == nil {
				t.Fatal("new connection answered through a cut")
			}
			p.Restore()
			if err := via.Set(ctx, "k2", "v", 0).Err(); err != nil {
				t.Fatalf("after Restore: %v", err)
			}
		})
	}
}

func TestProxyCutKeepsConnectionOpen(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	p := NewProxy(t, s.Addr)
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	roundTrip := func() (string, error) {
		_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return "", err
		}
		return r.ReadString('\n')
	}
	if line, err := roundTrip(); err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING: %q, %v", line, err)
	}
	p.Cut(Both)
	_, err = roundTrip()
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("through a cut: got %v, want a timeout (not a close)", err)
	}
	// The connection lost bytes, so Restore closes it.
	p.Restore()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := r.ReadString('\n'); err != io.EOF {
		t.Fatalf("after Restore: got %v, want EOF", err)
	}
}

func TestProxyDrop(t *testing.T) {
	t.Parallel()
	_, p, _, via := proxied(t)
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := via.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return p.Conns() == 2 })
	if n := p.Drop(); n != 2 {
		t.Fatalf("dropped %d, want 2", n)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after Drop: got %v, want EOF", err)
	}
	if p.Conns() != 0 {
		t.Fatalf("%d connections after Drop", p.Conns())
	}
	// The client reconnects.
	if err := via.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("after Drop: %v", err)
	}
}

func TestProxySetTarget(t *testing.T) {
	t.Parallel()
	a, b := Start(t, Config{}), Start(t, Config{})
	p := NewProxy(t, a.Addr)
	ctx := context.Background()
	if err := b.Client(t).Set(ctx, "where", "b", 0).Err(); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: p.Addr})
	defer c.Close()
	if n := c.Exists(ctx, "where").Val(); n != 0 {
		t.Fatal("proxy went to b before SetTarget")
	}
	p.SetTarget(b.Addr)
	p.Drop()
	if v, err := c.Get(ctx, "where").Result(); err != nil || v != "b" {
		t.Fatalf("after SetTarget: %q, %v", v, err)
	}
}

// TestProxyConcurrentFaults flips every fault while clients run, for the
// race detector, then checks every client finishes once the proxy is
// restored and that Close leaves no goroutine behind.
func TestProxyConcurrentFaults(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	p := NewProxy(t, s.Addr)
	o := s.Options()
	o.Addr = p.Addr
	o.ContextTimeoutEnabled = true
	c := redis.NewClient(o)
	defer c.Close()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := ctxFor(100 * time.Millisecond)
				_ = c.Incr(ctx, fmt.Sprint("n", i)).Err()
				cancel()
			}
		}()
	}
	faults := []func(){
		func() { p.SetLatency(Both, 5*time.Millisecond) },
		p.Hold, p.Release,
		func() { p.Cut(Upstream) }, func() { p.Cut(Downstream) },
		func() { p.Drop() }, p.Restore,
		func() { _ = p.Conns(); _, _ = p.Forwarded() },
	}
	for i := 0; i < 200; i++ {
		faults[i%len(faults)]()
		time.Sleep(time.Millisecond)
	}
	p.Restore()
	close(stop)
	wg.Wait()
	ctx, cancel := ctxFor(5 * time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("after Restore: %v", err)
	}
	if p.active.Load() == 0 {
		t.Fatal("no goroutines counted while connections are open")
	}
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
	if n := p.active.Load(); n != 0 {
		t.Fatalf("%d proxy goroutines left after Close", n)
	}
	if _, err := net.DialTimeout("tcp", p.Addr, 200*time.Millisecond); err == nil {
		t.Fatal("proxy still accepts after Close")
	}
	p.Close() // idempotent
}

func TestProxyCloseWithHeldAndPendingTraffic(t *testing.T) {
	t.Parallel()
	_, p, _, via := proxied(t)
	if err := via.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	p.Hold()
	p.SetLatency(Upstream, time.Hour)
	go func() { _ = via.Ping(context.Background()).Err() }()
	time.Sleep(50 * time.Millisecond)
	p.Close()
	if n := p.active.Load(); n != 0 {
		t.Fatalf("%d proxy goroutines left after Close", n)
	}
}

func TestReplicaThroughProxy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	master := Start(t, Config{})
	link := NewProxy(t, master.Addr)
	replica := Start(t, Config{ReplicaOf: link.Addr})
	WaitSynced(t, master, replica)

	conn := master.Client(t).Conn()
	defer conn.Close()
	link.Cut(Both)
	if err := conn.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n := conn.Wait(ctx, 1, 300*time.Millisecond).Val(); n != 0 {
		t.Fatalf("WAIT through a cut replication link: %d, want 0", n)
	}
	if replica.Client(t).Exists(ctx, "k").Val() != 0 {
		t.Fatal("write crossed a cut replication link")
	}
	link.Restore()
	WaitSynced(t, master, replica)
	if v, err := replica.Client(t).Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("replica after Restore: %q, %v", v, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
