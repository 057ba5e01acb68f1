package clockguard_test

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

	"github.com/snowlease/idgen/clockguard"
	"github.com/snowlease/idgen/internal/redistest"
)

// redisAddr is the Redis the examples use: a redis-server of their own that
// TestMain starts on a free port.
var redisAddr string

func TestMain(m *testing.M) {
	os.Exit(redistest.RunMain(m, func(s *redistest.Server, _ *redis.Client) error {
		redisAddr = s.Addr
		return nil
	}))
}

// Options are checked before anything touches Redis; the error names the
// field and the allowed range.
func ExampleOptions_Validate() {
	err := clockguard.Options{Interval: -time.Second}.Validate()
	fmt.Println(err)
	fmt.Println(errors.Is(err, clockguard.ErrInvalidOptions))
	// Output:
	// clockguard: invalid options: Interval is -1s, allowed 10ms or more (0 means 30s)
	// true
}

// The start-up check, then a Guard that keeps checking and pauses the
// generator while the clock is off by more than MaxSkew.
func ExampleStart() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer client.Close()

	g, err := clockguard.Start(ctx, client, clockguard.Options{
		MaxSkew: 500 * time.Millisecond,
		Policy:  clockguard.Pause,
		Logger:  slog.Default(),
		// Target: the *snowflake.Generator that issues the IDs.
	})
	var skew *clockguard.SkewError
	switch {
	case errors.As(err, &skew):
		log.Fatalf("refusing to issue IDs: %v", skew)
	case err != nil:
		log.Fatal(err)
	}

	// The offset and its uncertainty vary from run to run; against a Redis
	// on the same machine they are far below MaxSkew.
	st := g.Stats()
	fmt.Printf("bound %v, beyond it: %v, paused: %v, samples: %d\n", st.MaxSkew, st.Beyond, st.Paused, st.Estimate.Samples)

	g.Close(context.Background())
	_, err = g.CheckNow(ctx)
	fmt.Println(err)
	// Output:
	// bound 500ms, beyond it: false, paused: false, samples: 5
	// clockguard: guard closed
}
