package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/idgentest"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/snowflake"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type record map[string]any

func parseRecords(t *testing.T, s string) []record {
	t.Helper()
	var out []record
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var r record
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), "log line %q", sc.Text())
		out = append(out, r)
	}
	return out
}

// failingIDs is an idgen.Source that cannot issue.
type failingIDs struct{}

func (failingIDs) Next() (snowflake.ID, error)       { return 0, fmt.Errorf("fenced") }
func (failingIDs) NextN([]snowflake.ID) (int, error) { return 0, fmt.Errorf("fenced") }
func (failingIDs) Layout() snowflake.Layout          { return snowflake.Twitter() }

// checkCorrelation sends n concurrent requests and checks that every log
// record of a request carries that request's ID and nothing else's.
func checkCorrelation(t *testing.T, base string, logs *syncBuffer, n int) {
	t.Helper()
	headers := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := http.Get(fmt.Sprintf("%s/hello?name=user%d", base, i))
			if !assert.NoError(t, err) {
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, fmt.Sprintf("hello, user%d\n", i), string(body))
			headers[i] = resp.Header.Get("X-Request-Id")
		})
	}
	wg.Wait()

	byID := map[string][]record{}
	for _, r := range parseRecords(t, logs.String()) {
		if id, ok := r["request_id"].(string); ok {
			byID[id] = append(byID[id], r)
		}
	}
	seen := map[string]bool{}
	for i, h := range headers {
		require.NotEmpty(t, h, "request %d has no X-Request-Id", i)
		require.False(t, seen[h], "request ID %s given to two requests", h)
		seen[h] = true
		recs := byID[h]
		msgs := make([]string, 0, len(recs))
		for _, r := range recs {
			msgs = append(msgs, r["msg"].(string))
			if name, ok := r["name"]; ok {
				assert.Equal(t, fmt.Sprintf("user%d", i), name, "record of request %s logged another request's name", h)
			}
		}
		assert.ElementsMatch(t, []string{"request started", "composing greeting", "greeting composed", "request finished"},
			msgs, "records of request %d (%s)", i, h)
	}
	assert.Len(t, byID, n, "records carry request IDs that no response had")
}

func TestMiddlewareCorrelatesEveryRecord(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(NewHandler(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	srv := httptest.NewServer(newMux(idgentest.New(t), logger))
	defer srv.Close()
	checkCorrelation(t, srv.URL, &logs, 50)
}

func TestHandlerLeavesOtherRecordsAlone(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil))).With("svc", "x").WithGroup("g")
	logger.Info("no request")
	logger.InfoContext(WithRequestID(context.Background(), 42), "in request", "k", 1)
	recs := parseRecords(t, buf.String())
	require.Len(t, recs, 2)
	assert.NotContains(t, recs[0], "request_id")
	assert.NotContains(t, recs[0], "g", "an empty group is left out")
	assert.Equal(t, "x", recs[1]["svc"])
	assert.Equal(t, map[string]any{"k": float64(1), "request_id": "42"}, recs[1]["g"])
}

func TestMiddlewareRefusesWithoutID(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(NewHandler(slog.NewJSONHandler(&logs, nil)))
	srv := httptest.NewServer(newMux(failingIDs{}, logger))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/hello?name=x")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Contains(t, logs.String(), "no request ID available")
}

// TestRun runs the example as main does, against a real redis-server.
func TestRun(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	var logs syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addrc := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, config{addr: "127.0.0.1:0", redisURL: "redis://" + rs.Addr, out: &logs,
			opts:  idgen.Options{Namespace: "slogcorrelation", TTL: 2 * time.Second, MaxSkew: 100 * time.Millisecond},
			ready: func(a net.Addr) { addrc <- a }})
	}()
	var addr net.Addr
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatalf("run: %v\nlogs:\n%s", err, logs.String())
	}
	checkCorrelation(t, "http://"+addr.String(), &logs, 20)

	// Connections the client dialled but never used would hold up a
	// graceful shutdown for 5s (net/http treats them as active).
	http.DefaultClient.CloseIdleConnections()
	cancel()
	require.NoError(t, <-errc)
	// The lease was released on the way out.
	infos, err := lease.List(context.Background(), rs.Client(t), "slogcorrelation")
	require.NoError(t, err)
	assert.Empty(t, infos, "lease left behind")
}
