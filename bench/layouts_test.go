package bench

import (
	"testing"

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
		if err != nil {
			t.Fatal(err)
		}
		a, b := p.layout.Decompose(snowflake.ID(p.id)), p.layout.Decompose(ours)
		if a.Worker != p.worker || b.Worker != p.worker || b.Tick-a.Tick < 0 || b.Tick-a.Tick > 1000 {
			t.Errorf("%s: bwmarrin ID reads as %+v, ours as %+v", p.name, a, b)
		}
	}
	// The raw node counts past 4095 within a millisecond: it has 22 step
	// bits, not the default 12 (which would read the same with no worker).
	highest := int64(0)
	for i := 0; i < 1_000_000 && highest <= 4095; i++ {
		highest = max(highest, rawLayout.Decompose(snowflake.ID(bwRawNode.Generate())).Sequence)
	}
	if highest <= 4095 {
		t.Errorf("bwmarrin's raw node never went past step 4095")
	}
}
