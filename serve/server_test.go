package serve_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/idgentest"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/serve"
	idgenv1 "github.com/snowlease/idgen/serve/gen/idgen/v1"
	"github.com/snowlease/idgen/serve/gen/idgen/v1/idgenv1connect"
	"github.com/snowlease/idgen/snowflake"
)

// start serves srv with Serve on a port of its own, as `idgen serve` does,
// and returns its base URL.
func start(t *testing.T, srv *serve.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.ErrorIs(t, <-served, http.ErrServerClosed)
	})
	return "http://" + l.Addr().String()
}

// startHandler mounts srv.Handler on an http.Server that speaks HTTP/1.1
// and HTTP/2 cleartext, as a program that embeds the service does, and
// returns its base URL.
func startHandler(t *testing.T, srv *serve.Server) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.Protocols = new(http.Protocols)
	ts.Config.Protocols.SetHTTP1(true)
	ts.Config.Protocols.SetUnencryptedHTTP2(true)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL
}

func newServer(t *testing.T, src serve.Source, opts ...serve.Options) *serve.Server {
	t.Helper()
	var o serve.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	srv, err := serve.New(src, o)
	require.NoError(t, err)
	return srv
}

type response struct {
	code   int
	header http.Header
	body   string
}

func do(t *testing.T, method, u string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{res.StatusCode, res.Header, string(body)}
}

func idsOf(t *testing.T, body string) []snowflake.ID {
	t.Helper()
	var got struct{ IDs []snowflake.ID }
	require.NoError(t, json.Unmarshal([]byte(body), &got), body)
	return got.IDs
}

func requireIncreasing(t *testing.T, ids []snowflake.ID) {
	t.Helper()
	for i := 1; i < len(ids); i++ {
		require.Greater(t, ids[i], ids[i-1], "IDs %d and %d", i-1, i)
	}
}

// metric reads one sample from /metrics ("name" or "name{labels}").
func metric(t *testing.T, base, series string) float64 {
	t.Helper()
	r := do(t, "GET", base+"/metrics")
	require.Equal(t, 200, r.code)
	for line := range strings.Lines(r.body) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			require.NoError(t, err)
			return v
		}
	}
	return 0
}

