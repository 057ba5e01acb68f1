package clockguard_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen/clockguard"
)

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
// generator while the clock is off by more than MaxSkew. It needs a running
// Redis, so it has no output to verify.
func ExampleStart() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
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
	defer g.Close(context.Background())

	st := g.Stats()
	fmt.Printf("clock offset %v ± %v\n", st.Estimate.Offset, st.Estimate.Uncertainty)
}
