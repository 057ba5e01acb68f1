package idgen

import (
	"time"
)

// Stats is a snapshot of a Generator's counters and state, for metrics and
// health checks. Counters add up over every worker ID the Generator held.
// It is a plain value, safe for concurrent use.
type Stats struct {
	// Namespace and WorkerID say which lease is in use now.
	Namespace string
	WorkerID  int64

	// Issued is how many IDs were issued.
	Issued uint64
	// Borrowed is how many times the generator ran ahead of the clock into
	// a later tick because a tick's sequence was used up (MaxBorrow).
	Borrowed uint64
	// Fenced is how many Next calls were refused at the fence (renewals
	// failing for longer than the Window).
	Fenced uint64
	// Fence is the highest tick that may be issued now, and FenceHeadroom
	// how far ahead of the generator's clock it lies: how long IDs can
	// still be issued if Redis stopped answering now. Negative when the
	// fence is reached.
	Fence         int64
	FenceHeadroom time.Duration

	// Renewals and RenewFailures count lease renewals that succeeded and
	// failed; LastRenew is the local time of the last success.
	Renewals      uint64
	RenewFailures uint64
	LastRenew     time.Time
	// LeasesLost counts worker-ID leases lost (each followed by a
	// reacquire under the Reacquire policy).
	LeasesLost uint64
	// Reacquiring is true while a lost lease is being replaced.
	Reacquiring bool

	// ClockOffset is the local clock minus Redis TIME from the last good
	// check, ClockUncertainty its error bound, ClockCheckedAt when it was
	// taken. ClockStale is true when the latest check failed.
	ClockOffset      time.Duration
	ClockUncertainty time.Duration
	ClockCheckedAt   time.Time
	ClockStale       bool
	// ClockRegressions counts wall-clock steps backwards seen by the guard.
	ClockRegressions uint64
	// Paused is true while the clock guard's Pause policy holds issuing.
	Paused bool
}

// Stats returns a snapshot of the Generator's counters and state. It takes
// a lock and reads several atomics: call it for metrics and health checks,
// not per ID.
func (g *Generator) Stats() Stats {
	if g.cur.Load() == nil {
		return Stats{WorkerID: -1} // the zero Generator
	}
	g.mu.Lock()
	n := g.cur.Load()
	c := g.retired
	g.mu.Unlock()
	c.add(nodeCounters(n))
	ls := n.lease.Stats()
	now := n.gen.CurrentTick()
	s := Stats{
		Namespace:     g.opts.Namespace,
		WorkerID:      n.lease.WorkerID(),
		Issued:        c.issued,
		Borrowed:      c.borrowed,
		Fenced:        c.fenced,
		Fence:         ls.Fence,
		FenceHeadroom: time.Duration(ls.Fence-now) * g.opts.Layout.TimeUnit,
		Renewals:      c.renewals,
		RenewFailures: c.renewFailures,
		LastRenew:     ls.LastRenew,
		LeasesLost:    uint64(g.leasesLost.Load()),
		Reacquiring:   g.reacquiring.Load() != nil,
		Paused:        n.gen.Paused(),
	}
	gs := g.guard.Stats()
	s.ClockOffset = gs.Estimate.Offset
	s.ClockUncertainty = gs.Estimate.Uncertainty
	s.ClockCheckedAt = gs.LastGood
	s.ClockStale = gs.Stale
	s.ClockRegressions = gs.Regressions
	return s
}
