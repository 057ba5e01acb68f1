package idgen_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/snowflake"
)

// redisAddr is the Redis the examples use: a redis-server of their own that
// TestMain starts on a free port. TestMain also creates namespace "orders"
// with Init, as `idgen init` would, so that no example waits out the
// start-up quarantine of a namespace Redis has never seen.
//
// IDs, worker IDs and times differ from run to run; the examples print what
// does not.
var redisAddr string

func TestMain(m *testing.M) {
	os.Exit(redistest.RunMain(m, func(s *redistest.Server, c *redis.Client) error {
		redisAddr = s.Addr
		return idgen.Init(context.Background(), c, idgen.Options{Namespace: "orders"})
	}))
}

func ExampleNew() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer client.Close()

	gen, err := idgen.New(ctx, client, idgen.Options{
		Namespace: "orders", // every node that must not collide uses the same namespace
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	// Close releases the worker ID so another node can take it at once.
	defer gen.Close(context.Background())

	id, err := gen.Next()
	if err != nil {
		log.Fatal(err)
	}
	p := gen.Layout().Decompose(id)
	fmt.Println("issued by the leased worker ID:", p.Worker == gen.WorkerID())
	fmt.Println("first of its tick:", p.Sequence == 0)
	fmt.Println("issued in the last second:", time.Since(p.Time) < time.Second)
	// Output:
	// issued by the leased worker ID: true
	// first of its tick: true
	// issued in the last second: true
}

func ExampleGenerator_Next() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer client.Close()
	gen, err := idgen.New(ctx, client, idgen.Options{Namespace: "orders"})
	if err != nil {
		log.Fatal(err)
	}

	next := func() {
		id, err := gen.Next()
		switch {
		case err == nil:
			fmt.Println("ID issued:", id > 0) // use it as a BIGINT primary key, a log correlation ID, ...
		case errors.Is(err, idgen.ErrUnavailable):
			// Redis has been unreachable for longer than the Window, the clock
			// guard paused issuing, or a lost worker ID is being replaced: Next
			// never blocks on the network. Answer "try later" (HTTP 503), or
			// wait with NextContext.
			fmt.Println("try later:", err)
		default:
			fmt.Println(err) // ErrClosed, or ErrLeaseLost under the Fail policy
		}
	}
	next()
	if err := gen.Close(ctx); err != nil {
		log.Fatal(err)
	}
	next()
	// Output:
	// ID issued: true
	// idgen: generator closed
}

func ExampleGenerator_NextContext() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer client.Close()
	gen, err := idgen.New(ctx, client, idgen.Options{Namespace: "orders"})
	if err != nil {
		log.Fatal(err)
	}
	defer gen.Close(ctx)

	// Wait up to a second while the generator recovers, instead of
	// handling ErrUnavailable.
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	id, err := gen.NextContext(wctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ID issued:", id > 0)
	// Output:
	// ID issued: true
}

func ExampleGenerator_NextN() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer client.Close()
	gen, err := idgen.New(ctx, client, idgen.Options{Namespace: "orders"})
	if err != nil {
		log.Fatal(err)
	}
	defer gen.Close(ctx)

	// NextN fills as much of the slice as the current tick and the fence
	// allow; loop until it is full.
	ids := make([]snowflake.ID, 10000)
	for filled := 0; filled < len(ids); {
		n, err := gen.NextN(ids[filled:])
		filled += n
		if err != nil {
			log.Fatal(err)
		}
	}
	increasing := true
	for i := 1; i < len(ids); i++ {
		increasing = increasing && ids[i-1] < ids[i]
	}
	fmt.Println(len(ids), "IDs, strictly increasing:", increasing)
	// Output:
	// 10000 IDs, strictly increasing: true
}

func ExampleGenerator_Stats() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer client.Close()
	gen, err := idgen.New(ctx, client, idgen.Options{Namespace: "orders", OnLeaseLost: idgen.Fail})
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		if _, err := gen.Next(); err != nil {
			log.Fatal(err)
		}
	}

	s := gen.Stats()
	fmt.Printf("namespace %s: %d IDs issued, %d renewals failed, %d leases lost\n",
		s.Namespace, s.Issued, s.RenewFailures, s.LeasesLost)
	fmt.Println("fence ahead of the clock:", s.FenceHeadroom > 0)

	// Under the Fail policy, Done closes when the worker ID is lost, or
	// when the generator is closed.
	if err := gen.Close(ctx); err != nil {
		log.Fatal(err)
	}
	<-gen.Done()
	fmt.Println("stopped:", gen.Err())
	// Output:
	// namespace orders: 3 IDs issued, 0 renewals failed, 0 leases lost
	// fence ahead of the clock: true
	// stopped: idgen: generator closed
}
