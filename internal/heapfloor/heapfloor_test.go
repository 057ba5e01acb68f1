package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

const mib = 1 << 20

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		floor, live, roots uint64
		base, want         int
	}{
		{64 * mib, 2 * mib, 0, 100, 1600},       // the minimum heap, 4 MiB × 16, reaches 64 MiB first
		{64 * mib, 2 * mib, 2 * mib, 100, 1550}, // stacks and globals count as heap does
		{64 * mib, 32 * mib, 0, 100, 100},       // the floor asks for GOGC 100 exactly
		{64 * mib, 40 * mib, 0, 100, 100},       // past the floor's reach: GOGC as it was
		{64 * mib, 100 * mib, 0, 50, 50},        // a heap above the floor: GOGC as it was
		{64 * mib, 16 * mib, 0, 500, 500},       // a GOGC that already gives more wins
		{64 * mib, 0, 0, 100, 1600},             // nothing to scan: the minimum heap decides
		{1 << 40, 0, 0, 100, maxPercent},        // a floor out of reach: as high as Set goes
		{1 << 40, 1 << 30, 1 << 30, 100, 51150}, // no overflow with a large floor
	} {
		if got := Percent(c.floor, c.live, c.roots, c.base); got != c.want {
			t.Errorf("Percent(%d, %d, %d, %d) = %d, want %d", c.floor, c.live, c.roots, c.base, got, c.want)
		}
	}
}

func read(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// churn allocates n bytes in 4 KiB pieces, none kept, and returns how many
// collections ran meanwhile.
func churn(n int) uint64 {
	before := read("/gc/cycles/total:gc-cycles")
	var keep []byte
	for i := 0; i < n/4096; i++ {
		keep = make([]byte, 4096)
		keep[0] = byte(i)
	}
	runtime.KeepAlive(keep)
	return read("/gc/cycles/total:gc-cycles") - before
}

// waitGoal waits for the heap goal to reach at least want bytes.
func waitGoal(t *testing.T, want uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for read("/gc/heap/goal:bytes") < want {
		if time.Now().After(deadline) {
			t.Fatalf("heap goal is %d bytes 5 s after a collection, want at least %d", read("/gc/heap/goal:bytes"), want)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSetRaisesTheGoalAndStopRestoresGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	runtime.GC()
	without := churn(256 * mib)
	// The test binary's live heap is well under 4 MiB, so without a floor
	// 256 MiB of garbage take dozens of collections.
	if without < 20 {
		t.Fatalf("%d collections for 256 MiB without a floor; the test expects dozens", without)
	}

	stop := Set(64 * mib)
	runtime.GC()
	waitGoal(t, 60*mib)
	if goal := read("/gc/heap/goal:bytes"); goal > 72*mib {
		t.Errorf("heap goal with a 64 MiB floor is %d bytes, want 64 to 72 MiB", goal)
	}
	with := churn(256 * mib)
	t.Logf("collections for 256 MiB of garbage: %d without a floor, %d with 64 MiB", without, with)
	if with < 3 || with > 8 {
		t.Errorf("%d collections for 256 MiB with a 64 MiB floor, want 3 to 8 (%d without)", with, without)
	}

	stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after stop is %d, want the 100 in force before Set", got)
	}
	runtime.GC()
	if goal := read("/gc/heap/goal:bytes"); goal > 32*mib {
		t.Errorf("heap goal after stop is %d bytes, want the default's few MiB", goal)
	}
	stop() // a second stop does nothing
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after a second stop is %d, want 100", got)
	}
}

func TestSetKeepsAHigherGOGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	debug.SetGCPercent(250)
	stop := Set(64 * mib)
	runtime.GC()
	waitGoal(t, 60*mib)
	stop()
	if got := debug.SetGCPercent(100); got != 250 {
		t.Errorf("GOGC after stop is %d, want the 250 in force before Set", got)
	}
}

func TestSetDoesNothingWhenOffOrZero(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	debug.SetGCPercent(-1)
	stop := Set(64 * mib)
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Errorf("GOGC with the collector off and a floor is %d, want -1 (off)", got)
	}
	stop()
	if got := debug.SetGCPercent(100); got != -1 {
		t.Errorf("GOGC after stop is %d, want -1 (off)", got)
	}

	stop = Set(0)
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC with a floor of 0 is %d, want 100", got)
	}
	stop()
}

func TestSetReplacesAnEarlierFloor(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	stop1 := Set(256 * mib)
	runtime.GC()
	waitGoal(t, 250*mib)
	stop2 := Set(64 * mib)
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	runtime.GC()
	if goal := read("/gc/heap/goal:bytes"); goal > 72*mib {
		t.Errorf("heap goal after a second Set of 64 MiB is %d bytes, want 64 to 72 MiB", goal)
	}
	stop1() // the replaced floor's stop leaves the new one alone
	runtime.GC()
	waitGoal(t, 60*mib)
	stop2()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after stop is %d, want 100", got)
	}
}
