package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/snowlease/idgen/serve/gen/idgen/v1/idgenv1connect"
	"github.com/snowlease/idgen/snowflake"
)

// Source is what the service issues IDs from: *idgen.Generator and
// *idgen.Starting satisfy it (the latter lets the server answer /livez and
// report "starting" on /readyz before the Generator has its worker ID).
type Source interface {
	// NextN fills dst with new, increasing IDs and returns how many.
	NextN(dst []snowflake.ID) (int, error)
	// Ready is nil when NextN would issue now, else the reason it would not.
	Ready() error
	// Layout is the bit layout of the IDs.
	Layout() snowflake.Layout
}

// DefaultMaxCount is the most IDs one request may ask for unless
// Options.MaxCount says otherwise.
const DefaultMaxCount = 10_000

// maxCountLimit bounds Options.MaxCount: a response of this many IDs is
// 1.6 MB of JSON, and the buffers are pooled at that size.
const maxCountLimit = 100_000

// Options configures a Server. The zero value is the default for every
// field.
type Options struct {
	// MaxCount is the most IDs one request may ask for, 1 to 100,000.
	// Default 10,000.
	MaxCount int
	// RetryAfter is what a 503 / UNAVAILABLE tells clients to wait before
	// they retry, rounded up to whole seconds for HTTP's Retry-After.
	// Default 1 s.
	RetryAfter time.Duration
	// Registerer receives the server's metrics (requests, IDs served,
	// latency). Default: a registry of the server's own, served on
	// /metrics. When set, /metrics serves Gatherer instead.
	Registerer prometheus.Registerer
	// Gatherer is what /metrics serves when Registerer is set. Default
	// prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
	// Logger receives one line per internal failure (a response that could
	// not be written is not one). Default: silent.
	Logger *slog.Logger
}

// ErrInvalidOptions is matched by every error New returns for bad Options.
var ErrInvalidOptions = errors.New("serve: invalid options")

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.MaxCount == 0:
		o.MaxCount = DefaultMaxCount
	case o.MaxCount < 1 || o.MaxCount > maxCountLimit:
		return o, fmt.Errorf("%w: MaxCount is %d, allowed 1 to %d", ErrInvalidOptions, o.MaxCount, maxCountLimit)
	}
	switch {
	case o.RetryAfter == 0:
		o.RetryAfter = time.Second
	case o.RetryAfter < 0 || o.RetryAfter > time.Hour:
		return o, fmt.Errorf("%w: RetryAfter is %v, allowed 1ns to 1h", ErrInvalidOptions, o.RetryAfter)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Server is the service. Create it with New and mount Handler on an
// http.Server that speaks HTTP/1.1 and HTTP/2 (h2c for gRPC without TLS).
type Server struct {
	src      Source
	opts     Options
	layout   snowflake.Layout
	draining atomic.Bool
	retry    string // Retry-After, in seconds
	retryMs  string // grpc-retry-pushback-ms
	pool     sync.Pool
	m        *serverMetrics
	mux      *http.ServeMux

	// Serve's servers, made by New; mu guards ln and closed.
	hs     *http.Server
	gs     *grpc.Server
	mu     sync.Mutex
	ln     net.Listener
	closed bool
}

// New returns a Server that issues IDs from src.
func New(src Source, opts Options) (*Server, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: Source is nil", ErrInvalidOptions)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{
		src:     src,
		opts:    opts,
		layout:  src.Layout(),
		retry:   strconv.FormatInt(int64((opts.RetryAfter+time.Second-1)/time.Second), 10),
		retryMs: strconv.FormatInt(max(1, opts.RetryAfter.Milliseconds()), 10),
	}
	s.pool.New = func() any { return new(buffers) }

	reg, gather := opts.Registerer, opts.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		reg, gather = r, r
	} else if gather == nil {
		gather = prometheus.DefaultGatherer
	}
	if s.m, err = newServerMetrics(reg); err != nil {
		return nil, err
	}
	s.mux = s.routes(promhttp.HandlerFor(gather, promhttp.HandlerOpts{ErrorLog: slogPrinter{opts.Logger}}))
	s.hs = &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          log.New(io.Discard, "", 0),
		Protocols:         new(http.Protocols),
	}
	s.hs.Protocols.SetHTTP1(true)
	s.hs.Protocols.SetUnencryptedHTTP2(true)
	s.gs = s.newGRPCServer()
	return s, nil
}

// Handler serves the whole API, gRPC included (through connect-go), for a
// program that mounts it on an http.Server of its own; that server must
// speak HTTP/1.1 and HTTP/2 (h2c for gRPC without TLS). Serve is faster
// for gRPC.
func (s *Server) Handler() http.Handler { return s.mux }

// readHeaderTimeout bounds how long a new connection may take to send its
// first request's headers; idleTimeout how long a connection may stay idle.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
)

