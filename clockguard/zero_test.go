package clockguard_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/clockguard"
)

type countingPauser struct{ pauses, resumes int }

func (p *countingPauser) Pause()  { p.pauses++ }
func (p *countingPauser) Resume() { p.resumes++ }

// TestZeroGuard: the zero Guard is a closed one: no method panics.
func TestZeroGuard(t *testing.T) {
	t.Parallel()
	var g clockguard.Guard
	_, err := g.CheckNow(context.Background())
	assert.ErrorIs(t, err, clockguard.ErrClosed)
	p := &countingPauser{}
	g.SetTarget(p)
	assert.Equal(t, countingPauser{}, *p, "a zero Guard pauses nothing")
	assert.Equal(t, clockguard.Stats{}, g.Stats())
	assert.NoError(t, g.Close(context.Background()))
	assert.NoError(t, g.Close(context.Background()), "Close is idempotent")
}

// TestCloseBoundedByContext: Close returns nil once the Guard has stopped,
// or ctx's error if ctx ends first; either way the Guard ends, and a later
// Close waits for that.
func TestCloseBoundedByContext(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // nothing listens: checks fail fast
	t.Cleanup(func() { _ = client.Close() })
	g, err := clockguard.New(client, clockguard.Options{})
	require.NoError(t, err)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Close(cancelled); err != nil {
		assert.ErrorIs(t, err, context.Canceled)
	}
	assert.NoError(t, g.Close(context.Background()))
	_, err = g.CheckNow(context.Background())
	assert.ErrorIs(t, err, clockguard.ErrClosed)
}
