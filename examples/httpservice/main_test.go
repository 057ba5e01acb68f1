package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen"

	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/metrics"
	"github.com/snowlease/idgen/snowflake"
)

func fastOptions(ns string) idgen.Options {
	return idgen.Options{Namespace: ns, TTL: 2 * time.Second, MaxSkew: 100 * time.Millisecond}
}

func get(t *testing.T, url string, into any) (int, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if into != nil {
		require.NoError(t, json.Unmarshal(body, into), "body %s", body)
	}
	return resp.StatusCode, resp.Header
}

func TestHandlers(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	gen, err := idgen.New(context.Background(), rs.Client(t), fastOptions("http"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = gen.Close(context.Background()) })
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(gen, metrics.Options{}))
	srv := httptest.NewServer(newHandler(gen, reg, slog.New(slog.DiscardHandler)))
	defer srv.Close()

	var one struct{ ID snowflake.ID }
	code, hdr := get(t, srv.URL+"/id", &one)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "application/json", hdr.Get("Content-Type"))
	assert.Equal(t, gen.WorkerID(), snowflake.Twitter().Decompose(one.ID).Worker)

	var many struct{ IDs []snowflake.ID }
	code, _ = get(t, srv.URL+"/ids?n=1000", &many)
	require.Equal(t, http.StatusOK, code)
	require.Len(t, many.IDs, 1000)
	assert.True(t, slices.IsSorted(many.IDs))
	assert.Greater(t, many.IDs[0], one.ID)
	assert.Len(t, slices.Compact(slices.Clone(many.IDs)), 1000, "duplicates in a batch")

	code, _ = get(t, srv.URL+"/ids", &many)
	require.Equal(t, http.StatusOK, code)
	assert.Len(t, many.IDs, 1, "n defaults to 1")

	for _, n := range []string{"0", "-1", "1001", "abc", "1e3"} {
		var e struct{ Error string }
		code, _ := get(t, srv.URL+"/ids?n="+n, &e)
		assert.Equal(t, http.StatusBadRequest, code, "n=%s", n)
		assert.Contains(t, e.Error, "n must be an integer from 1 to 1000", "n=%s", n)
	}

	var d decoded
	code, _ = get(t, fmt.Sprintf("%s/decode/%d", srv.URL, one.ID), &d)
	require.Equal(t, http.StatusOK, code)
	p := snowflake.Twitter().Decompose(one.ID)
	assert.Equal(t, decoded{ID: one.ID, Time: p.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Tick: p.Tick, Worker: gen.WorkerID(), Sequence: p.Sequence}, d)

	for _, bad := range []string{"abc", "-5", "99999999999999999999"} {
		var e struct{ Error string }
		code, _ := get(t, srv.URL+"/decode/"+bad, &e)
		assert.Equal(t, http.StatusBadRequest, code, bad)
		assert.Contains(t, e.Error, bad)
	}

	code, _ = get(t, srv.URL+"/livez", nil)
	assert.Equal(t, http.StatusOK, code)
	code, _ = get(t, srv.URL+"/readyz", nil)
	assert.Equal(t, http.StatusOK, code)

	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(body), `idgen_ids_issued_total{namespace="http"} 1002`)
	assert.Contains(t, string(body), fmt.Sprintf(`idgen_worker_id{namespace="http"} %d`, gen.WorkerID()))

	resp, err = http.Post(srv.URL+"/id", "text/plain", strings.NewReader(""))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// stuck is a generator that cannot issue.
type stuck struct{ err error }

func (s stuck) Next() (snowflake.ID, error)       { return 0, s.err }
func (s stuck) NextN([]snowflake.ID) (int, error) { return 0, s.err }
func (s stuck) Layout() snowflake.Layout          { return snowflake.Twitter() }
func (s stuck) Ready() error                      { return s.err }

func TestUnavailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		gen   stuck
		code  int
		retry string
	}{
		{stuck{fmt.Errorf("%w: fenced", idgen.ErrUnavailable)}, http.StatusServiceUnavailable, "1"},
		{stuck{idgen.ErrClosed}, http.StatusServiceUnavailable, ""},
		{stuck{fmt.Errorf("boom")}, http.StatusInternalServerError, ""},
	} {
		srv := httptest.NewServer(newHandler(tc.gen, nil, slog.New(slog.DiscardHandler)))
		for _, path := range []string{"/id", "/ids?n=3", "/readyz"} {
			if path == "/readyz" && tc.code == http.StatusInternalServerError {
				continue // readiness is 503 for every reason
			}
			var e struct{ Error string }
			code, hdr := get(t, srv.URL+path, &e)
			assert.Equal(t, tc.code, code, "%v %s", tc.gen.err, path)
			assert.Equal(t, tc.retry, hdr.Get("Retry-After"))
			assert.NotEmpty(t, e.Error)
		}
		srv.Close()
	}
}

// Readiness follows Redis: 503 with the reason while Redis is stopped
// (once the fence is reached), 200 again after it is back; liveness stays
// 200 throughout.
func TestReadinessFollowsRedis(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := redis.NewClient(&redis.Options{Addr: rs.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	opts := fastOptions("ready")
	opts.OpTimeout = 150 * time.Millisecond
	gen, err := idgen.New(context.Background(), client, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = gen.Close(context.Background()) })
	srv := httptest.NewServer(newHandler(gen, nil, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	code, _ := get(t, srv.URL+"/readyz", nil)
	require.Equal(t, http.StatusOK, code)

	rs.Pause()
	var e struct{ Error string }
	require.Eventually(t, func() bool {
		code, _ := get(t, srv.URL+"/readyz", &e)
		return code == http.StatusServiceUnavailable
	}, 10*time.Second, 10*time.Millisecond, "/readyz still 200 10s after Redis stopped")
	assert.Contains(t, e.Error, "fence is reached", "the reason")
	code, _ = get(t, srv.URL+"/id", nil)
	assert.Equal(t, http.StatusServiceUnavailable, code, "/id agrees with /readyz")
	code, _ = get(t, srv.URL+"/livez", nil)
	assert.Equal(t, http.StatusOK, code)

	rs.Resume()
	require.Eventually(t, func() bool {
		code, _ := get(t, srv.URL+"/readyz", nil)
		return code == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond, "/readyz not back to 200 after Redis resumed")
	code, _ = get(t, srv.URL+"/id", nil)
	assert.Equal(t, http.StatusOK, code)
}

// TestRunGracefulShutdown runs the service as main does, then stops it and
// checks the worker ID was released.
func TestRunGracefulShutdown(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type ready struct {
		addr net.Addr
		gen  *idgen.Generator
	}
	readyc := make(chan ready, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, config{addr: "127.0.0.1:0", redisURL: "redis://" + rs.Addr, opts: fastOptions("svc"),
			logger: slog.New(slog.DiscardHandler),
			ready:  func(a net.Addr, g *idgen.Generator) { readyc <- ready{a, g} }})
	}()
	var r ready
	select {
	case r = <-readyc:
	case err := <-errc:
		t.Fatalf("run: %v", err)
	}
	client := &http.Client{}
	resp, err := client.Get("http://" + r.addr.String() + "/id")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	infos, err := lease.List(ctx, rs.Client(t), "svc")
	require.NoError(t, err)
	require.Len(t, infos, 1)
	assert.Equal(t, r.gen.WorkerID(), infos[0].WorkerID)

	client.CloseIdleConnections()
	cancel()
	require.NoError(t, <-errc)
	infos, err = lease.List(context.Background(), rs.Client(t), "svc")
	require.NoError(t, err)
	assert.Empty(t, infos, "the worker ID was not released")
	_, err = r.gen.Next()
	assert.ErrorIs(t, err, idgen.ErrClosed)
}