func TestHTTPIDs(t *testing.T) {
	t.Parallel()
	gen := idgentest.New(t, idgentest.Options{WorkerID: 7})
	base := start(t, newServer(t, gen))

	r := do(t, "GET", base+"/v1/ids")
	require.Equal(t, 200, r.code, r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	one := idsOf(t, r.body)
	require.Len(t, one, 1)

	r = do(t, "GET", base+"/v1/ids?count=10000")
	require.Equal(t, 200, r.code)
	many := idsOf(t, r.body)
	require.Len(t, many, 10000)
	requireIncreasing(t, append(one, many...))
	for _, id := range many {
		require.Equal(t, int64(7), snowflake.Twitter().Decompose(id).Worker)
	}

	r = do(t, "GET", base+"/v1/ids?count=3&format=text")
	require.Equal(t, 200, r.code)
	assert.Equal(t, "text/plain; charset=utf-8", r.header.Get("Content-Type"))
	var text []snowflake.ID
	for line := range strings.Lines(r.body) {
		id, err := snowflake.ParseString(strings.TrimSuffix(line, "\n"))
		require.NoError(t, err, "line %q", line)
		text = append(text, id)
	}
	require.Len(t, text, 3)
	requireIncreasing(t, append(many, text...))

	// Encodings, as JSON strings and as text lines; format=base58 is short
	// for format=json&encoding=base58.
	for _, q := range []struct{ query, enc string }{
		{"format=base58", "base58"}, {"encoding=base36", "base36"}, {"encoding=base2&format=text", "base2"},
		{"encoding=BASE64", "base64"}, {"encoding=base32&format=json", "base32"},
	} {
		r = do(t, "GET", base+"/v1/ids?count=2&"+q.query)
		require.Equal(t, 200, r.code, q.query)
		var fields []string
		if strings.Contains(q.query, "text") {
			fields = strings.Fields(r.body)
		} else {
			var got struct{ IDs []string }
			require.NoError(t, json.Unmarshal([]byte(r.body), &got))
			fields = got.IDs
		}
		require.Len(t, fields, 2, q.query)
		for _, f := range fields {
			id, err := serve.ParseID(f, q.enc)
			require.NoError(t, err, "%s: %q", q.query, f)
			require.Greater(t, id, text[len(text)-1])
		}
	}

	r = do(t, "HEAD", base+"/v1/ids")
	require.Equal(t, 200, r.code)
	require.Empty(t, r.body)

	assert.Equal(t, float64(1+10000+3+5*2+1), metric(t, base, "idgen_serve_ids_total"))
	assert.Equal(t, float64(9), metric(t, base, `idgen_serve_requests_total{code="200",route="/v1/ids"}`))
}

func TestHTTPDecode(t *testing.T) {
	t.Parallel()
	gen := idgentest.New(t, idgentest.Options{WorkerID: 513})
	base := start(t, newServer(t, gen))
	id, err := gen.Next()
	require.NoError(t, err)
	want, err := serve.Decode(snowflake.Twitter(), id)
	require.NoError(t, err)
	require.Equal(t, int64(513), want.Worker)

	for _, path := range []string{
		"/v1/decode/" + id.String(),
		"/v1/decode/" + id.Base58() + "?encoding=base58",
		"/v1/decode/" + url.PathEscape(id.Base64()) + "?encoding=base64",
	} {
		r := do(t, "GET", base+path)
		require.Equal(t, 200, r.code, "%s: %s", path, r.body)
		var got serve.Decoded
		require.NoError(t, json.Unmarshal([]byte(r.body), &got))
		assert.Equal(t, want, got, path)
		tm, err := time.Parse(time.RFC3339, got.Time)
		require.NoError(t, err)
		assert.WithinDuration(t, time.Now(), tm, time.Minute)
	}
}

// Bad input of every kind gets a clear 4xx, and nothing is issued.
func TestHTTPBadInput(t *testing.T) {
	t.Parallel()
	gen := idgentest.New(t)
	base := start(t, newServer(t, gen, serve.Options{MaxCount: 500}))
	tests := []struct {
		method, path string
		code         int
		message      string
	}{
		{"GET", "/v1/ids?count=0", 400, `count is "0", allowed 1 to 500`},
		{"GET", "/v1/ids?count=-3", 400, `count is "-3", allowed 1 to 500`},
		{"GET", "/v1/ids?count=501", 400, `allowed 1 to 500`},
		{"GET", "/v1/ids?count=99999999999999999999999", 400, `allowed 1 to 500`},
		{"GET", "/v1/ids?count=ten", 400, `count is "ten"`},
		{"GET", "/v1/ids?count=", 200, ""}, // empty means the default, 1
		{"GET", "/v1/ids?cnt=3", 400, `unknown parameter "cnt": /v1/ids takes count, format, encoding`},
		{"GET", "/v1/ids?count=%zz", 400, `malformed query string`},
		{"GET", "/v1/ids?count=1&count=2", 400, `parameter "count" is given 2 times`},
		{"GET", "/v1/ids?format=xml", 400, `format is "xml", allowed json, text`},
		{"GET", "/v1/ids?format=base58&encoding=base36", 400, `format is "base58"`},
		{"GET", "/v1/ids?encoding=base99", 400, `encoding is "base99", allowed decimal, base2`},
		{"POST", "/v1/ids", 405, "method POST is not allowed on /v1/ids: use GET"},
		{"DELETE", "/v1/ids", 405, "method DELETE"},
		{"PUT", "/readyz", 405, "method PUT"},
		{"GET", "/v2/ids", 404, `no such path "/v2/ids"`},
		{"GET", "/v1/decode/", 404, `no such path`},
		{"GET", "/v1/decode/abc", 400, `"abc" is not an ID`},
		{"GET", "/v1/decode/-5", 400, `"-5" is not an ID`},
		{"GET", "/v1/decode/12?encoding=rot13", 400, `unknown encoding "rot13"`},
		{"GET", "/v1/decode/12?verbose=1", 400, `unknown parameter "verbose"`},
		{"GET", "/v1/decode/99999999999999999999", 400, `is not an ID`},
	}
	for _, tc := range tests {
		r := do(t, tc.method, base+tc.path)
		require.Equal(t, tc.code, r.code, "%s %s: %s", tc.method, tc.path, r.body)
		if tc.code == 200 {
			continue
		}
		assert.Equal(t, "application/json", r.header.Get("Content-Type"), tc.path)
		var body struct{ Error string }
		require.NoError(t, json.Unmarshal([]byte(r.body), &body), r.body)
		assert.Contains(t, body.Error, tc.message, "%s %s", tc.method, tc.path)
		if tc.code == 405 {
			assert.Equal(t, "GET, HEAD", r.header.Get("Allow"))
		}
	}
	// Only the one good request issued an ID.
	assert.Equal(t, float64(1), metric(t, base, "idgen_serve_ids_total"))
	assert.Equal(t, float64(11), metric(t, base, `idgen_serve_requests_total{code="400",route="/v1/ids"}`))

	// An oversized RPC request is refused before it is read whole.
	big := strings.NewReader(`{"count":1,"pad":"` + strings.Repeat("x", 64<<10) + `"}`)
	res, err := http.Post(base+"/idgen.v1.IDService/Next", "application/json", big)
	require.NoError(t, err)
	res.Body.Close()
	require.GreaterOrEqual(t, res.StatusCode, 400)
	require.Less(t, res.StatusCode, 500)
	assert.Equal(t, float64(1), metric(t, base, "idgen_serve_ids_total"))
}

func TestOptions(t *testing.T) {
	t.Parallel()
	gen := idgentest.New(t)
	for _, o := range []serve.Options{{MaxCount: -1}, {MaxCount: 100_001}, {RetryAfter: -time.Second}} {
		_, err := serve.New(gen, o)
		require.ErrorIs(t, err, serve.ErrInvalidOptions, "%+v", o)
	}
	_, err := serve.New(nil, serve.Options{})
	require.ErrorIs(t, err, serve.ErrInvalidOptions)
	_, err = serve.New(gen, serve.Options{MaxCount: 3})
	require.NoError(t, err)
}

// h2c is an http.Client that speaks HTTP/2 without TLS, as gRPC needs.
func h2c() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr}
}

