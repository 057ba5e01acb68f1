package snowflake

import (
	"testing"
	"time"

	bw "github.com/bwmarrin/snowflake"
)

// TestTwitterMatchesBwmarrin: the Twitter layout gives the same int64 as
// bwmarrin/snowflake's default node for the same time, worker and sequence,
// checked with bwmarrin's own Node and ID methods (its package globals keep
// their defaults here).
func TestTwitterMatchesBwmarrin(t *testing.T) {
	t.Parallel()
	if bw.Epoch != Twitter().Epoch.UnixMilli() || bw.NodeBits != Twitter().WorkerBits || bw.StepBits != Twitter().SequenceBits {
		t.Fatalf("bwmarrin defaults changed: epoch %d, bits %d/%d", bw.Epoch, bw.NodeBits, bw.StepBits)
	}
	for _, worker := range []int64{0, 1, 513, 1023} {
		node, err := bw.NewNode(worker)
		if err != nil {
			t.Fatal(err)
		}
		// Enough IDs in a row that some share a millisecond (steps above 0).
		steps := 0
		for range 5000 {
			theirs := node.Generate()
			if theirs.Step() > 0 {
				steps++
			}
			// bwmarrin's parts -> our Compose -> the same int64.
			ours, err := Twitter().Compose(Parts{
				Tick:     Twitter().Tick(time.UnixMilli(theirs.Time())),
				Worker:   theirs.Node(),
				Sequence: theirs.Step(),
			})
			if err != nil || int64(ours) != theirs.Int64() {
				t.Fatalf("bwmarrin %d (time %d, node %d, step %d); Compose gives %d, %v",
					theirs, theirs.Time(), theirs.Node(), theirs.Step(), ours, err)
			}
			// Our Decompose -> bwmarrin's parts.
			p := Twitter().Decompose(ID(theirs))
			if p.Time.UnixMilli() != theirs.Time() || p.Worker != theirs.Node() || p.Sequence != theirs.Step() {
				t.Fatalf("Decompose(%d) = %+v, bwmarrin says time %d node %d step %d",
					theirs, p, theirs.Time(), theirs.Node(), theirs.Step())
			}
		}
		if steps == 0 {
			t.Errorf("worker %d: no two bwmarrin IDs shared a millisecond; sequence untested", worker)
		}
	}

	// Our generator's IDs, read with bwmarrin's methods and encodings.
	g := mustNew(t, Twitter(), 700, Options{})
	for range 5000 {
		id := mustNext(t, g)
		theirs := bw.ParseInt64(int64(id))
		p := Twitter().Decompose(id)
		if theirs.Time() != p.Time.UnixMilli() || theirs.Node() != 700 || theirs.Step() != p.Sequence {
			t.Fatalf("ID %d: ours %+v, bwmarrin time %d node %d step %d", id, p, theirs.Time(), theirs.Node(), theirs.Step())
		}
		for _, e := range encodings {
			if e.ours(id) != e.theirs(theirs) {
				t.Fatalf("%s(%d): %q, bwmarrin %q", e.name, id, e.ours(id), e.theirs(theirs))
			}
		}
		if b, _ := id.MarshalJSON(); string(b) != string(must(theirs.MarshalJSON())) {
			t.Fatalf("JSON of %d: %s, bwmarrin %s", id, b, must(theirs.MarshalJSON()))
		}
		var back bw.ID
		if err := back.UnmarshalJSON(must(id.MarshalJSON())); err != nil || back != theirs {
			t.Fatalf("bwmarrin cannot read our JSON of %d: %v", id, err)
		}
	}
	if p := Twitter().Decompose(mustNext(t, g)); time.Until(p.Time).Abs() > time.Second {
		t.Errorf("ID time %v is not now", p.Time)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
