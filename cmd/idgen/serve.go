package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/internal/heapfloor"
	"github.com/snowlease/idgen/metrics"
	"github.com/snowlease/idgen/serve"
)

// defaultHeapFloor is --heap-floor's default, in MiB: the server's own live
// heap is a few MiB, and at tens of thousands of requests a second Go's
// default would collect it some thirty times a second, each collection
// delaying the requests that meet it by a millisecond or two. A larger floor
// makes collections rarer still, but each one leaves more memory to sweep,
// which the requests right after it wait on (docs/serve.md).
const defaultHeapFloor = 32

// releaseTimeout bounds the release of a lease when a command ends; past it
// the lease simply expires after its TTL.
const releaseTimeout = 5 * time.Second

func runServe(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("serve", "[--addr HOST:PORT] [--namespace NS] [--layout L] [--ttl D]", `
Lease a worker ID from Redis and serve IDs until SIGTERM or SIGINT: plain
HTTP/JSON (GET /v1/ids?count=N, GET /v1/decode/{id}), gRPC, gRPC-Web and the
Connect protocol (idgen.v1.IDService), the gRPC health service and server
reflection, all on --addr; /livez, /readyz and /metrics (Prometheus) too.
Any number of servers, and programs that embed the library, may share a
namespace: no two ever hand out the same ID.

/readyz is 503 until the worker ID is leased (a new namespace waits out a
quarantine of about TTL + --max-skew first) and whenever IDs cannot be
issued; requests for IDs then get 503 / UNAVAILABLE with a Retry-After.
On SIGTERM, /readyz turns 503 at once, requests keep being served for
--drain-delay (so load balancers stop sending new ones), in-flight requests
finish within --shutdown-timeout, and the lease is released.`)
	var conn connFlags
	conn.register(fs, e.getenv)
	var gf genFlags
	gf.register(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "listen `address` (host:port) for HTTP/1.1 and HTTP/2 cleartext")
	maxCount := fs.Int("max-count", serve.DefaultMaxCount, "most IDs one request may ask for (1 to 100000)")
	workers := fs.Int("workers", 1, "worker IDs to lease (1 to 64): each issues at most the layout's IDs per tick (4,096,000 IDs/s with twitter); requests take turns, so with more than one the IDs of different responses are unique but not in order")
	retryAfter := fs.Duration("retry-after", time.Second, "what a 503 / UNAVAILABLE tells clients to wait before retrying")
	drainDelay := fs.Duration("drain-delay", 2*time.Second, "after SIGTERM, how `long` to keep serving with /readyz at 503 before closing the listener")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "after the drain delay, how `long` in-flight requests get to finish")
	heapFloor := fs.Int("heap-floor", defaultHeapFloor, "`MiB` of heap the Go garbage collector lets fill before it collects (0 to 65536; 0: Go's default, a collection each time the heap doubles from a few MiB): under load, rarer collections and so a lower tail latency, for that much memory; GOGC and GOMEMLIMIT still apply")
	if code, done := parseFlags(fs, e, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, "serve", "unexpected argument %q", fs.Arg(0))
	}
	if *drainDelay < 0 || *drainDelay > 10*time.Minute {
		return usageError(e, "serve", "--drain-delay is %v, allowed 0 to 10m", *drainDelay)
	}
	if *shutdownTimeout <= 0 || *shutdownTimeout > 10*time.Minute {
		return usageError(e, "serve", "--shutdown-timeout is %v, allowed 1ns to 10m", *shutdownTimeout)
	}
	if *workers < 1 || *workers > 64 {
		return usageError(e, "serve", "--workers is %d, allowed 1 to 64", *workers)
	}
	if *heapFloor < 0 || *heapFloor > 65536 {
		return usageError(e, "serve", "--heap-floor is %d MiB, allowed 0 to 65536", *heapFloor)
	}
	logger := newStderrLogger(e.stderr, "serve")
	opts, err := gf.options(logger)
	if err != nil {
		return usageError(e, "serve", "%v", err)
	}
	reg := prometheus.NewRegistry()
	srvOpts := serve.Options{MaxCount: *maxCount, RetryAfter: *retryAfter, Registerer: reg, Gatherer: reg, Logger: logger}

	client, code := conn.open(ctx, e, "serve")
	if client == nil {
		return code
	}
	defer client.Close()

	defer heapfloor.Set(uint64(*heapFloor) << 20)()

	// Listen before leasing a worker ID, so a taken port costs nothing.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fail(e, "serve", fmt.Errorf("listen on %s: %w (pick another with --addr)", *addr, err))
	}
	var gens []*idgen.Starting
	closeGen := func() {
		cctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
		defer cancel()
		for _, g := range gens {
			if err := g.Close(cctx); err != nil && !errors.Is(err, idgen.ErrClosed) {
				fmt.Fprintf(e.stderr, "idgen serve: warning: releasing a lease: %v (it expires after %v)\n", err, opts.TTL)
			}
		}
	}
	srcs := make([]serve.Source, *workers)
	for i := range srcs {
		g, err := idgen.Start(client, opts)
		if err != nil {
			ln.Close()
			closeGen()
			return usageError(e, "serve", "%v", err)
		}
		gens = append(gens, g)
		srcs[i] = g
	}
	src, err := serve.Spread(srcs...)
	var srv *serve.Server
	if err == nil {
		srv, err = serve.New(src, srvOpts)
	}
	if err == nil {
		err = registerCollectors(reg, gens)
	}
	if err != nil {
		ln.Close()
		closeGen()
		return usageError(e, "serve", "%v", err)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	startFailed := make(chan error, len(gens))
	for _, g := range gens {
		go func() {
			if _, err := g.Wait(ctx); err != nil && ctx.Err() == nil {
				startFailed <- err // for good: bad credentials, eviction policy, ...
			}
		}()
	}
	fmt.Fprintf(e.stderr, "idgen serve: listening on http://%s (namespace %q); /readyz turns 200 once a worker ID is leased\n",
		ln.Addr(), opts.Namespace)

	select {
	case err = <-served:
		closeGen()
		return fail(e, "serve", err)
	case err = <-startFailed:
	case <-ctx.Done():
	}
	if err != nil {
		_ = srv.Close()
		closeGen()
		return fail(e, "serve", err)
	}

	// Drain: readiness goes 503 first, requests are still served while
	// load balancers notice, then in-flight requests finish, then the lease
	// is released.
	fmt.Fprintf(e.stderr, "idgen serve: %v: draining for %v, then shutting down\n", context.Cause(ctx), *drainDelay)
	srv.Drain()
	time.Sleep(*drainDelay)
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	serr := srv.Shutdown(sctx)
	closeGen()
	if serr != nil {
		fmt.Fprintf(e.stderr, "idgen serve: warning: in-flight requests cut off after --shutdown-timeout %v: %v\n", *shutdownTimeout, serr)
	}
	fmt.Fprintln(e.stderr, "idgen serve: stopped; lease released")
	return exitOK // SIGTERM is how a server is meant to end
}

// registerCollectors adds the Generators' metrics (once started; with
// more than one, labelled slot="0", "1", ...) and the Go runtime's to reg.
func registerCollectors(reg *prometheus.Registry, gens []*idgen.Starting) error {
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	for i, g := range gens {
		var o metrics.Options
		if len(gens) > 1 {
			o.ConstLabels = prometheus.Labels{"slot": strconv.Itoa(i)}
		}
		cs = append(cs, metrics.NewCollector(startingStats{g}, o))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// startingStats gives the collector the Generator's Stats once it runs,
// and zeros before.
type startingStats struct{ s *idgen.Starting }

func (s startingStats) Stats() idgen.Stats {
	if g := s.s.Generator(); g != nil {
		return g.Stats()
	}
	return idgen.Stats{}
}
