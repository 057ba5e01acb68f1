package snowflake

import (
	"testing"
	"time"

	bw "github.com/bwmarrin/snowflake"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTwitterMatchesBwmarrin: the Twitter layout gives the same int64 as
// bwmarrin/snowflake's default node for the same time, worker and sequence,
// checked with bwmarrin's own Node and ID methods (its package globals keep
// their defaults here).
func TestTwitterMatchesBwmarrin(t *testing.T) {
	t.Parallel()
	tw := Twitter()
	require.Equal(t, tw.Epoch.UnixMilli(), bw.Epoch, "bwmarrin's default epoch")
	require.Equal(t, tw.WorkerBits, bw.NodeBits, "bwmarrin's default node bits")
	require.Equal(t, tw.SequenceBits, bw.StepBits, "bwmarrin's default step bits")
	for _, worker := range []int64{0, 1, 513, 1023} {
		node, err := bw.NewNode(worker)
		require.NoError(t, err)
		// Enough IDs in a row that some share a millisecond (steps above 0).
		steps := 0
		for range 5000 {
			theirs := node.Generate()
			if theirs.Step() > 0 {
				steps++
			}
			// bwmarrin's parts -> our Compose -> the same int64.
			ours, err := tw.Compose(Parts{
				Tick:     tw.Tick(time.UnixMilli(theirs.Time())),
				Worker:   theirs.Node(),
				Sequence: theirs.Step(),
			})
			require.NoError(t, err)
			require.Equal(t, theirs.Int64(), int64(ours), "bwmarrin %d (time %d, node %d, step %d)",
				theirs, theirs.Time(), theirs.Node(), theirs.Step())
			// Our Decompose -> bwmarrin's parts.
			p := tw.Decompose(ID(theirs))
			require.Equal(t, []int64{theirs.Time(), theirs.Node(), theirs.Step()},
				[]int64{p.Time.UnixMilli(), p.Worker, p.Sequence}, "Decompose(%d): time, worker, sequence", theirs)
		}
		assert.NotZero(t, steps, "worker %d: no two bwmarrin IDs shared a millisecond; sequence untested", worker)
	}

	// Our generator's IDs, read with bwmarrin's methods and encodings.
	g := mustNew(t, tw, 700, Options{})
	for range 5000 {
		id := mustNext(t, g)
		theirs := bw.ParseInt64(int64(id))
		p := tw.Decompose(id)
		require.Equal(t, []int64{p.Time.UnixMilli(), 700, p.Sequence},
			[]int64{theirs.Time(), theirs.Node(), theirs.Step()}, "ID %d: bwmarrin's time, node, step", id)
		for _, e := range encodings {
			require.Equal(t, e.theirs(theirs), e.ours(id), "%s(%d)", e.name, id)
		}
		ours, err := id.MarshalJSON()
		require.NoError(t, err)
		want, err := theirs.MarshalJSON()
		require.NoError(t, err)
		require.Equal(t, string(want), string(ours), "JSON of %d", id)
		var back bw.ID
		require.NoError(t, back.UnmarshalJSON(ours), "bwmarrin reads our JSON of %d", id)
		require.Equal(t, theirs, back)
	}
	p := tw.Decompose(mustNext(t, g))
	assert.WithinDuration(t, time.Now(), p.Time, time.Second, "an ID's time is now")
}