// mounts are the two ways to serve a Server: Serve (gRPC over grpc-go's
// transport) and Handler on an http.Server (gRPC over connect-go).
var mounts = []struct {
	name  string
	start func(*testing.T, *serve.Server) string
}{{"Serve", start}, {"Handler", startHandler}}

// The RPCs over all three protocols connect-go speaks, with either mount.
func TestRPC(t *testing.T) {
	t.Parallel()
	for _, m := range mounts {
		t.Run(m.name, func(t *testing.T) { testRPC(t, m.start) })
	}
}

func testRPC(t *testing.T, start func(*testing.T, *serve.Server) string) {
	gen := idgentest.New(t, idgentest.Options{WorkerID: 3})
	base := start(t, newServer(t, gen, serve.Options{MaxCount: 1000}))
	for _, p := range []struct {
		name string
		opts []connect.ClientOption
	}{
		{"grpc", []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
		{"connect-json", []connect.ClientOption{connect.WithProtoJSON()}},
		{"connect-proto", nil},
	} {
		t.Run(p.name, func(t *testing.T) {
			c := idgenv1connect.NewIDServiceClient(h2c(), base, p.opts...)
			res, err := c.Next(t.Context(), connect.NewRequest(&idgenv1.NextRequest{Count: 1000}))
			require.NoError(t, err)
			ids := res.Msg.GetIds()
			require.Len(t, ids, 1000)
			for i := 1; i < len(ids); i++ {
				require.Greater(t, ids[i], ids[i-1])
			}
			res, err = c.Next(t.Context(), connect.NewRequest(&idgenv1.NextRequest{}))
			require.NoError(t, err)
			require.Len(t, res.Msg.GetIds(), 1, "count 0 means 1")
			require.Greater(t, res.Msg.GetIds()[0], ids[999])

			_, err = c.Next(t.Context(), connect.NewRequest(&idgenv1.NextRequest{Count: 1001}))
			require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "%v", err)
			require.ErrorContains(t, err, "count is 1001, allowed 1 to 1000")

			d, err := c.Decode(t.Context(), connect.NewRequest(&idgenv1.DecodeRequest{Id: ids[0]}))
			require.NoError(t, err)
			want, err := serve.Decode(snowflake.Twitter(), snowflake.ID(ids[0]))
			require.NoError(t, err)
			assert.Equal(t, want.Time, d.Msg.GetTime())
			assert.Equal(t, want.Tick, d.Msg.GetTick())
			assert.Equal(t, int64(3), d.Msg.GetWorker())
			assert.Equal(t, want.Sequence, d.Msg.GetSequence())

			_, err = c.Decode(t.Context(), connect.NewRequest(&idgenv1.DecodeRequest{Id: -1}))
			require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err), "%v", err)
		})
	}
	// Every call is counted once, whichever transport carried it.
	for series, want := range map[string]float64{
		`idgen_serve_requests_total{code="ok",route="/idgen.v1.IDService/Next"}`:                 8,
		`idgen_serve_requests_total{code="invalid_argument",route="/idgen.v1.IDService/Next"}`:   4,
		`idgen_serve_requests_total{code="ok",route="/idgen.v1.IDService/Decode"}`:               4,
		`idgen_serve_requests_total{code="invalid_argument",route="/idgen.v1.IDService/Decode"}`: 4,
		`idgen_serve_ids_total`: 4 * (1000 + 1),
	} {
		assert.Equal(t, want, metric(t, base, series), series)
	}
}

