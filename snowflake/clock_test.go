package snowflake

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// fakeClock is a Clock that tests move by hand. The wall clock and the
// monotonic clock move together with Advance; StepWall moves the wall clock
// alone, as NTP or an operator would. It is safe for concurrent use.
type fakeClock struct {
	wall atomic.Int64 // Unix nanoseconds
	mono atomic.Int64
}

func newFakeClock(wall time.Time) *fakeClock {
	c := &fakeClock{}
	c.wall.Store(wall.UnixNano())
	c.mono.Store(int64(time.Hour)) // any origin
	return c
}

func (c *fakeClock) Now() time.Time           { return time.Unix(0, c.wall.Load()).UTC() }
func (c *fakeClock) Monotonic() time.Duration { return time.Duration(c.mono.Load()) }

// Advance moves both clocks forward by d.
func (c *fakeClock) Advance(d time.Duration) {
	c.mono.Add(int64(d))
	c.wall.Add(int64(d))
}

// StepWall moves the wall clock alone, backwards when d < 0.
func (c *fakeClock) StepWall(d time.Duration) { c.wall.Add(int64(d)) }

func TestSystemClock(t *testing.T) {
	t.Parallel()
	c := SystemClock()
	m0, w0 := c.Monotonic(), c.Now()
	time.Sleep(2 * time.Millisecond)
	assert.GreaterOrEqual(t, c.Monotonic()-m0, 2*time.Millisecond, "monotonic clock in a 2ms sleep")
	assert.GreaterOrEqual(t, c.Now().Sub(w0), 2*time.Millisecond, "wall clock in a 2ms sleep")
}
