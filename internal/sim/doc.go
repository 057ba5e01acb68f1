// Package sim is a deterministic simulation of idgen under faults: the real
// lease code (its Go logic and its embedded Lua scripts) and the real
// snowflake.Generator run against a simulated Redis, network and clocks,
// and a checker proves that no ID is ever issued twice. One seed gives one
// schedule, which replays exactly: same seed, same trace, same hash.
//
// # What is real, what is simulated
//
// Real: lease.Acquire, Lease.Renew and Lease.Release with their Lua
// scripts, go-redis' Script.Run (EVALSHA, then EVAL after NOSCRIPT), and
// snowflake.Generator with its fence, StartAfter and borrowing.
//
// Simulated:
//
//   - Redis is miniredis, which runs the scripts through gopher-lua (Lua 5.1
//     like Redis). Its TIME and its TTLs follow the simulation's single
//     virtual clock (SetTime, FastForward); Redis' own clock may be offset
//     from true time by up to MaxSkew/2, redrawn at each restart, so it never
//     steps back by more than MaxSkew: the one clock assumption the
//     data-loss quarantine rests on (see the lease package).
//   - The network is a go-redis hook on each node's client. Each script call
//     is held in the hook; the simulation decides when its request reaches
//     Redis (the proposed fence was computed at send time, so time passes
//     between the two), whether it is lost (not run; the client sees a
//     network error after a timeout), whether its reply is lost (run; the
//     client sees a network error), retried (run again, as go-redis does
//     after a lost reply), and when the reply is processed.
//   - Clocks: every node has its own snowflake.Clock whose monotonic reading
//     advances with virtual time (up to 2% fast or slow) and whose wall clock
//     has an offset (up to many TTLs) that jumps.
//   - Renewals: leases use RenewInterval = lease.ManualRenewal, and the
//     simulation calls Renew at the background loop's cadence (TTL/3 with
//     20% jitter; TTL/12 after a failure). The loop's timer itself is not
//     simulated.
//
// # Determinism
//
// The schedule (settings, fault plan, message fates, node decisions) is a
// pure function of the seed, drawn from PCG streams. The simulation is one
// goroutine that lets exactly one lease goroutine run at a time: it starts
// an op (Acquire, Renew, Release) in a goroutine and waits, in real time,
// until that goroutine blocks in the hook or returns. The only background
// goroutine of the lease (the undo after an acquire whose outcome is
// unknown) is expected and registered at a fixed point. The lease draws
// two things from unseeded randomness: tokens and epochs (only compared
// for equality, and left out of the trace) and the acquire window's
// starting offset, which the hook replaces with one drawn from the seed.
// Real-time deadlines inside the lease (OpTimeout, one minute here) never
// fire, and nothing sleeps: Next and NextN are only called when they can
// answer without waiting for the clock.
//
// # Faults
//
// Node pauses (no steps, replies held back, then the node resumes and
// issues up to its fence), crashes, slow links, partitions, lost and
// delayed messages, whole-system stalls past the TTL (keys expire), Redis
// restarts without persistence (data, scripts and connections gone),
// FLUSHALL, loss of the epoch key, meta hash or hwm hash, wall-clock jumps,
// lease keys overwritten, deleted, retyped or expired by another client,
// and SCRIPT FLUSH.
//
// # What is checked
//
// Every ID issued is checked as it is issued: it is unique across all
// nodes, leases and data eras; each generator's IDs strictly increase; no
// tick is above the fence the replies granted its lease (tracked from the
// replies, independently of the lease and the generator) or at or below its
// StartAfter; nothing is issued after the lease ended. After every event:
// for every lease acquired since the HWM data was last lost, every tick
// issued and every fence in use is at or below the worker's HWM stored in
// Redis. For every two holders of one worker ID, the later one's StartAfter
// is at or above all the earlier one may still issue (its fence while it
// runs, its last tick once stopped); across a data loss this is the
// quarantine's promise.
//
// Knob breaks the nodes on purpose (no fence, or StartAfter ignored) so
// that the tests can show the checker catching duplicates, or steps Redis'
// clock back at restarts by more than MaxSkew, to show what the
// quarantine's assumption protects. It never changes the lease.
//
// # Running
//
//	go test ./internal/sim                             # 5000 seeds (1500 under -race)
//	go test ./internal/sim -run 'TestSim$' -sim.seeds 100000
//	go test ./internal/sim -run 'TestSim$' -sim.duration 1h -timeout 0
//	go test ./internal/sim -run 'TestSim$' -v -sim.seed 42   # replay one, with its trace
//
// A failing seed is printed with the command that replays it.
//
// Not simulated: replicas and WAIT (MinReplicas), Sentinel and Cluster,
// evicting maxmemory policies, and Redis losing only its latest writes;
// the chaos suite covers those against real servers.
package sim
