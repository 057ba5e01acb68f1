package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/snowflake"
)

// server is an `idgen serve` process.
type server struct {
	cmd    *exec.Cmd
	base   string
	stderr *syncBuffer
	exited chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs `idgen serve` with args on a free port and waits until
// it answers /livez.
func startServer(t *testing.T, rs *redistest.Server, args ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	s := &server{base: "http://" + addr, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	s.cmd = exec.Command(binary(t), append([]string{"serve", "--addr", addr}, args...)...)
	s.cmd.Env = append(os.Environ(), "REDIS_URL="+redisURL(rs))
	s.cmd.Stderr = s.stderr
	require.NoError(t, s.cmd.Start())
	go func() { s.exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
		_ = s.cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("stderr of %s:\n%s", s.base, s.stderr.String())
		}
	})
	require.Eventually(t, func() bool { return get(s.base+"/livez", time.Second).code == 200 }, 20*time.Second, 10*time.Millisecond,
		"idgen serve did not come up: %s", s.stderr)
	return s
}

type reply struct {
	code int
	body []byte
	err  error
}

func get(u string, timeout time.Duration) reply {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return reply{err: err}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return reply{code: res.StatusCode, body: body, err: err}
}

func parseIDs(t *testing.T, body []byte) []snowflake.ID {
	t.Helper()
	var v struct{ IDs []snowflake.ID }
	require.NoError(t, json.Unmarshal(body, &v), "%s", body)
	return v.IDs
}

// SIGTERM: /readyz turns 503 at once while IDs are still served for the
// drain delay, every request gets a whole answer or none, then the server
// exits 0 and its lease is released.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	s := startServer(t, rs, "--namespace", "drain", "--ttl", "2s", "--max-skew", "300ms",
		"--drain-delay", "1500ms", "--shutdown-timeout", "3s", "--workers", "2")
	require.Eventually(t, func() bool { return get(s.base+"/readyz", time.Second).code == 200 }, 20*time.Second, 20*time.Millisecond)
	infos, err := lease.List(context.Background(), rs.Client(t), "drain")
	require.NoError(t, err)
	require.Len(t, infos, 2, "--workers 2 leases two worker IDs")

	// Load that runs through the whole shutdown.
	var served, refused atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := get(s.base+"/v1/ids?count=100", 2*time.Second)
				switch {
				case r.err != nil:
					refused.Add(1) // the listener is closed: no answer at all
					time.Sleep(5 * time.Millisecond)
				case r.code == 200:
					assert.Len(t, parseIDs(t, r.body), 100)
					served.Add(1)
				default:
					t.Errorf("status %d during shutdown: %s", r.code, r.body)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	require.Eventually(t, func() bool { return get(s.base+"/readyz", time.Second).code == 503 }, time.Second, 5*time.Millisecond)
	r := get(s.base+"/readyz", time.Second)
	assert.Contains(t, string(r.body), "draining")
	before := served.Load()
	time.Sleep(500 * time.Millisecond)
	require.Greater(t, served.Load(), before, "IDs are still served while draining")

	select {
	case err := <-s.exited:
		s.exited <- err
		require.NoError(t, err, "exit status after SIGTERM: %s", s.stderr)
	case <-time.After(15 * time.Second):
		t.Fatalf("idgen serve did not exit after SIGTERM: %s", s.stderr)
	}
	close(stop)
	wg.Wait()
	assert.Contains(t, s.stderr.String(), "lease released")
	infos, err = lease.List(context.Background(), rs.Client(t), "drain")
	require.NoError(t, err)
	assert.Empty(t, infos, "the lease was released")
	t.Logf("%d batches served, %d requests found the listener closed", served.Load(), refused.Load())
}

