package chaos_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/snowflake"
	"github.com/snowlease/idgen/test/chaos"
)

// testLayout has 3 worker bits, like the main run.
var testLayout = snowflake.Layout{Epoch: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), TimeUnit: time.Millisecond,
	TimeBits: 48, WorkerBits: 3, SequenceBits: 12}

func id(t *testing.T, tick, worker, seq int64) snowflake.ID {
	t.Helper()
	v, err := testLayout.Compose(snowflake.Parts{Tick: tick, Worker: worker, Sequence: seq})
	require.NoError(t, err)
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
	require.NoError(t, err)
	at := time.Now()
	for _, b := range batches {
		at = at.Add(time.Millisecond)
		require.NoError(t, w.Batch(b.ids, b.worker, b.fence, at))
	}
	if clean {
		require.NoError(t, w.Close())
	} else {
		require.NoError(t, w.Flush())
	}
	return path
}

// checkFiles runs the checker on files, which must be readable.
func checkFiles(t *testing.T, files ...string) *chaos.Report {
	t.Helper()
	r, err := chaos.Check(files)
	require.NoError(t, err)
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
	r := checkFiles(t, a, b)
	require.NoError(t, r.Err())
	assert.Equal(t, uint64(4096+10+6+4096+100), r.IDs)
	assert.Equal(t, 2, r.Processes)
	assert.Zero(t, r.Duplicates)
	assert.Zero(t, r.AboveFence)
	assert.Zero(t, r.Backwards)
	assert.Equal(t, 1, r.Handovers(), "worker 1 from a to b")
	hs := r.Holders(1)
	if assert.Len(t, hs, 2) {
		assert.Equal(t, "a", r.Procs[hs[0].Proc].Name)
		assert.Equal(t, "b", r.Procs[hs[1].Proc].Name)
	}
	assert.True(t, r.Procs[0].Clean, "proc a clean")
	assert.Equal(t, uint64(4), r.Procs[0].Runs, "proc a runs")
	assert.Equal(t, "chaos: IDs checked 8308, duplicates 0, processes 2, faults injected 3 (by kind node-pause 2, redis-restart 1)",
		r.Summary(map[string]int{"node-pause": 2, "redis-restart": 1}))
}

func TestCheckFindsDuplicates(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a", []batch{{ids(t, 100, 1, 0, 99), 1, 100}, {ids(t, 101, 1, 0, 9), 1, 101}}, true)
	// b overlaps a's sequences 50..99 of tick 100 and 0..4 of tick 101.
	b := writeFile(t, dir, "b", []batch{{ids(t, 100, 1, 50, 120), 1, 100}, {ids(t, 101, 1, 0, 4), 1, 101}}, true)
	// c repeats one ID once more.
	c := writeFile(t, dir, "c", []batch{{ids(t, 100, 1, 60, 60), 1, 100}}, true)
	r := checkFiles(t, a, b, c)
	assert.Equal(t, uint64(50+5+1), r.Duplicates, "problems %v", r.Problems)
	assert.ErrorContains(t, r.Err(), "duplicate")
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
	r := checkFiles(t, a)
	assert.Equal(t, uint64(1), r.Backwards)
	assert.Equal(t, uint64(1), r.Duplicates, "found after sorting a file that goes backwards")
	assert.Error(t, r.Err())
}

func TestCheckFindsIDsAboveFence(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a", []batch{
		{ids(t, 100, 1, 0, 9), 1, 100},
		{ids(t, 101, 1, 0, 6), 1, 100}, // 7 IDs above the fence 100
		{ids(t, 102, 1, 0, 2), 1, 102},
	}, true)
	r := checkFiles(t, a)
	assert.Equal(t, uint64(7), r.AboveFence)
	assert.Error(t, r.Err())
}

func TestCheckUnknownFence(t *testing.T) {
	dir := t.TempDir()
	// Stats said worker 2 after a batch of worker 1: the fence is unknown,
	// not wrong.
	a := writeFile(t, dir, "a", []batch{{ids(t, 100, 1, 0, 9), 2, 50}, {ids(t, 101, 2, 0, 9), 2, 101}}, true)
	r := checkFiles(t, a)
	assert.Equal(t, uint64(10), r.Unfenced)
	assert.Zero(t, r.AboveFence)
	assert.NoError(t, r.Err())
	assert.Len(t, r.Procs[0].Tenures, 2)
}

func TestCheckTruncated(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a", []batch{{ids(t, 100, 1, 0, 9), 1, 100}, {ids(t, 101, 1, 0, 9), 1, 101}}, false)
	st, err := os.Stat(a)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(a, st.Size()-1)) // cut the last run record
	r := checkFiles(t, a)
	p := r.Procs[0]
	assert.True(t, p.Truncated, "truncated")
	assert.False(t, p.Clean, "clean")
	assert.Equal(t, uint64(10), p.IDs)
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
		r := checkFiles(t, files...)
		require.Equal(t, total, r.IDs, "round %d", round)
		require.Equal(t, dups, r.Duplicates, "round %d", round)
		require.Zero(t, r.Backwards, "round %d", round)
		require.Zero(t, r.AboveFence, "round %d", round)
		// Runs gives back exactly the IDs written.
		var back []snowflake.ID
		for _, p := range r.Procs {
			require.NoError(t, chaos.Runs(p.File, func(ri chaos.RunInfo) bool {
				for v := ri.First; v <= ri.Last; v++ {
					back = append(back, snowflake.ID(v))
				}
				return true
			}))
		}
		require.Len(t, back, int(total), "round %d: IDs from Runs", round)
		slices.Sort(back)
		back = slices.Compact(back)
		require.Len(t, back, len(seen), "round %d: distinct IDs from Runs", round)
	}
}
