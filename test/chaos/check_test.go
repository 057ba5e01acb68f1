package chaos_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snowlease/idgen/snowflake"
	"github.com/snowlease/idgen/test/chaos"
)

// testLayout has 3 worker bits, like the main run.
var testLayout = snowflake.Layout{Epoch: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), TimeUnit: time.Millisecond,
	TimeBits: 48, WorkerBits: 3, SequenceBits: 12}

func id(t *testing.T, tick, worker, seq int64) snowflake.ID {
	t.Helper()
	v, err := testLayout.Compose(snowflake.Parts{Tick: tick, Worker: worker, Sequence: seq})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// ids returns the IDs of sequences from..to of one tick.
func ids(t *testing.T, tick, worker, from, to int64) []snowflake.ID {
	var out []snowflake.ID
	for s := from; s <= to; s++ {
		out = append(out, id(t, tick, worker, s))
	}
	return out
}

// batch is one NextN result and the fence read after it.
type batch struct {
	ids    []snowflake.ID
	worker int64 // Stats().WorkerID
	fence  int64
}

func writeFile(t *testing.T, dir, name string, batches []batch, clean bool) string {
	t.Helper()
	path := filepath.Join(dir, name+".ids")
	w, err := chaos.Create(path, chaos.Header{Name: name, PID: 1, Layout: testLayout, Started: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	for _, b := range batches {
		at = at.Add(time.Millisecond)
		if err := w.Batch(b.ids, b.worker, b.fence, at); err != nil {
			t.Fatal(err)
		}
	}
	if clean {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	} else if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return path
}

func check(t *testing.T, files ...string) *chaos.Report {
	t.Helper()
	r, err := chaos.Check(files)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCheckClean(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a", []batch{
		{ids(t, 100, 1, 0, 4095), 1, 105},
		{ids(t, 101, 1, 0, 9), 1, 105},
		{append(ids(t, 102, 1, 0, 2), ids(t, 103, 1, 0, 2)...), 1, 200}, // two ticks: two runs
	}, true)
	b := writeFile(t, dir, "b", []batch{
		{ids(t, 100, 2, 0, 4095), 2, 100}, // the same ticks, another worker ID
		{ids(t, 104, 1, 0, 99), 1, 300},   // b took worker 1 above a's IDs
	}, true)
	r := check(t, a, b)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if want := uint64(4096 + 10 + 6 + 4096 + 100); r.IDs != want {
		t.Errorf("IDs = %d, want %d", r.IDs, want)
	}
	if r.Processes != 2 || r.Duplicates != 0 || r.AboveFence != 0 || r.Backwards != 0 {
		t.Errorf("report %+v", r)
	}
	if h := r.Handovers(); h != 1 {
		t.Errorf("Handovers = %d, want 1 (worker 1 from a to b)", h)
	}
	hs := r.Holders(1)
	if len(hs) != 2 || r.Procs[hs[0].Proc].Name != "a" || r.Procs[hs[1].Proc].Name != "b" {
		t.Errorf("Holders(1) = %+v", hs)
	}
	if !r.Procs[0].Clean || r.Procs[0].Runs != 4 {
		t.Errorf("proc a: clean %v, runs %d, want true, 4", r.Procs[0].Clean, r.Procs[0].Runs)
	}
	got := r.Summary(map[string]int{"node-pause": 2, "redis-restart": 1})
	want := "chaos: IDs checked 8308, duplicates 0, processes 2, faults injected 3 (by kind node-pause 2, redis-restart 1)"
	if got != want {
		t.Errorf("Summary:\n got %s\nwant %s", got, want)
	}
}

func TestCheckFindsDuplicates(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a", []batch{{ids(t, 100, 1, 0, 99), 1, 100}, {ids(t, 101, 1, 0, 9), 1, 101}}, true)
	// b overlaps a's sequences 50..99 of tick 100 and 0..4 of tick 101.
	b := writeFile(t, dir, "b", []batch{{ids(t, 100, 1, 50, 120), 1, 100}, {ids(t, 101, 1, 0, 4), 1, 101}}, true)
	// c repeats one ID once more.
	c := writeFile(t, dir, "c", []batch{{ids(t, 100, 1, 60, 60), 1, 100}}, true)
	r := check(t, a, b, c)
	if want := uint64(50 + 5 + 1); r.Duplicates != want {
		t.Errorf("Duplicates = %d, want %d; problems %v", r.Duplicates, want, r.Problems)
	}
	if r.Err() == nil || !strings.Contains(r.Err().Error(), "duplicate") {
		t.Errorf("Err = %v, want duplicates reported", r.Err())
	}
}

func TestCheckFindsBackwards(t *testing.T) {
	dir := t.TempDir()
	// The second batch goes back to tick 99; the third, though above the
	// second, repeats one of the first batch's IDs.
	a := writeFile(t, dir, "a", []batch{
		{ids(t, 100, 1, 0, 9), 1, 100},
		{ids(t, 99, 1, 0, 9), 1, 100},
		{ids(t, 100, 1, 5, 5), 1, 100},
	}, true)
	r := check(t, a)
	if r.Backwards != 1 {
		t.Errorf("Backwards = %d, want 1", r.Backwards)
	}
	if r.Duplicates != 1 {
		t.Errorf("Duplicates = %d, want 1 (found after sorting a file that goes backwards)", r.Duplicates)
	}
	if r.Err() == nil {
		t.Error("Err = nil")
	}
}

func TestCheckFindsIDsAboveFence(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a", []batch{
		{ids(t, 100, 1, 0, 9), 1, 100},
		{ids(t, 101, 1, 0, 6), 1, 100}, // 7 IDs above the fence 100
		{ids(t, 102, 1, 0, 2), 1, 102},
	}, true)
	r := check(t, a)
	if r.AboveFence != 7 {
		t.Errorf("AboveFence = %d, want 7", r.AboveFence)
	}
	if r.Err() == nil {
		t.Error("Err = nil")
	}
}