// Four servers on one namespace under load, one of them frozen (SIGSTOP)
// past its lease's TTL while a fifth starts and may take its worker ID:
// no ID is handed out twice, and the frozen server serves again after it
// thaws (it fails closed, then recovers with a new lease).
func TestServeFourServersSIGSTOP(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	args := []string{"--namespace", "four", "--ttl", "1s", "--max-skew", "200ms", "--retry-after", "100ms"}
	var servers []*server
	for range 4 {
		servers = append(servers, startServer(t, rs, args...))
	}
	for _, s := range servers {
		require.Eventually(t, func() bool { return get(s.base+"/readyz", time.Second).code == 200 }, 20*time.Second, 20*time.Millisecond)
	}

	type batch struct {
		server int
		thawed bool
		ids    []snowflake.ID
	}
	var (
		mu       sync.Mutex
		batches  []batch
		thawed   atomic.Bool
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		snapshot = func() []*server { mu.Lock(); defer mu.Unlock(); return append([]*server(nil), servers...) }
	)
	for w := range 6 {
		wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				all := snapshot()
				k := i % len(all)
				th := thawed.Load()
				r := get(all[k].base+"/v1/ids?count=200", 300*time.Millisecond)
				if r.err != nil || r.code != 200 {
					continue // frozen (timeout) or failing closed (503)
				}
				ids := parseIDs(t, r.body)
				mu.Lock()
				batches = append(batches, batch{k, th, ids})
				mu.Unlock()
			}
		})
	}

	time.Sleep(time.Second)
	frozen := servers[0]
	require.NoError(t, frozen.cmd.Process.Signal(syscall.SIGSTOP))
	time.Sleep(1500 * time.Millisecond) // past the TTL: the lease expires
	fifth := startServer(t, rs, args...)
	require.Eventually(t, func() bool { return get(fifth.base+"/readyz", time.Second).code == 200 }, 20*time.Second, 20*time.Millisecond)
	mu.Lock()
	servers = append(servers, fifth)
	mu.Unlock()
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, frozen.cmd.Process.Signal(syscall.SIGCONT))
	thawed.Store(true)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range batches {
			if b.server == 0 && b.thawed {
				return true
			}
		}
		return false
	}, 20*time.Second, 50*time.Millisecond, "the frozen server never served again: %s", frozen.stderr)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()

	seen := make(map[snowflake.ID]int)
	perServer := make([]int, 5)
	workers := make([]map[int64]bool, 5)
	for _, b := range batches {
		if workers[b.server] == nil {
			workers[b.server] = map[int64]bool{}
		}
		workers[b.server][snowflake.Twitter().Decompose(b.ids[0]).Worker] = true
		for _, id := range b.ids {
			if prev, dup := seen[id]; dup {
				t.Fatalf("ID %d served by server %d and server %d", id, prev, b.server)
			}
			seen[id] = b.server
		}
		perServer[b.server] += len(b.ids)
	}
	for i, n := range perServer {
		require.Positive(t, n, "server %d served nothing", i)
	}
	assert.Contains(t, frozen.stderr.String(), "lease", "the frozen server reported its lost lease")
	t.Logf("%d IDs, 0 duplicates; per server %v; worker IDs per server %v", len(seen), perServer, workers)
}

// The server keeps Go's heap goal at --heap-floor (32 MiB by default), as
// its /metrics shows; --heap-floor 0 leaves Go's default of a few MiB.
func TestServeHeapFloor(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	goal := func(s *server) float64 {
		r := get(s.base+"/metrics", time.Second)
		require.NoError(t, r.err)
		m := regexp.MustCompile(`(?m)^go_memstats_next_gc_bytes (\S+)$`).FindSubmatch(r.body)
		require.NotNil(t, m, "go_memstats_next_gc_bytes in /metrics:\n%s", r.body)
		v, err := strconv.ParseFloat(string(m[1]), 64)
		require.NoError(t, err)
		return v
	}
	const mib = 1 << 20
	def := startServer(t, rs, "--namespace", "floor")
	assert.InDelta(t, 32*mib, goal(def), 4*mib, "heap goal with the default --heap-floor")
	big := startServer(t, rs, "--namespace", "floor", "--heap-floor", "256")
	assert.InDelta(t, 256*mib, goal(big), 32*mib, "heap goal with --heap-floor 256")
	off := startServer(t, rs, "--namespace", "floor", "--heap-floor", "0")
	assert.Less(t, goal(off), float64(12*mib), "heap goal with --heap-floor 0 (Go's default)")
}
