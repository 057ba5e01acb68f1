package client_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/idgentest"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/serve"
	"github.com/snowlease/idgen/serve/client"
	"github.com/snowlease/idgen/snowflake"
)

// listen serves src on a fresh loopback port, as `idgen serve` does.
func listen(t *testing.T, src serve.Source) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serveOn(t, ln, src)
	return "http://" + ln.Addr().String()
}

func serveOn(t *testing.T, ln net.Listener, src serve.Source) {
	t.Helper()
	srv, err := serve.New(src, serve.Options{})
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

func TestNextAndNextN(t *testing.T) {
	t.Parallel()
	base := listen(t, idgentest.New(t, idgentest.Options{WorkerID: 9}))
	for _, p := range []client.Protocol{client.GRPC, client.Connect} {
		c, err := client.New(base, client.Options{Protocol: p, Batch: 64})
		require.NoError(t, err)
		seen := map[snowflake.ID]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 500 {
					id, err := c.Next(t.Context())
					if !assert.NoError(t, err) {
						return
					}
					mu.Lock()
					assert.False(t, seen[id], "duplicate %d", id)
					seen[id] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Len(t, seen, 8*500)

		ids, err := c.NextN(t.Context(), 10_000)
		require.NoError(t, err)
		require.Len(t, ids, 10_000)
		for i := 1; i < len(ids); i++ {
			require.Greater(t, ids[i], ids[i-1])
		}
		_, err = c.NextN(t.Context(), 10_001)
		require.ErrorContains(t, err, "n is 10001, allowed 1 to 10000")

		d, err := c.Decode(t.Context(), ids[0])
		require.NoError(t, err)
		assert.Equal(t, ids[0], d.ID)
		assert.Equal(t, int64(9), d.Worker)
		assert.WithinDuration(t, time.Now(), d.Time, time.Minute)
		_, err = c.Decode(t.Context(), -1)
		assert.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "%v", err)
	}
}

// IDs that waited in a batch longer than MaxAge are dropped, not handed out.
func TestMaxAge(t *testing.T) {
	t.Parallel()
	base := listen(t, idgentest.New(t))
	c, err := client.New(base, client.Options{Batch: 100, MaxAge: 50 * time.Millisecond})
	require.NoError(t, err)
	first, err := c.Next(t.Context())
	require.NoError(t, err)
	second, err := c.Next(t.Context())
	require.NoError(t, err)
	require.Equal(t, first+1, second, "the same batch")
	time.Sleep(80 * time.Millisecond)
	third, err := c.Next(t.Context())
	require.NoError(t, err)
	require.Greater(t, snowflake.Twitter().Decompose(third).Tick, snowflake.Twitter().Decompose(second).Tick,
		"a new batch, fetched after the old one aged out")
}

// While a real Generator waits out a new namespace's quarantine the service
// answers UNAVAILABLE with a Retry-After; the client waits and gets its ID.
// With retries off it returns the service's reason at once.
func TestRetriesWhileUnavailable(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	starting, err := idgen.Start(rs.Client(t), idgen.Options{
		Namespace: "client-" + t.Name(), TTL: 1500 * time.Millisecond, MaxSkew: 300 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = starting.Close(context.Background()) })
	base := listen(t, starting)

	noRetry, err := client.New(base, client.Options{RetryFor: -1})
	require.NoError(t, err)
	_, err = noRetry.Next(t.Context())
	require.Equal(t, connect.CodeUnavailable, connect.CodeOf(err), "%v", err)
	require.ErrorContains(t, err, "cannot issue IDs now")

	c, err := client.New(base, client.Options{RetryFor: 20 * time.Second})
	require.NoError(t, err)
	id, err := c.Next(t.Context())
	require.NoError(t, err)
	g := starting.Generator()
	require.NotNil(t, g)
	require.Equal(t, g.WorkerID(), snowflake.Twitter().Decompose(id).Worker)
}

// A service that is not up yet (connection refused) is retried too, and a
// ctx that ends stops the retries with the last error.
func TestRetriesUntilReachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	c, err := client.New("http://"+addr, client.Options{MaxRetryWait: 100 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = c.Next(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorContains(t, err, "last error")

	go func() {
		time.Sleep(200 * time.Millisecond)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen again on %s: %v", addr, err)
			return
		}
		serveOn(t, ln, idgentest.New(t))
	}()
	id, err := c.Next(t.Context())
	require.NoError(t, err)
	require.Positive(t, id)
}

func TestOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		opts client.Options
		msg  string
	}{
		{"localhost:8080", client.Options{}, "want http://host:port"},
		{"http://x", client.Options{Batch: -1}, "Batch is -1, allowed 1 to 10000"},
		{"http://x", client.Options{Batch: 10_001}, "Batch is 10001"},
		{"http://x", client.Options{MaxAge: -time.Second}, "MaxAge is -1s"},
		{"http://x", client.Options{RetryFor: -2}, "RetryFor is -2ns"},
		{"http://x", client.Options{MaxRetryWait: -1}, "MaxRetryWait is -1ns"},
		{"http://x", client.Options{Protocol: 7}, "Protocol is 7"},
	} {
		_, err := client.New(tc.url, tc.opts)
		require.ErrorIs(t, err, client.ErrInvalidOptions, "%+v", tc.opts)
		require.ErrorContains(t, err, tc.msg)
	}
}
