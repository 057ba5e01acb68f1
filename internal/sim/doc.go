// Package sim is a deterministic simulation of idgen under faults: the real
// lease code (its Go logic and its embedded Lua scripts) and the real
// snowflake.Generator run against a simulated Redis, network and clocks,
// and a checker proves that no ID is ever issued twice. One seed gives one
// schedule, which replays exactly: same seed, same trace, same hash.
//
// # What is real, what is simulated
//
// Real: lease.Acquire, Lease.Renew and Lease.Close with their Lua
// scripts (server.lua reading INFO included), go-redis' Script.Run
// (EVALSHA, then EVAL after NOSCRIPT) and the lease's pipeline of a script
// and WAIT, and snowflake.Generator with its fence, StartAfter and
// borrowing.
//
// Simulated:
//
//   - Redis is two miniredis servers, which run the scripts through
//     gopher-lua (Lua 5.1 like Redis). Each shows an identity in INFO
//     server and INFO replication (internal/sim/miniserver): a run_id and
//     replication IDs that a restart or a promotion moves on, and its
//     connected replicas. One is the master the nodes talk to; the other is
//     its replica in schedules with one (Params.Replica), and the master
//     that replaces it after a split brain. Their TIME and TTLs follow the
//     simulation's single virtual clock (SetTime, FastForward); a server's
//     own clock may be offset from true time by up to MaxSkew/2, redrawn at
//     each restart and promotion, so it never steps back by more than
//     MaxSkew: the one clock assumption the data-loss quarantine rests on
//     (see the lease package).
//   - Replication: the replica's data is a snapshot of the master's, taken
//     at every WAIT it acknowledges (it then has every write the master
//     had) and at every full resync; writes in between reach it at the
//     next acknowledgement. The simulation answers the WAIT the lease
//     pipelines after a script (miniredis' own always says 0): 1 if the
//     call ran on the master and the replica's link is up, else 0, after
//     the WAIT's timeout.
//   - The network is a go-redis hook on each node's client. Each script call
//     (alone, or pipelined with its WAIT) is held in the hook; the
//     simulation decides when its request reaches Redis (the proposed fence
//     was computed at send time, so time passes between the two), whether
//     it is lost (not run; the client sees a network error after a
//     timeout), whether its reply is lost (run; the client sees a network
//     error; for a pipeline, sometimes only the WAIT's reply), retried (run
//     again, as go-redis does after a lost reply), and when the reply is
//     processed. It runs the call on the server the node's connection goes
//     to, through a plain client of that server: during a split brain,
//     some nodes still reach the old master.
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
// an op (Acquire, Renew, Close) in a goroutine and waits, in real time,
// until that goroutine blocks in the hook or returns. The only background
// goroutine of the lease (the undo after an acquire whose outcome is
// unknown) is expected and registered at a fixed point; so is the undo an
// acquire makes in its own goroutine when its WAIT falls short of the
// replicas the script asked for. The lease draws
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
// restarts without persistence (data, scripts and connections gone, a new
// run_id), FLUSHALL, loss of the epoch key, meta hash or hwm hash,
// wall-clock jumps, lease keys overwritten, deleted, retyped or expired by
// another client, and SCRIPT FLUSH. And three that bring older data back:
//
//   - rollback: Redis restarts with the data of up to three TTLs ago (an
//     RDB-only restart, an AOF that lost its tail, a restored backup): the
//     strings and hashes with their expiry as absolute times, so keys that
//     expired since are gone; scripts and connections gone, a new run_id.
//   - promote: a replica up to one TTL behind is promoted (a new run_id,
//     the old replication ID moved to master_replid2): the master's last
//     writes are lost, except those the replica acknowledged in a WAIT.
//   - splitbrain (schedules with a replica): the master is cut off from its
//     replica, which is promoted a little later with its copy (the writes
//     up to its last acknowledged WAIT, or every write up to the cut). For
//     the split's duration some nodes still talk to the old master, which
//     runs on (its WAITs get no acknowledgement; its INFO stops showing the
//     replica after its repl-timeout) while the others talk to the new
//     one; then all move to the new master and the old one becomes its
//     replica. A split starts only when the master's namespace already
//     records its replica, and restarts, rollbacks and FLUSHALLs during a
//     split hit the promoted master (or nothing before the promotion), and
//     a key loss that would delete the cut-off master's last copy of the
//     replica count is skipped: an old master
//     that is cut off and restarted without its data, or whose data never
//     recorded the replica, looks like a new standalone server, the
//     documented limit of the defaults (docs/design.md, rule 8). Skipped
//     splits are counted (SplitLimit) and must stay rare; the
//     isolated-restart knob plays them.
//
// The trace shows each of them: the HWMs and the epoch before and after,
// the server every call ran on, and each WAIT's acknowledgements.
//
// # What is checked
//
// Every ID issued is checked as it is issued: it is unique across all
// nodes, leases and data eras; each generator's IDs strictly increase; no
// tick is above the fence the replies granted its lease (tracked from the
// replies, independently of the lease and the generator; a fence counts as
// granted only if the WAIT sent with it got the acknowledgements the
// script asked for) or at or below its StartAfter; nothing is issued after
// the lease ended. After every event: for every lease acquired on the
// current master since its HWM data was last lost or replaced by older
// data (a data era), every tick issued and every fence in use is at or
// below the worker's HWM stored there. For every two holders of one worker
// ID, the later one's StartAfter is at or above all the earlier one may
// still issue (its fence while it runs, its last tick once stopped), on
// whichever server either was granted; across a data loss, a rollback or a
// failover this is the quarantine's promise.
//
// Knob breaks the nodes on purpose (no fence, or StartAfter ignored) so
// that the tests can show the checker catching duplicates, or steps Redis'
// clock back at restarts by more than MaxSkew, to show what the
// quarantine's assumption protects, or plays the old protocol's blindness:
// same-server keeps the identity INFO shows across restarts, rollbacks and
// promotions (the scripts cannot tell them from a renewal), and
// no-replica-wait runs the nodes with MinReplicas = NoReplicaWait (the
// isolated old master of a split brain goes on granting fences), and
// isolated-restart plays the documented limit: the cut-off old master
// restarted without its data, or cut off before its data recorded the
// replica. It never changes the lease's code.
//
// # Running
//
//	go test ./internal/sim                             # 3200 seeds (1000 under -race)
//	go test ./internal/sim -run 'TestSim$' -sim.seeds 100000
//	go test ./internal/sim -run 'TestSim$' -sim.duration 1h -timeout 0
//	go test ./internal/sim -run 'TestSim$' -v -sim.seed 42   # replay one, with its trace
//	go test ./internal/sim -run 'TestSim$' -v -sim.seed 125 -sim.knob same-server
//	go test ./internal/sim -run 'TestSim$' -sim.minreplicas 1  # nodes set MinReplicas when there is a replica
//
// A failing seed is printed with the command that replays it.
//
// Not simulated: more than one replica, Sentinel and Cluster themselves
// (a promotion is an event, not an election), evicting maxmemory policies;
// the chaos suite covers those against real servers.
package sim
