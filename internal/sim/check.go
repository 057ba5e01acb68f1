package sim

import (
	"errors"

	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/snowflake"
)

// holder is one lease a node adopted, with the generator on it, and what
// the checker knows of it from the replies it was given (not from the
// lease's own state).
type holder struct {
	node       *node
	lease      *lease.Lease
	gen        *snowflake.Generator
	worker     int64
	startAfter int64
	granted    int64 // the highest fence a delivered reply granted
	acqSeq     int64 // order of the acquire's execution in Redis
	era        int   // data era of that execution
	maxTick    int64 // highest tick issued, -1 before the first
	lastID     snowflake.ID
	issued     int
	stopped    bool // nothing more will be issued: lost, released or crashed
	why        string
	flagged    bool // an HWM violation was reported for it already
}

// bound is the highest tick h may ever issue: what it issued once it is
// stopped, its fence while it may still issue.
func (h *holder) bound() int64 {
	if h.stopped {
		return h.maxTick
	}
	return max(h.maxTick, h.granted)
}

// checker checks the safety properties:
//
//   - every ID is unique across all nodes, leases and eras;
//   - each generator's IDs strictly increase;
//   - no ID's tick is above the fence the replies granted its lease, nor at
//     or below its StartAfter, nor issued after its lease ended;
//   - at every step, for every lease acquired since the last loss of the
//     HWM data, every tick issued and every fence in use is at or below
//     the worker's HWM in Redis;
//   - for any two holders of one worker ID (in any eras), the later one's
//     StartAfter is at or above all the earlier one may issue: its fence
//     while it runs, its last tick once stopped. Across a data loss this is
//     the quarantine's promise.
type checker struct {
	w          *world
	seen       map[snowflake.ID]*holder
	byWorker   [][]*holder
	holders    []*holder
	tickShift  uint8
	seqBits    uint8
	workerMask int64
	hwms       []int64 // scratch: the HWM of each worker in the current check
}

func (c *checker) init(w *world) {
	c.w = w
	if w.env.seen == nil {
		w.env.seen = make(map[snowflake.ID]*holder, 1<<14)
	}
	clear(w.env.seen)
	c.seen = w.env.seen
	l := w.p.Layout
	c.byWorker = make([][]*holder, l.MaxWorker()+1)
	c.hwms = make([]int64, l.MaxWorker()+1)
	c.tickShift = l.WorkerBits + l.SequenceBits
	c.seqBits = l.SequenceBits
	c.workerMask = l.MaxWorker()
}

func (c *checker) report(kind, format string, args ...any) {
	c.w.res.violation(kind, "at %v: "+format, append([]any{c.w.now}, args...)...)
	c.w.tr.line(c.w.now, "VIOLATION "+kind+": "+format, args...)
}

func (c *checker) issued(h *holder, ids []snowflake.ID) {
	res := &c.w.res.Activity
	for _, id := range ids {
		c.w.res.IDs++
		tick := int64(id) >> c.tickShift
		if worker := int64(id) >> c.seqBits & c.workerMask; worker != h.worker {
			c.report(VLease, "%s issued %d with worker %d under a lease of worker %d", h.node.name, id, worker, h.worker)
		}
		if prev, dup := c.seen[id]; dup {
			c.report(VDuplicate, "ID %d (tick %d, worker %d) issued by %s and before by %s (start after %d, fence %d)",
				id, tick, h.worker, h.node.name, prev.node.name, prev.startAfter, prev.granted)
		} else {
			c.seen[id] = h
		}
		if id <= h.lastID {
			c.report(VOrder, "%s issued %d after %d", h.node.name, id, h.lastID)
		}
		h.lastID = id
		if tick > h.granted {
			c.report(VFence, "%s issued tick %d above its granted fence %d (worker %d)", h.node.name, tick, h.granted, h.worker)
		}
		if tick <= h.startAfter {
			c.report(VStartAfter, "%s issued tick %d, not above its StartAfter %d (worker %d)", h.node.name, tick,
				h.startAfter, h.worker)
		}
		if h.stopped {
			c.report(VStopped, "%s issued %d after its lease ended (%s)", h.node.name, id, h.why)
		}
		h.maxTick = max(h.maxTick, tick)
		h.issued++
		zombie := false
		for _, later := range c.byWorker[h.worker] {
			if later.acqSeq > h.acqSeq {
				zombie = true
				if tick > later.startAfter {
					c.report(VTakeover, "%s issued tick %d of worker %d, which %s holds since after tick %d",
						h.node.name, tick, h.worker, later.node.name, later.startAfter)
				}
			}
		}
		if zombie {
			res.ZombieIDs++
		}
	}
}