// Serve serves the whole API on l until Shutdown or Close, and then
// returns http.ErrServerClosed (or, before that, the error that stopped
// l). HTTP/2 connections whose first request is gRPC are served by
// grpc-go's transport, every other connection (HTTP/1.1, gRPC-Web, the
// Connect protocol, h2c) by an http.Server with Handler: the answers are
// the same either way, gRPC's are cheaper (SplitGRPC says why).
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return http.ErrServerClosed
	case s.ln != nil:
		s.mu.Unlock()
		return errors.New("serve: Serve called twice")
	}
	s.ln = l
	s.mu.Unlock()

	gl, hl := SplitGRPC(l, readHeaderTimeout)
	gstopped := make(chan struct{})
	go func() {
		defer close(gstopped)
		_ = s.gs.Serve(gl) // l's error, if any, is hs.Serve's too
	}()
	err := s.hs.Serve(hl)
	<-gstopped
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return http.ErrServerClosed
	}
	return err
}

// Shutdown stops Serve gracefully: it stops accepting connections, lets
// the requests in flight finish, and closes connections as they go idle;
// when ctx ends first, it closes the rest and returns ctx's error. Call
// Drain first (see there).
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	stopped := make(chan struct{})
	go func() {
		s.gs.GracefulStop()
		close(stopped)
	}()
	err := s.hs.Shutdown(ctx)
	select {
	case <-stopped:
	case <-ctx.Done():
		s.gs.Stop()
		<-stopped
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// Close stops Serve at once, closing every connection.
func (s *Server) Close() error {
	s.stopAccepting()
	s.gs.Stop()
	return s.hs.Close()
}

func (s *Server) stopAccepting() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.ln != nil {
		_ = s.ln.Close()
	}
}

// Drain marks the server as going away: /readyz answers 503 "draining" and
// the gRPC health check NOT_SERVING, so load balancers stop sending it new
// requests, while requests that still come are served as before. Call it
// first when shutting down, wait for the load balancer to notice, then shut
// the http.Server down and close the Generator.
func (s *Server) Drain() { s.draining.Store(true) }

// Ready is nil when the server would issue IDs now and is not draining; it
// is what /readyz and the health check report.
func (s *Server) Ready() error {
	if s.draining.Load() {
		return errDraining
	}
	return s.src.Ready()
}

var errDraining = errors.New("draining: the server is shutting down")

func (s *Server) routes(metrics http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/v1/ids", s.get(routeIDs, s.serveIDs))
	mux.Handle("/v1/decode/{id}", s.get(routeDecode, s.serveDecode))
	mux.Handle("/livez", s.get(routeLivez, s.serveLivez))
	mux.Handle("/readyz", s.get(routeReadyz, s.serveReadyz))
	mux.Handle("/metrics", s.get(routeMetrics, metrics.ServeHTTP))
	mux.Handle("/", s.get(routeOther, s.serveNotFound))

	handlerOpts := []connect.HandlerOption{
		connect.WithReadMaxBytes(maxRequestBytes),
		connect.WithInterceptors(s.m.interceptor()),
	}
	mux.Handle(idgenv1connect.NewIDServiceHandler(&rpc{s: s}, handlerOpts...))
	mux.Handle(grpchealth.NewHandler(health{s}, handlerOpts...))
	reflector := grpcreflect.NewStaticReflector(idgenv1connect.IDServiceName, grpchealth.HealthV1ServiceName)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, connect.WithReadMaxBytes(maxRequestBytes)))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, connect.WithReadMaxBytes(maxRequestBytes)))
	return mux
}

// maxRequestBytes bounds an RPC's request message (a Next or Decode request
// is a few bytes; a reflection request names a file or a symbol).
const maxRequestBytes = 4 << 10

// h2DefaultWindow is HTTP/2's initial flow-control window (RFC 9113,
// section 6.9.2): the gRPC server keeps it, for streams and the connection.
const h2DefaultWindow = 1<<16 - 1

// buffers are a request's scratch space, pooled.
type buffers struct {
	ids []snowflake.ID
	out []byte
}

func (s *Server) getBuffers(n int) *buffers {
	b := s.pool.Get().(*buffers)
	if cap(b.ids) < n {
		b.ids = make([]snowflake.ID, n)
	}
	b.ids = b.ids[:n]
	b.out = b.out[:0]
	return b
}

func (s *Server) putBuffers(b *buffers) {
	if cap(b.out) > 4<<20 {
		b.out = nil
	}
	s.pool.Put(b)
}

// issue fills ids (NextN may return fewer than asked, as many as fit below
// its limit, and is called again for the rest) or says why it could not.
// The IDs of a batch cut short by an error are not returned: they are
// simply never used.
func (s *Server) issue(ids []snowflake.ID) error {
	for done := 0; done < len(ids); {
		k, err := s.src.NextN(ids[done:])
		if err != nil {
			return err
		}
		if k == 0 {
			return errors.New("the generator issued no IDs and gave no reason")
		}
		done += k
	}
	s.m.ids.Add(float64(len(ids)))
	return nil
}

type slogPrinter struct{ l *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.l.Error(fmt.Sprint(v...)) }