// grpc-go, a gRPC implementation this project did not write, calls the
// service, its health check and reflection, with either mount.
func TestGRPCGoClient(t *testing.T) {
	t.Parallel()
	for _, m := range mounts {
		t.Run(m.name, func(t *testing.T) { testGRPCGoClient(t, m.start) })
	}
}

func testGRPCGoClient(t *testing.T, start func(*testing.T, *serve.Server) string) {
	gen := idgentest.New(t)
	srv := newServer(t, gen)
	u, err := url.Parse(start(t, srv))
	require.NoError(t, err)
	conn, err := grpc.NewClient(u.Host, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })

	var res idgenv1.NextResponse
	require.NoError(t, conn.Invoke(t.Context(), "/idgen.v1.IDService/Next", &idgenv1.NextRequest{Count: 5}, &res))
	require.Len(t, res.GetIds(), 5)

	h := healthpb.NewHealthClient(conn)
	hr, err := h.Check(t.Context(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, hr.GetStatus())
	hr, err = h.Check(t.Context(), &healthpb.HealthCheckRequest{Service: idgenv1connect.IDServiceName})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, hr.GetStatus())
	_, err = h.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "nope.v1.Nope"})
	assert.Equal(t, codes.NotFound, status.Code(err))

	// Draining: health goes NOT_SERVING, IDs are still served.
	srv.Drain()
	hr, err = h.Check(t.Context(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, hr.GetStatus())
	require.NoError(t, conn.Invoke(t.Context(), "/idgen.v1.IDService/Next", &idgenv1.NextRequest{Count: 1}, &res))

	// Server reflection lists the services, as grpcurl needs.
	rc, err := reflectpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	require.NoError(t, err)
	require.NoError(t, rc.Send(&reflectpb.ServerReflectionRequest{
		MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{},
	}))
	rr, err := rc.Recv()
	require.NoError(t, err)
	var names []string
	for _, s := range rr.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	assert.ElementsMatch(t, []string{idgenv1connect.IDServiceName, grpchealth.HealthV1ServiceName}, names)
	require.NoError(t, rc.CloseSend())
}

func TestDrain(t *testing.T) {
	t.Parallel()
	srv := newServer(t, idgentest.New(t))
	base := start(t, srv)
	require.Equal(t, 200, do(t, "GET", base+"/readyz").code)
	srv.Drain()
	r := do(t, "GET", base+"/readyz")
	require.Equal(t, 503, r.code)
	assert.Contains(t, r.body, "draining")
	assert.Equal(t, "1", r.header.Get("Retry-After"))
	assert.Equal(t, 200, do(t, "GET", base+"/livez").code)
	assert.Equal(t, 200, do(t, "GET", base+"/v1/ids").code, "a draining server still issues")
}

