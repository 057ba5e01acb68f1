// Command quickstart starts three idgen generators as if they were three
// nodes of a service, prints a few IDs from each with their decoded parts,
// and lists the worker-ID leases they hold.
//
//	go run ./examples/quickstart                                  # in-process Redis (miniredis)
//	REDIS_URL=redis://127.0.0.1:6379 go run ./examples/quickstart # a real Redis
//
// A namespace that Redis has never seen (or that Redis lost) starts with a
// quarantine of Window + MaxSkew before the first ID, so that no ID can
// repeat one issued before the loss. The quickstart uses a 2s TTL (so a 2s
// Window) and a 200ms MaxSkew to keep that wait short.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/internal/sim/miniserver"
	"github.com/snowlease/idgen/lease"
)

const (
	nodes     = 3
	idsEach   = 3
	namespace = "quickstart"
)

// options are the generators' options: short times so the quickstart runs
// quickly, the defaults otherwise.
var options = idgen.Options{
	Namespace: namespace,
	TTL:       2 * time.Second,
	MaxSkew:   200 * time.Millisecond,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout, os.Getenv("REDIS_URL")); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run runs the quickstart against redisURL, or an in-process Redis when it
// is empty.
func run(ctx context.Context, out io.Writer, redisURL string) error {
	client, cleanup, err := connect(out, redisURL)
	if err != nil {
		return err
	}
	defer cleanup()

	fmt.Fprintf(out, "\nStarting %d nodes in namespace %q (TTL %v).\n", nodes, namespace, options.TTL)
	fmt.Fprintf(out, "On a namespace Redis has not seen before, the first ID waits out a start-up\n"+
		"quarantine of Window + MaxSkew = %v, in case Redis lost IDs issued before.\n",
		options.TTL+options.MaxSkew)
	start := time.Now()
	gens, err := startNodes(ctx, client)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, g := range gens {
			_ = g.Close(cctx)
		}
	}()
	fmt.Fprintf(out, "All %d nodes ready after %v.\n\n", nodes, time.Since(start).Round(time.Millisecond))

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tID\tBASE58\tTIME (UTC)\tWORKER\tSEQUENCE")
	for i, g := range gens {
		for range idsEach {
			id, err := g.Next()
			if err != nil {
				return fmt.Errorf("node %d: %w", i, err)
			}
			p := g.Layout().Decompose(id)
			fmt.Fprintf(tw, "node-%d\t%d\t%s\t%s\t%d\t%d\n", i, id.Int64(), id.Base58(),
				p.Time.UTC().Format("2006-01-02T15:04:05.000Z"), p.Worker, p.Sequence)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	infos, err := lease.List(ctx, client, namespace)
	if err != nil {
		return fmt.Errorf("list leases: %w", err)
	}
	fmt.Fprintf(out, "\nLeases in namespace %q:\n", namespace)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tHOST\tPID\tTTL LEFT\tHIGH-WATER MARK (UTC)")
	for _, in := range infos {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%v\t%s\n", in.WorkerID, in.Host, in.PID, in.TTL.Round(time.Millisecond),
			hwmTime(gens[0], in.HWM))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nEach node holds its own worker ID; the high-water mark is the fence its renewals")
	fmt.Fprintln(out, "have raised: the next holder of that worker ID starts above it.")
	return nil
}

func hwmTime(g *idgen.Generator, hwm int64) string {
	if hwm <= 0 {
		return "-"
	}
	return g.Layout().Time(hwm).UTC().Format("2006-01-02T15:04:05.000Z")
}

// connect returns a client for redisURL, or for an in-process miniredis
// when it is empty, saying which.
func connect(out io.Writer, redisURL string) (redis.UniversalClient, func(), error) {
	if redisURL != "" {
		opts, err := redis.ParseURL(redisURL)
		if err != nil {
			return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		fmt.Fprintf(out, "Using the Redis at %s (from REDIS_URL).\n", opts.Addr)
		c := redis.NewClient(opts)
		return c, func() { _ = c.Close() }, nil
	}
	mr, err := miniredis.Run()
	if err != nil {
		return nil, nil, fmt.Errorf("start in-process Redis: %w", err)
	}
	miniserver.Install(mr) // INFO server/replication, which the lease's scripts read
	fmt.Fprintf(out, "REDIS_URL is not set: using an in-process Redis (miniredis) at %s.\n", mr.Addr())
	fmt.Fprintln(out, "Set REDIS_URL=redis://host:port to use a real one.")
	c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	return c, func() { _ = c.Close(); mr.Close() }, nil
}

// startNodes starts the generators concurrently, as separate processes
// would, so they wait out the quarantine together.
func startNodes(ctx context.Context, client redis.UniversalClient) ([]*idgen.Generator, error) {
	gens := make([]*idgen.Generator, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range gens {
		wg.Go(func() {
			o := options
			o.Host = fmt.Sprintf("node-%d", i)
			gens[i], errs[i] = idgen.New(ctx, client, o)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, g := range gens {
			if g != nil {
				_ = g.Close(context.Background())
			}
		}
		return nil, err
	}
	return gens, nil
}
