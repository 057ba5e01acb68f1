package lease_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/snowflake"
)

// Lease a worker ID, drive a generator with it, and give it back.
func ExampleAcquire() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer client.Close()

	l, err := lease.Acquire(ctx, client, lease.Options{Namespace: "orders", TTL: 10 * time.Second})
	if err != nil {
		log.Fatal(err) // errors.Is(err, lease.ErrNoWorkerAvailable) when every ID is held
	}
	defer l.Close(context.Background()) // stops the generator, writes its last tick as the HWM, deletes the key

	gen, err := snowflake.New(snowflake.Twitter(), l.WorkerID(),
		snowflake.Options{StartAfter: l.StartAfter(), Fence: l.Fence()})
	if err != nil {
		log.Fatal(err)
	}
	l.Bind(gen) // every renewal raises gen's fence; a lost lease stops gen

	go func() {
		<-l.Done()
		if errors.Is(l.Err(), lease.ErrLeaseLost) {
			log.Printf("worker %d lost: %v", l.WorkerID(), l.Err())
		}
	}()

	id, err := gen.Next() // waits while the clock is not yet past StartAfter
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id)
}

// List the leases of a namespace, as `idgen leases` does.
func ExampleList() {
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
	defer client.Close()
	infos, err := lease.List(context.Background(), client, "orders")
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range infos {
		fmt.Printf("%4d %s pid %d since %s, TTL %v, HWM %d\n",
			in.WorkerID, in.Host, in.PID, in.Started.Format(time.RFC3339), in.TTL, in.HWM)
	}
}
