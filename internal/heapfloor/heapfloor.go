// Package heapfloor keeps the Go garbage collector from collecting a small
// heap over and over.
//
// With the default GOGC of 100 the runtime collects whenever the heap has
// doubled, and never lets the goal fall below 4 MiB. A server whose live
// heap is a couple of MiB but which allocates a few KiB per request then
// collects dozens of times a second under load, and a request that arrives
// during a collection waits behind it: on one CPU that was the largest part
// of the 99th-percentile latency of `idgen serve` (docs/design.md, "A heap
// floor", has the numbers). A floor of a few tens of MiB makes collections
// rare, at a cost in memory known in advance; each collection then leaves
// more to sweep, so a floor too high lengthens the slowest requests.
//
// Go has no setting for a floor (GOMEMLIMIT is a ceiling), so [Set] makes
// one: after every collection it sets GOGC so that the next goal is the
// floor (or up to an eighth above it), or the goal the GOGC in force at the
// start gives, whichever is larger. A heap that grows past the floor is
// collected as it would be without one; GOMEMLIMIT still caps the goal.
package heapfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// maxPercent bounds the GOGC that Set chooses, so a live heap of a few
// bytes cannot ask for an absurd one.
const maxPercent = 1_000_000

var (
	mu      sync.Mutex
	current *floor // the floor in force, if any
)

type floor struct {
	bytes uint64
	base  int // the GOGC in force when Set was called

	mu      sync.Mutex // held while GOGC is set, so none is set after stop
	stopped bool
	last    int // the last Percent acted on
}

// marker is what the collector is watched through: it is allocated
// unreachable, its cleanup runs after the collection that frees it, and that
// cleanup allocates the next one. It holds a pointer so that it is never
// batched with other small objects (which could keep it alive).
type marker struct{ _ *marker }

// Set keeps the heap goal at bytes or more until stop is called, which
// restores the GOGC in force before. It does nothing (and stop does nothing)
// when bytes is 0 or the collector is off (GOGC=off). A later Set replaces
// an earlier one.
func Set(bytes uint64) (stop func()) {
	mu.Lock()
	defer mu.Unlock()
	if current != nil {
		current.stop()
		current = nil
	}
	base := debug.SetGCPercent(100)
	debug.SetGCPercent(base)
	if bytes == 0 || base < 0 {
		return func() {}
	}
	f := &floor{bytes: bytes, base: base, last: base}
	current = f
	f.adjust()
	f.watch()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		if current == f {
			f.stop()
			current = nil
		}
	}
}

// stop ends the watch and restores the GOGC found at the start.
func (f *floor) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.stopped = true
		debug.SetGCPercent(f.base)
	}
}

// watch arms the cleanup that runs after the next collection.
func (f *floor) watch() {
	runtime.AddCleanup(new(marker), func(f *floor) {
		if f.adjust() {
			f.watch()
		}
	}, f)
}

// adjust sets GOGC for the heap the last collection left, and reports
// whether the floor is still in force.
func (f *floor) adjust() bool {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	metrics.Read(s)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return false
	}
	for _, v := range s {
		if v.Value.Kind() != metrics.KindUint64 {
			return true
		}
	}
	live := s[0].Value.Uint64()
	p := Percent(f.bytes, live, s[1].Value.Uint64()+s[2].Value.Uint64(), f.base)
	// Small changes are not worth a call: the goal would move by under 1/8.
	if p == f.last || (p > f.base && f.last > f.base && abs(p-f.last)*8 < f.last) {
		return true
	}
	f.last = p
	debug.SetGCPercent(p)
	// Percent allows for the runtime's minimum heap as Go has it today; if
	// a Go release changes it, the goal comes out too high, and since both
	// the minimum and the rest of the goal grow in proportion to GOGC, one
	// step scales p down to the floor.
	g := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(g)
	if g[0].Value.Kind() == metrics.KindUint64 && p > f.base {
		if goal := g[0].Value.Uint64(); goal > f.bytes+f.bytes/8 {
			debug.SetGCPercent(max(f.base, int(uint64(p)*f.bytes/goal)))
		}
	}
	return true
}

// minHeap is the runtime's minimum heap goal at GOGC=100; it scales with
// GOGC (4 MiB × GOGC/100), and for a live heap of a few MiB it is the larger
// part of the goal.
const minHeap = 4 << 20

// Percent is the GOGC that puts the heap goal at floor bytes, or base if
// that is larger, after a collection that left live bytes of heap and roots
// bytes of stacks and globals to scan. The runtime's goal is the larger of
// live + (live + roots) × GOGC/100 and minHeap × GOGC/100, so the GOGC for a
// goal of floor is the smaller of 100 × (floor − live) / (live + roots) and
// 100 × floor / minHeap.
func Percent(floor, live, roots uint64, base int) int {
	if floor <= live {
		return base
	}
	scan := max(live+roots, 1)
	p := maxPercent
	if (floor-live)/scan < maxPercent/100 {
		p = int(100 * (floor - live) / scan)
	}
	if floor/minHeap < maxPercent/100 {
		p = min(p, int(100*floor/minHeap))
	}
	return max(base, p)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
