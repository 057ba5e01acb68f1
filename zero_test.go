package idgen_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/snowflake"
)

// TestZeroValues: a zero Generator and a zero Starting are closed ones:
// every method returns ErrClosed (or nothing) instead of panicking.
func TestZeroValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("Generator", func(t *testing.T) {
		t.Parallel()
		var g idgen.Generator
		_, err := g.Next()
		assert.ErrorIs(t, err, idgen.ErrClosed)
		assert.ErrorContains(t, err, "zero Generator")
		n, err := g.NextN(make([]snowflake.ID, 2))
		assert.ErrorIs(t, err, idgen.ErrClosed)
		assert.Zero(t, n)
		_, err = g.NextContext(ctx)
		assert.ErrorIs(t, err, idgen.ErrClosed)
		assert.ErrorIs(t, g.Ready(), idgen.ErrClosed)
		assert.ErrorIs(t, g.Err(), idgen.ErrClosed)
		select {
		case <-g.Done():
		default:
			assert.Fail(t, "Done of a zero Generator is not closed")
		}
		assert.Equal(t, int64(-1), g.WorkerID())
		assert.Equal(t, idgen.Stats{WorkerID: -1}, g.Stats())
		assert.True(t, g.Layout().IsZero())
		assert.NoError(t, g.Close(ctx))
		assert.NoError(t, g.Close(ctx), "Close is idempotent")
	})
	t.Run("Starting", func(t *testing.T) {
		t.Parallel()
		var s idgen.Starting
		assert.ErrorIs(t, s.Ready(), idgen.ErrClosed)
		g, err := s.Wait(ctx)
		assert.ErrorIs(t, err, idgen.ErrClosed)
		assert.Nil(t, g)
		assert.Nil(t, s.Generator())
		_, err = s.Next()
		assert.ErrorIs(t, err, idgen.ErrClosed)
		_, err = s.NextN(make([]snowflake.ID, 2))
		assert.ErrorIs(t, err, idgen.ErrClosed)
		_, err = s.NextContext(ctx)
		assert.ErrorIs(t, err, idgen.ErrClosed)
		assert.NoError(t, s.Close(ctx))
	})
}