func TestCheckUnknownFence(t *testing.T) {
	dir := t.TempDir()
	// Stats said worker 2 after a batch of worker 1: the fence is unknown,
	// not wrong.
	a := writeFile(t, dir, "a", []batch{{ids(t, 100, 1, 0, 9), 2, 50}, {ids(t, 101, 2, 0, 9), 2, 101}}, true)
	r := check(t, a)
	if r.Unfenced != 10 || r.AboveFence != 0 || r.Err() != nil {
		t.Errorf("Unfenced %d AboveFence %d Err %v, want 10, 0, nil", r.Unfenced, r.AboveFence, r.Err())
	}
	if len(r.Procs[0].Tenures) != 2 {
		t.Errorf("tenures %+v, want 2", r.Procs[0].Tenures)
	}
}

func TestCheckTruncated(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a", []batch{{ids(t, 100, 1, 0, 9), 1, 100}, {ids(t, 101, 1, 0, 9), 1, 101}}, false)
	st, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(a, st.Size()-1); err != nil { // cut the last run record
		t.Fatal(err)
	}
	r := check(t, a)
	p := r.Procs[0]
	if !p.Truncated || p.Clean || p.IDs != 10 {
		t.Errorf("truncated %v clean %v IDs %d, want true, false, 10", p.Truncated, p.Clean, p.IDs)
	}
}

// TestCheckRandom compares the checker with a map on random, overlapping
// runs from several files.
func TestCheckRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		dir := t.TempDir()
		seen := map[snowflake.ID]int{}
		var files []string
		var total uint64
		for f := range 4 {
			var bs []batch
			tick := int64(1000)
			for range 1 + rng.IntN(30) {
				tick += int64(rng.IntN(3))
				w := int64(rng.IntN(2))
				lo := int64(rng.IntN(50))
				hi := lo + int64(rng.IntN(40))
				b := ids(t, tick, w, lo, hi)
				bs = append(bs, batch{b, w, tick + 1})
				for _, v := range b {
					seen[v]++
				}
				total += uint64(len(b))
				tick++ // strictly increasing within a file
			}
			files = append(files, writeFile(t, dir, string(rune('a'+f)), bs, true))
		}
		var dups uint64
		for _, n := range seen {
			dups += uint64(n - 1)
		}
		r := check(t, files...)
		if r.IDs != total || r.Duplicates != dups || r.Backwards != 0 || r.AboveFence != 0 {
			t.Fatalf("round %d: IDs %d dups %d backwards %d above %d, want %d %d 0 0",
				round, r.IDs, r.Duplicates, r.Backwards, r.AboveFence, total, dups)
		}
		// Runs gives back exactly the IDs written.
		var back []snowflake.ID
		for _, p := range r.Procs {
			if err := chaos.Runs(p.File, func(ri chaos.RunInfo) bool {
				for v := ri.First; v <= ri.Last; v++ {
					back = append(back, snowflake.ID(v))
				}
				return true
			}); err != nil {
				t.Fatal(err)
			}
		}
		if uint64(len(back)) != total {
			t.Fatalf("round %d: Runs gave %d IDs, want %d", round, len(back), total)
		}
		slices.Sort(back)
		back = slices.Compact(back)
		if len(back) != len(seen) {
			t.Fatalf("round %d: %d distinct IDs from Runs, want %d", round, len(back), len(seen))
		}
	}
}