// A real Generator on a real redis-server: 503 / UNAVAILABLE with a
// Retry-After while it starts (the quarantine of a new namespace) and while
// Redis is frozen past the lease's TTL (the fence is reached), never an ID;
// IDs again, all distinct and above the earlier ones, once it recovers.
func TestUnavailableThenRecovers(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	starting, err := idgen.Start(client, idgen.Options{
		Namespace: "serve-" + t.Name(), TTL: 1500 * time.Millisecond, MaxSkew: 300 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = starting.Close(context.Background()) })
	srv := newServer(t, starting, serve.Options{RetryAfter: 1500 * time.Millisecond})
	base := start(t, srv)
	grpcClient := idgenv1connect.NewIDServiceClient(h2c(), base, connect.WithGRPC())

	requireUnavailable := func(when string) {
		t.Helper()
		r := do(t, "GET", base+"/v1/ids?count=10")
		require.Equal(t, 503, r.code, "%s: %s", when, r.body)
		assert.Equal(t, "2", r.header.Get("Retry-After"), "1.5 s rounds up")
		assert.Contains(t, r.body, "cannot issue IDs")
		require.Equal(t, 503, do(t, "GET", base+"/readyz").code, when)
		_, err := grpcClient.Next(t.Context(), connect.NewRequest(&idgenv1.NextRequest{Count: 10}))
		require.Equal(t, connect.CodeUnavailable, connect.CodeOf(err), "%s: %v", when, err)
		var ce *connect.Error
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "2", ce.Meta().Get("Retry-After"))
		assert.Equal(t, "1500", ce.Meta().Get("Grpc-Retry-Pushback-Ms"))
	}
	seen := map[snowflake.ID]bool{}
	collect := func(when string) snowflake.ID {
		t.Helper()
		var last snowflake.ID
		require.Eventually(t, func() bool { return do(t, "GET", base+"/readyz").code == 200 }, 20*time.Second, 20*time.Millisecond, when)
		for range 20 {
			r := do(t, "GET", base+"/v1/ids?count=500")
			require.Equal(t, 200, r.code, "%s: %s", when, r.body)
			for _, id := range idsOf(t, r.body) {
				require.False(t, seen[id], "%s: duplicate %d", when, id)
				seen[id] = true
				last = max(last, id)
			}
		}
		return last
	}

	requireUnavailable("starting")
	before := collect("after the start")

	rs.Pause() // Redis frozen: renewals fail, the fence is reached.
	require.Eventually(t, func() bool { return do(t, "GET", base+"/readyz").code == 503 }, 10*time.Second, 20*time.Millisecond)
	requireUnavailable("Redis frozen")
	rs.Resume()

	after := collect("after Redis came back")
	require.Greater(t, after, before)
	require.Len(t, seen, 2*20*500, "IDs were issued before and after the fault")
	require.Greater(t, metric(t, base, `idgen_serve_requests_total{code="503",route="/v1/ids"}`), float64(1))
	require.Greater(t, metric(t, base, `idgen_serve_requests_total{code="unavailable",route="/idgen.v1.IDService/Next"}`), float64(1))
}

// net/http's own client reaches the server over HTTP/2 cleartext too.
func TestH2CPriorKnowledge(t *testing.T) {
	t.Parallel()
	base := start(t, newServer(t, idgentest.New(t)))
	res, err := h2c().Get(base + "/v1/ids?count=2")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	require.Equal(t, 2, res.ProtoMajor)
}

// Spread takes each batch from one source in turn: a response's IDs
// increase and come from one worker ID, and a closed source is skipped.
func TestSpread(t *testing.T) {
	t.Parallel()
	a := idgentest.New(t, idgentest.Options{WorkerID: 1})
	b := idgentest.New(t, idgentest.Options{WorkerID: 2})
	src, err := serve.Spread(a, b)
	require.NoError(t, err)
	base := start(t, newServer(t, src))
	workers := map[int64]int{}
	seen := map[snowflake.ID]bool{}
	for range 20 {
		r := do(t, "GET", base+"/v1/ids?count=5000")
		require.Equal(t, 200, r.code, r.body)
		ids := idsOf(t, r.body)
		requireIncreasing(t, ids)
		w := snowflake.Twitter().Decompose(ids[0]).Worker
		for _, id := range ids {
			require.Equal(t, w, snowflake.Twitter().Decompose(id).Worker, "one worker ID per response")
			require.False(t, seen[id])
			seen[id] = true
		}
		workers[w]++
	}
	assert.Equal(t, map[int64]int{1: 10, 2: 10}, workers)

	require.NoError(t, a.Close(t.Context()))
	require.Equal(t, 200, do(t, "GET", base+"/readyz").code, "ready while one source is")
	for range 4 {
		r := do(t, "GET", base+"/v1/ids?count=10")
		require.Equal(t, 200, r.code, r.body)
		require.Equal(t, int64(2), snowflake.Twitter().Decompose(idsOf(t, r.body)[0]).Worker)
	}
	require.NoError(t, b.Close(t.Context()))
	r := do(t, "GET", base+"/readyz")
	require.Equal(t, 503, r.code)
	r = do(t, "GET", base+"/v1/ids")
	require.Equal(t, 503, r.code)
	assert.Contains(t, r.body, "generator stopped")
	// Both stopped for the same reason: it is given once.
	assert.Equal(t, 1, strings.Count(r.body, "generator stopped"), r.body)
	r = do(t, "GET", base+"/readyz")
	assert.Equal(t, 1, strings.Count(r.body, idgen.ErrClosed.Error()), r.body)

	_, err = serve.Spread()
	require.ErrorIs(t, err, serve.ErrInvalidOptions)
	_, err = serve.Spread(a, idgentest.New(t, idgentest.Options{Layout: snowflake.Sonyflake()}))
	require.ErrorContains(t, err, "another layout")
}
