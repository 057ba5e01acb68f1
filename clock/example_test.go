package clock_test

import (
	"context"
	"fmt"
	"time"

	"github.com/snowlease/idgen/clock"
)

// A test drives code that waits on a timer: it waits until the code has
// armed its timer (BlockUntil), then moves time past it (Advance), without
// sleeping.
func ExampleFake() {
	f := clock.NewFake(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	ctx := context.Background()

	done := make(chan struct{})
	go func() { // the code under test: wait ten seconds, then work
		defer close(done)
		if err := clock.Sleep(ctx, f, 10*time.Second); err == nil {
			fmt.Println("woke at", f.Now().Format(time.TimeOnly))
		}
	}()

	_ = f.BlockUntil(ctx, 1) // it is asleep now
	f.Advance(10 * time.Second)
	<-done
	// Output: woke at 12:00:10
}

// StepWall moves the wall clock alone, as NTP would; elapsed time, read on
// the monotonic clock, does not see the step.
func ExampleFake_StepWall() {
	f := clock.NewFake(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	f.Advance(time.Minute)
	f.StepWall(-time.Hour)
	fmt.Println("wall:", f.Now().Format(time.TimeOnly))
	fmt.Println("elapsed:", f.Monotonic())
	// Output:
	// wall: 11:01:00
	// elapsed: 1m0s
}
