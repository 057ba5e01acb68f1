package lease

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/snowflake"
)

// benchSetup starts a server and takes `taken` of the 1024 worker IDs of
// the Twitter layout (keys written directly, with a long TTL).
func benchSetup(b *testing.B, ns string, taken int) (*redis.Client, Options) {
	b.Helper()
	srv := redistest.Start(b, redistest.Config{})
	c := srv.Client(b)
	ctx := context.Background()
	o := Options{Namespace: ns, Layout: snowflake.Twitter(), TTL: time.Minute, Host: "bench"}
	l, err := Acquire(ctx, c, o) // creates the namespace
	require.NoError(b, err)
	require.NoError(b, l.Close(context.Background()))
	k := KeysOf(ns)
	pipe := c.Pipeline()
	for _, id := range rand.Perm(1024)[:taken] {
		pipe.Set(ctx, k.Lease(int64(id)), fmt.Sprintf("filler-%d|bench|1|1|1", id), time.Hour)
	}
	_, err = pipe.Exec(ctx)
	require.NoError(b, err)
	return c, o
}

// BenchmarkAcquire times one Acquire (one round trip: the window holds all
// 1024 IDs) with 0, 512 and 1023 of them taken. Releasing is not timed.
func BenchmarkAcquire(b *testing.B) {
	for _, taken := range []int{0, 512, 1023} {
		b.Run(fmt.Sprintf("taken=%d", taken), func(b *testing.B) {
			c, o := benchSetup(b, fmt.Sprintf("bench%d", taken), taken)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				l, err := Acquire(ctx, c, o)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := l.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkAcquireParallel is the concurrent twin: acquire and release from
// many goroutines, 512 of 1024 IDs taken by others.
func BenchmarkAcquireParallel(b *testing.B) {
	c, o := benchSetup(b, "benchpar", 512)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l, err := Acquire(ctx, c, o)
			if err != nil {
				b.Error(err)
				return
			}
			if err := l.Close(context.Background()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRenew times one renewal round trip.
func BenchmarkRenew(b *testing.B) {
	c, o := benchSetup(b, "benchrenew", 0)
	l, err := Acquire(context.Background(), c, o)
	require.NoError(b, err)
	b.Cleanup(func() { _ = l.Close(context.Background()) })
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if reason, err := l.renew(ctx); reason != "" || err != nil {
			b.Fatal(reason, err)
		}
	}
}

// BenchmarkRenewReplica times one renewal on a master with one replica:
// the script and WAIT 1 in one pipelined round trip.
func BenchmarkRenewReplica(b *testing.B) {
	master := redistest.Start(b, redistest.Config{})
	replica := redistest.Start(b, redistest.Config{ReplicaOf: master.Addr})
	redistest.WaitSynced(b, master, replica)
	c := master.Client(b)
	o := Options{Namespace: "benchrep", Layout: snowflake.Twitter(), TTL: time.Minute, Host: "bench", MinReplicas: 1}
	l, err := Acquire(context.Background(), c, o)
	require.NoError(b, err)
	b.Cleanup(func() { _ = l.Close(context.Background()) })
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if reason, err := l.renew(ctx); reason != "" || err != nil {
			b.Fatal(reason, err)
		}
	}
}
