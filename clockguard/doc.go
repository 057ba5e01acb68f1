// Package clockguard measures the local clock against Redis TIME, refuses to
// start when the two disagree by more than a bound, and watches for clock
// trouble while IDs are being issued.
//
// # The estimate
//
// One sample is one TIME command. The local wall clock is read when the
// request is sent (w0), the monotonic clock just before the send (m0) and
// just after the reply (m1), and Redis answers with its time r. Redis read
// its clock somewhere inside the round trip, so with
//
//	rtt         = m1 - m0
//	midpoint    = w0 + rtt/2
//	offset      = midpoint - r
//	uncertainty = rtt/2 + TimeResolution
//
// the true offset of the local wall clock from Redis's lies within
// offset ± uncertainty, whatever the path's asymmetry. TimeResolution covers
// TIME's own granularity of one microsecond. Of a few samples the one with
// the smallest round trip is kept, as NTP does. A positive offset means the
// local clock is ahead of Redis.
//
// # What the guard protects, and what it does not
//
// IDs are unique without any help from this package: the snowflake
// generator never issues a tick above its fence, and a worker ID's next
// holder starts above the high-water mark stored in Redis, so two holders
// of one worker ID never issue the same tick whatever their clocks say.
//
// The guard protects what does depend on clocks:
//
//   - ordering across nodes: IDs sort by time only as well as the nodes'
//     clocks agree; the guard refuses to start, and reports or pauses at run
//     time, when the local clock is off Redis's by more than MaxSkew;
//   - start-up after a clock reset: a node whose clock was set back (a bad
//     RTC, a VM restored from a snapshot) is caught before its first ID;
//   - liveness of takeover: a new holder of a worker ID must wait until its
//     clock passes the high-water mark, which a clock far behind turns into a
//     long stall; the guard reports it (Options.HWM) with how far behind.
//
// Regression — the wall clock moving backwards against the monotonic clock
// — is reported with how far it went back. The generator's own time is
// monotonic and anchored once to the wall clock, so a regression never makes
// it step backwards; the guard reports it because the wall clock is what the
// next start, and the next holder of this worker ID, will anchor to.
//
// # Routing
//
// TIME goes wherever the client sends a keyless command: to the master for
// a *redis.Client or a failover client. For a *redis.ClusterClient the guard
// sends TIME to the master of Options.Key's hash slot when Key is set (pass
// the lease namespace's hash tag, so the clock measured is the one that runs
// the lease scripts), and otherwise to the node go-redis picks for keyless
// commands, which may differ between samples.
//
// # Never blocking
//
// A check runs with its own timeout, independent of the client's
// configuration: when Redis is slow or stopped the check gives up, the last
// good estimate stands and is marked stale, and at most one TIME request per
// Guard is ever left outstanding. Nothing in the ID hot path waits on the
// guard: the only contact is the Pause policy calling Pauser.Pause and
// Pauser.Resume, which must not block.
package clockguard
