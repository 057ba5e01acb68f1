package idgentest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/idgentest"
	"github.com/snowlease/idgen/snowflake"
)

// A test gets a generator in well under 10 ms with no Redis server: the
// time is logged, not asserted.
func TestNewIsQuickAndUnique(t *testing.T) {
	start := time.Now()
	g := idgentest.New(t)
	id, err := g.Next()
	require.NoError(t, err)
	t.Logf("first ID %v after idgentest.New", time.Since(start))
	seen := map[snowflake.ID]bool{id: true}
	buf := make([]snowflake.ID, 1000)
	for range 100 {
		n, err := g.NextN(buf)
		require.NoError(t, err)
		for _, x := range buf[:n] {
			require.False(t, seen[x], "duplicate %d", x)
			require.Greater(t, x, id)
			seen[x], id = true, x
		}
	}
	require.NoError(t, g.Ready())
	require.NoError(t, g.Close(context.Background()))
	assert.ErrorIs(t, g.Ready(), idgen.ErrClosed)
	_, err = g.Next()
	assert.Error(t, err)
}

func TestOptions(t *testing.T) {
	g := idgentest.New(t, idgentest.Options{Layout: snowflake.Sonyflake(), WorkerID: 7})
	id, err := g.Next()
	require.NoError(t, err)
	p := snowflake.Sonyflake().Decompose(id)
	assert.Equal(t, int64(7), p.Worker)
	assert.Equal(t, snowflake.Sonyflake(), g.Layout())
}

// A service takes an idgen.Source; its tests pass the test kit's generator.
type orders struct{ ids idgen.Source }

func (o orders) create() (snowflake.ID, error) { return o.ids.Next() }

func TestServiceTakesASource(t *testing.T) {
	svc := orders{ids: idgentest.New(t, idgentest.Options{WorkerID: 3})}
	id, err := svc.create()
	require.NoError(t, err)
	assert.Equal(t, int64(3), snowflake.Twitter().Decompose(id).Worker)
}
