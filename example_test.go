package idgen_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/snowflake"
)

// The IDs and worker IDs differ from run to run, so these examples show
// usage without checking their output.

func ExampleNew() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
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
	fmt.Printf("id %d: worker %d, issued at %s\n", id, p.Worker, p.Time.Format(time.RFC3339Nano))
}

func ExampleGenerator_Next() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	gen, err := idgen.New(ctx, client, idgen.Options{Namespace: "orders"})
	if err != nil {
		log.Fatal(err)
	}
	defer gen.Close(ctx)

	id, err := gen.Next()
	switch {
	case err == nil:
		fmt.Println(id) // use it as a BIGINT primary key, a log correlation ID, ...
	case errors.Is(err, idgen.ErrUnavailable):
		// Redis has been unreachable for longer than the Window, the clock
		// guard paused issuing, or a lost worker ID is being replaced: Next
		// never blocks on the network. Answer "try later" (HTTP 503), or
		// wait with NextContext.
		log.Print(err)
	default:
		log.Fatal(err) // ErrClosed, or ErrLeaseLost under the Fail policy
	}
}

func ExampleGenerator_NextContext() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
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
	fmt.Println(id)
}

func ExampleGenerator_NextN() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	gen, err := idgen.New(ctx, client, idgen.Options{Namespace: "orders"})
	if err != nil {
		log.Fatal(err)
	}
	defer gen.Close(ctx)

	ids := make([]snowflake.ID, 1000)
	for filled := 0; filled < len(ids); {
		n, err := gen.NextN(ids[filled:])
		filled += n
		if err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(ids[0] < ids[999]) // increasing
}

func ExampleGenerator_Stats() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	gen, err := idgen.New(ctx, client, idgen.Options{Namespace: "orders", OnLeaseLost: idgen.Fail})
	if err != nil {
		log.Fatal(err)
	}
	defer gen.Close(ctx)

	s := gen.Stats()
	fmt.Printf("worker %d: %d IDs, fence %v ahead, %d/%d renewals failed, clock offset %v ± %v\n",
		s.WorkerID, s.Issued, s.FenceHeadroom, s.RenewFailures, s.Renewals+s.RenewFailures,
		s.ClockOffset, s.ClockUncertainty)

	// Under the Fail policy, Done closes when the worker ID is lost.
	go func() {
		<-gen.Done()
		log.Printf("generator stopped: %v", gen.Err())
	}()
}