// granted notes a fence a renewal reply handed to h's lease.
func (c *checker) granted(h *holder, fence int64) {
	if fence <= h.granted {
		return
	}
	h.granted = fence
	if h.stopped {
		return
	}
	for _, later := range c.byWorker[h.worker] {
		if later.acqSeq > h.acqSeq && fence > later.startAfter {
			c.report(VTakeover, "%s was granted fence %d of worker %d, which %s holds since after tick %d",
				h.node.name, fence, h.worker, later.node.name, later.startAfter)
		}
	}
}

// adopted checks a new holder against every other holder of its worker.
func (c *checker) adopted(nh *holder) {
	others := c.byWorker[nh.worker]
	if len(others) > 0 {
		c.w.res.Activity.Takeovers++
	}
	for _, h := range others {
		early, late := h, nh
		if h.acqSeq > nh.acqSeq {
			early, late = nh, h
		}
		if b := early.bound(); b > late.startAfter {
			c.report(VTakeover, "%s (worker %d) starts after tick %d, but %s may issue up to %d (era %d, then %d)",
				late.node.name, nh.worker, late.startAfter, early.node.name, b, early.era, late.era)
		}
	}
	c.byWorker[nh.worker] = append(others, nh)
	c.holders = append(c.holders, nh)
}

// stop notes that nothing more will be issued under h.
func (c *checker) stop(h *holder, why string) {
	if !h.stopped {
		h.stopped, h.why = true, why
		c.w.tr.line(c.w.now, "%s w%d stopped (%s) at tick %d", h.node.name, h.worker, why, h.maxTick)
	}
}

// mustBeStopped checks that the lease stopped h's generator when it ended.
func (c *checker) mustBeStopped(h *holder) {
	if c.w.opt.Knob == KnobNoFence || !canIssue(h.gen, h.node.maxBorrow) {
		return // not bound to the lease; or a call might wait for the clock
	}
	if id, err := h.gen.Next(); !errors.Is(err, snowflake.ErrStopped) {
		c.report(VStopped, "%s: the generator of worker %d was not stopped when its lease ended: %d, %v",
			h.node.name, h.worker, id, err)
	}
}

// leaseFences checks, after a renewal, that the lease and its generator
// use no fence above what the replies granted.
func (c *checker) leaseFences(h *holder) {
	if f := h.lease.Fence(); f > h.granted {
		c.report(VLease, "%s: lease fence %d above the granted %d", h.node.name, f, h.granted)
	}
	if f := h.gen.Fence(); c.w.opt.Knob != KnobNoFence && f > h.granted {
		c.report(VLease, "%s: generator fence %d above the granted %d", h.node.name, f, h.granted)
	}
}

// hwm checks the core invariant against the HWMs in Redis now.
func (c *checker) hwm() {
	for i := range c.hwms {
		c.hwms[i] = -2 // not read yet
	}
	for _, h := range c.holders {
		if h.era != c.w.era() || h.flagged {
			continue
		}
		v := c.hwms[h.worker]
		if v == -2 {
			v = c.w.hwm(h.worker)
			c.hwms[h.worker] = v
		}
		switch {
		case h.issued > 0 && h.maxTick > v:
			h.flagged = true
			c.report(VHWM, "%s issued tick %d of worker %d, above its HWM %d", h.node.name, h.maxTick, h.worker, v)
		case !h.stopped && h.granted > v:
			h.flagged = true
			c.report(VHWM, "%s uses fence %d of worker %d, above its HWM %d", h.node.name, h.granted, h.worker, v)
		}
	}
}

func (c *checker) final() {
	if c.w.res.Err == nil {
		c.hwm()
	}
	for id, hs := range c.byWorker {
		if len(hs) > 0 {
			c.w.tr.line(c.w.now, "w%d: %d holders, HWM %d", id, len(hs), c.w.hwm(int64(id)))
		}
	}
	c.w.tr.line(c.w.now, "IDs %d, violations %v", c.w.res.IDs, c.w.res.Counts)
}
