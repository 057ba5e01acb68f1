package lease

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/snowflake"
)

// TestZeroLease: the zero Lease has ended: no method panics.
func TestZeroLease(t *testing.T) {
	t.Parallel()
	var l Lease
	assert.ErrorIs(t, l.Err(), ErrClosed)
	assert.ErrorIs(t, l.Renew(context.Background()), ErrClosed)
	select {
	case <-l.Done():
	default:
		assert.Fail(t, "Done of a zero Lease is not closed")
	}
	g, err := snowflake.New(snowflake.Twitter(), 0, snowflake.Options{})
	require.NoError(t, err)
	l.Bind(g)
	_, err = g.Next()
	assert.ErrorIs(t, err, snowflake.ErrStopped, "a target bound to a zero Lease is stopped")
	assert.NoError(t, l.Close(context.Background()))
	assert.Zero(t, l.Stats().Renewals)
}
