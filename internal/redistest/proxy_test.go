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
	"github.com/stretchr/testify/require"
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
	require.NoError(t, via.Set(ctx, "k", "v", 0).Err())
	v, err := direct.Get(ctx, "k").Result()
	require.NoError(t, err, "write through proxy not on server")
	require.Equal(t, "v", v, "write through proxy not on server")
	require.NotZero(t, p.Conns(), "no connection counted")
	up, down := p.Forwarded()
	require.NotZero(t, up, "bytes forwarded up (%d down)", down)
	require.NotZero(t, down, "bytes forwarded down (%d up)", up)
	// A large value crosses many chunks intact.
	big := strings.Repeat("0123456789", 100_000)
	require.NoError(t, via.Set(ctx, "big", big, 0).Err())
	v, err = via.Get(ctx, "big").Result()
	require.NoError(t, err, "big value")
	require.True(t, v == big, "big value: len %d, want %d", len(v), len(big)) // Equal would print a megabyte
}

func TestProxyLatency(t *testing.T) {
	t.Parallel()
	_, p, _, via := proxied(t)
	ctx := context.Background()
	require.NoError(t, via.Ping(ctx).Err()) // connect first
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
			require.NoError(t, via.Ping(ctx).Err())
			require.GreaterOrEqual(t, time.Since(start), tc.up+tc.down, "round trip")
		})
	}
	p.Restore()
	start := time.Now()
	require.NoError(t, via.Ping(ctx).Err())
	require.LessOrEqual(t, time.Since(start), 100*time.Millisecond, "round trip after Restore")
}

func TestProxyHoldReplies(t *testing.T) {
	t.Parallel()
	_, p, direct, via := proxied(t)
	ctx := context.Background()
	require.NoError(t, via.Ping(ctx).Err())
	p.Hold()
	done := make(chan error, 1)
	go func() {
		cctx, cancel := ctxFor(10 * time.Second)
		defer cancel()
		done <- via.Set(cctx, "k", "held", 0).Err()
	}()
	// The request runs on the server while its reply waits in the proxy.
	require.Eventually(t, func() bool { return direct.Get(ctx, "k").Val() == "held" }, 5*time.Second, 10*time.Millisecond,
		"held request never reached the server")
	require.Never(t, func() bool { return len(done) > 0 }, 300*time.Millisecond, 10*time.Millisecond,
		"reply delivered while held")
	p.Release()
	select {
	case err := <-done:
		require.NoError(t, err, "held reply")
	case <-time.After(5 * time.Second):
		require.FailNow(t, "reply not delivered after Release")
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
			require.NoError(t, via.Ping(ctx).Err())
			p.Cut(tc.dir)
			cctx, cancel := ctxFor(300 * time.Millisecond)
			err := via.Set(cctx, "k", "v", 0).Err()
			cancel()
			require.Error(t, err, "command answered through a cut")
			time.Sleep(100 * time.Millisecond) // anything in flight lands
			require.Equal(t, tc.reachesRedis, direct.Exists(ctx, "k").Val() == 1, "request reached redis")
			// New connections are blackholed too.
			cctx, cancel = ctxFor(300 * time.Millisecond)
			err = via.Ping(cctx).Err()
			cancel()
			require.Error(t, err, "new connection answered through a cut")
			p.Restore()
			require.NoError(t, via.Set(ctx, "k2", "v", 0).Err(), "after Restore")
		})
	}
}

func TestProxyCutKeepsConnectionOpen(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	p := NewProxy(t, s.Addr)
	c, err := net.Dial("tcp", p.Addr)
	require.NoError(t, err)
	defer c.Close()
	r := bufio.NewReader(c)
	roundTrip := func() (string, error) {
		_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			return "", err
		}
		return r.ReadString('\n')
	}
	line, err := roundTrip()
	require.NoError(t, err, "PING")
	require.Equal(t, "+PONG\r\n", line, "PING")
	p.Cut(Both)
	_, err = roundTrip()
	var ne net.Error
	require.ErrorAs(t, err, &ne, "through a cut: want a timeout (not a close)")
	require.True(t, ne.Timeout(), "through a cut: got %v, want a timeout (not a close)", err)
	// The connection lost bytes, so Restore closes it.
	p.Restore()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	_, err = r.ReadString('\n')
	require.ErrorIs(t, err, io.EOF, "after Restore")
}

func TestProxyDrop(t *testing.T) {
	t.Parallel()
	_, p, _, via := proxied(t)
	c, err := net.Dial("tcp", p.Addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, via.Ping(context.Background()).Err())
	require.Eventually(t, func() bool { return p.Conns() == 2 }, 5*time.Second, 10*time.Millisecond,
		"the proxy never counted both connections")
	require.Equal(t, 2, p.Drop(), "connections dropped")
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "read after Drop")
	require.Zero(t, p.Conns(), "connections after Drop")
	// The client reconnects.
	require.NoError(t, via.Ping(context.Background()).Err(), "after Drop")
}

func TestProxySetTarget(t *testing.T) {
	t.Parallel()
	a, b := Start(t, Config{}), Start(t, Config{})
	p := NewProxy(t, a.Addr)
	ctx := context.Background()
	require.NoError(t, b.Client(t).Set(ctx, "where", "b", 0).Err())
	c := redis.NewClient(&redis.Options{Addr: p.Addr})
	defer c.Close()
	require.Zero(t, c.Exists(ctx, "where").Val(), "proxy went to b before SetTarget")
	p.SetTarget(b.Addr)
	p.Drop()
	v, err := c.Get(ctx, "where").Result()
	require.NoError(t, err, "after SetTarget")
	require.Equal(t, "b", v, "after SetTarget")
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
	require.NoError(t, c.Ping(ctx).Err(), "after Restore")
	require.NotZero(t, p.active.Load(), "no goroutines counted while connections are open")
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		require.FailNow(t, "Close hangs")
	}
	require.Zero(t, p.active.Load(), "proxy goroutines left after Close")
	_, err := net.DialTimeout("tcp", p.Addr, 200*time.Millisecond)
	require.Error(t, err, "proxy still accepts after Close")
	p.Close() // idempotent
}

func TestProxyCloseWithHeldAndPendingTraffic(t *testing.T) {
	t.Parallel()
	_, p, _, via := proxied(t)
	require.NoError(t, via.Ping(context.Background()).Err())
	p.Hold()
	p.SetLatency(Upstream, time.Hour)
	go func() { _ = via.Ping(context.Background()).Err() }()
	time.Sleep(50 * time.Millisecond)
	p.Close()
	require.Zero(t, p.active.Load(), "proxy goroutines left after Close")
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
	require.NoError(t, conn.Set(ctx, "k", "v", 0).Err())
	require.Zero(t, conn.Wait(ctx, 1, 300*time.Millisecond).Val(), "WAIT through a cut replication link")
	require.Zero(t, replica.Client(t).Exists(ctx, "k").Val(), "write crossed a cut replication link")
	link.Restore()
	WaitSynced(t, master, replica)
	v, err := replica.Client(t).Get(ctx, "k").Result()
	require.NoError(t, err, "replica after Restore")
	require.Equal(t, "v", v, "replica after Restore")
}
