package bench

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/snowflake"
)

// TestPairsShareLayouts checks the premise of the side-by-side pairs: each
// bwmarrin node writes IDs in the same layout as the idgen generator it is
// compared with (bwmarrin's globals were set as TestMain intends).
func TestPairsShareLayouts(t *testing.T) {
	pairs := []struct {
		name   string
		layout snowflake.Layout
		id     int64
		worker int64
	}{
		{"Twitter", snowflake.Twitter(), bwNode.Generate().Int64(), 1},
		{"raw", rawLayout, bwRawNode.Generate().Int64(), 0},
	}
	for _, p := range pairs {
		g := newGenerator(t, p.layout, p.worker)
		ours, err := g.Next()
		require.NoError(t, err, p.name)
		a, b := p.layout.Decompose(snowflake.ID(p.id)), p.layout.Decompose(ours)
		assert.Equal(t, p.worker, a.Worker, "%s: worker of bwmarrin's ID %+v", p.name, a)
		assert.Equal(t, p.worker, b.Worker, "%s: worker of our ID %+v", p.name, b)
		assert.GreaterOrEqual(t, b.Tick-a.Tick, int64(0), "%s: bwmarrin ID reads as %+v, ours as %+v", p.name, a, b)
		assert.LessOrEqual(t, b.Tick-a.Tick, int64(1000), "%s: bwmarrin ID reads as %+v, ours as %+v", p.name, a, b)
	}
	// The raw node counts past 4095 within a millisecond: it has 22 step
	// bits, not the default 12 (which would read the same with no worker).
	highest := int64(0)
	for i := 0; i < 1_000_000 && highest <= 4095; i++ {
		highest = max(highest, rawLayout.Decompose(snowflake.ID(bwRawNode.Generate())).Sequence)
	}
	assert.Greater(t, highest, int64(4095), "bwmarrin's raw node never went past step 4095")
}
