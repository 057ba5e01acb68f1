package lease_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/snowflake"
)

// redisAddr is the Redis the examples use: a redis-server of their own that
// TestMain starts on a free port. TestMain also creates namespace "orders"
// with Init, as `idgen init` would, so that no example waits out the
// start-up quarantine of a namespace Redis has never seen.
//
// Worker IDs, PIDs and times differ from run to run; the examples print
// what does not.
var redisAddr string

func TestMain(m *testing.M) {
	os.Exit(redistest.RunMain(m, func(s *redistest.Server, c *redis.Client) error {
		redisAddr = s.Addr
		return lease.Init(context.Background(), c, lease.Options{Namespace: "orders"})
	}))
}

// Lease a worker ID, drive a generator with it, and give it back.
func ExampleAcquire() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer client.Close()

	l, err := lease.Acquire(ctx, client, lease.Options{Namespace: "orders", TTL: 2 * time.Second})
	if err != nil {
		log.Fatal(err) // errors.Is(err, lease.ErrNoWorkerAvailable) when every ID is held
	}

	gen, err := snowflake.New(snowflake.Twitter(), l.WorkerID(),
		snowflake.Options{StartAfter: l.StartAfter(), Fence: l.Fence()})
	if err != nil {
		log.Fatal(err)
	}
	l.Bind(gen) // every renewal raises gen's fence; a lost lease stops gen

	id, err := gen.Next() // waits while the clock is not yet past StartAfter
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("issued with the leased worker ID:", snowflake.Twitter().Decompose(id).Worker == l.WorkerID())

	// Close stops the generator, writes its last tick as the worker ID's
	// high-water mark and deletes the lease key. Done closes, and Err says
	// why: ErrClosed here, ErrLeaseLost when the lease is lost.
	if err := l.Close(context.Background()); err != nil {
		log.Fatal(err)
	}
	<-l.Done()
	fmt.Println("Err:", l.Err())
	_, err = gen.Next()
	fmt.Println("generator stopped:", errors.Is(err, snowflake.ErrStopped))
	// Output:
	// issued with the leased worker ID: true
	// Err: lease: closed
	// generator stopped: true
}

// List the leases of a namespace, as `idgen leases` does.
func ExampleList() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer client.Close()
	l, err := lease.Acquire(ctx, client, lease.Options{Namespace: "orders", Host: "node-a", TTL: 2 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close(context.Background())

	infos, err := lease.List(ctx, client, "orders")
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range infos {
		// The worker ID, PID, start time and HWM vary from run to run.
		fmt.Printf("worker ID held: %v, host %s, this process: %v, expires within the TTL: %v\n",
			in.WorkerID == l.WorkerID(), in.Host, in.PID == os.Getpid(), in.TTL > 0 && in.TTL <= 2*time.Second)
	}
	// Output:
	// worker ID held: true, host node-a, this process: true, expires within the TTL: true
}
