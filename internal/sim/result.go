package sim

import (
	"fmt"
	"strings"
)

// Violation kinds the checker reports.
const (
	VDuplicate  = "duplicate"   // an ID issued twice
	VOrder      = "order"       // a generator's IDs did not strictly increase
	VFence      = "fence"       // an ID's tick above the fence its lease was granted
	VStartAfter = "start-after" // an ID's tick at or below its lease's StartAfter
	VHWM        = "hwm"         // an ID or a fence in use above the HWM stored in Redis
	VTakeover   = "takeover"    // a new holder's StartAfter below what an earlier holder may issue
	VStopped    = "stopped"     // an ID from a generator after its lease ended
	VLease      = "lease"       // the lease's state disagrees with the replies it was given
)

// Faults counts the faults a schedule injected or ran into.
type Faults struct {
	Pause       int // node pauses
	Crash       int // node crashes (restarted later with a new lease)
	Delay       int // messages delayed by a spike (per-message or a slow node)
	Loss        int // requests lost, replies lost, requests retried after a lost reply
	Expiry      int // lease keys that expired in Redis by TTL
	Stall       int // whole-system stalls past the TTL
	DataLoss    int // Redis restarts without persistence, FLUSHALLs, lost hwm hashes
	KeyLoss     int // lost epoch keys or meta hashes
	ClockJump   int // node wall-clock jumps
	Theft       int // lease keys overwritten, deleted, retyped or expired by another client
	ScriptFlush int // SCRIPT FLUSH (restarts flush scripts too, not counted here)
	Rollback    int // restarts with older data (an RDB, an AOF that lost its tail, a backup)
	Promote     int // promotions of a replica that lagged: the master's last writes lost
	SplitBrain  int // replicas cut off and promoted while the old master ran on for some nodes
	// SplitLimit counts split brains not played because the cut-off master's
	// namespace did not yet record its replica: the documented limit of the
	// defaults (played only with KnobIsolatedRestart).
	SplitLimit int
}

func (f *Faults) add(o Faults) {
	f.Pause += o.Pause
	f.Crash += o.Crash
	f.Delay += o.Delay
	f.Loss += o.Loss
	f.Expiry += o.Expiry
	f.Stall += o.Stall
	f.DataLoss += o.DataLoss
	f.KeyLoss += o.KeyLoss
	f.ClockJump += o.ClockJump
	f.Theft += o.Theft
	f.ScriptFlush += o.ScriptFlush
	f.Rollback += o.Rollback
	f.Promote += o.Promote
	f.SplitBrain += o.SplitBrain
	f.SplitLimit += o.SplitLimit
}

func (f Faults) String() string {
	return fmt.Sprintf("{pause: %d, crash: %d, delay: %d, loss: %d, expiry: %d, stall: %d, dataloss: %d, "+
		"keyloss: %d, clockjump: %d, theft: %d, scriptflush: %d, rollback: %d, promote: %d, splitbrain: %d "+
		"(not played, documented limit: %d)}",
		f.Pause, f.Crash, f.Delay, f.Loss, f.Expiry, f.Stall, f.DataLoss, f.KeyLoss, f.ClockJump, f.Theft, f.ScriptFlush,
		f.Rollback, f.Promote, f.SplitBrain, f.SplitLimit)
}

// Activity counts what the leases and generators did, to show the schedules
// reach the interesting cases.
type Activity struct {
	Acquires        int // leases acquired
	AcquireFailures int
	Renewals        int // successful Renew calls
	RenewFailures   int
	Losses          int // leases found lost
	Releases        int
	Takeovers       int // acquires of a worker ID an earlier holder had
	Quarantined     int // acquires whose StartAfter is the data-loss quarantine
	Fenced          int // Next/NextN refused with ErrFenced
	ZombieIDs       int // IDs issued by a holder after another holder took its worker ID
	Executions      int // scripts run in Redis
	ShortAcks       int // replies whose WAIT got fewer acknowledgements than the script asked for: not used
	DeposedRefused  int // such replies from a master cut from its replica (a split brain)
	DeposedGranted  int // fences a master cut from its replica granted (its script asked for no replica)
}

func (a *Activity) add(o Activity) {
	a.Acquires += o.Acquires
	a.AcquireFailures += o.AcquireFailures
	a.Renewals += o.Renewals
	a.RenewFailures += o.RenewFailures
	a.Losses += o.Losses
	a.Releases += o.Releases
	a.Takeovers += o.Takeovers
	a.Quarantined += o.Quarantined
	a.Fenced += o.Fenced
	a.ZombieIDs += o.ZombieIDs
	a.Executions += o.Executions
	a.ShortAcks += o.ShortAcks
	a.DeposedRefused += o.DeposedRefused
	a.DeposedGranted += o.DeposedGranted
}

func (a Activity) String() string {
	return fmt.Sprintf("{acquires: %d, acquire failures: %d, renewals: %d, renew failures: %d, losses: %d, "+
		"releases: %d, takeovers: %d, quarantined: %d, fenced: %d, zombie IDs: %d, script runs: %d, "+
		"short acks: %d, deposed refused: %d, deposed granted: %d}",
		a.Acquires, a.AcquireFailures, a.Renewals, a.RenewFailures, a.Losses, a.Releases, a.Takeovers,
		a.Quarantined, a.Fenced, a.ZombieIDs, a.Executions, a.ShortAcks, a.DeposedRefused, a.DeposedGranted)
}

// Result is one schedule's outcome.
type Result struct {
	Seed       uint64
	Params     Params
	Hash       uint64 // of the trace: equal for equal seeds
	IDs        int    // IDs issued and checked
	Faults     Faults
	Activity   Activity
	Counts     map[string]int // violations by kind
	Violations []string       // the first few, described
	Err        error          // the simulation itself failed (not a safety finding)
}

// Failed reports whether the checker found a violation or the run failed.
func (r *Result) Failed() bool { return r.Err != nil || len(r.Counts) > 0 }

const maxViolations = 20

func (r *Result) violation(kind, format string, args ...any) {
	if r.Counts == nil {
		r.Counts = map[string]int{}
	}
	r.Counts[kind]++
	if len(r.Violations) < maxViolations || r.Counts[kind] == 1 { // the first of each kind, always
		r.Violations = append(r.Violations, kind+": "+fmt.Sprintf(format, args...))
	}
}

// Totals sums Results.
type Totals struct {
	Seeds    int
	IDs      int64
	Counts   map[string]int
	Faults   Faults
	Activity Activity
	Failed   []uint64 // seeds with a violation or an error
}

// Add adds one Result.
func (t *Totals) Add(r *Result) {
	t.Seeds++
	t.IDs += int64(r.IDs)
	t.Faults.add(r.Faults)
	t.Activity.add(r.Activity)
	for k, n := range r.Counts {
		if t.Counts == nil {
			t.Counts = map[string]int{}
		}
		t.Counts[k] += n
	}
	if r.Failed() {
		t.Failed = append(t.Failed, r.Seed)
	}
}

// Summary is the one-line report:
// sim: seeds N, schedules N, IDs checked N, duplicates 0, fence violations 0, ...
func (t *Totals) Summary() string {
	other := 0
	var names []string
	for _, k := range []string{VOrder, VStartAfter, VHWM, VTakeover, VStopped, VLease} {
		other += t.Counts[k]
		if t.Counts[k] > 0 {
			names = append(names, fmt.Sprintf("%s %d", k, t.Counts[k]))
		}
	}
	detail := ""
	if len(names) > 0 {
		detail = " (" + strings.Join(names, ", ") + ")"
	}
	return fmt.Sprintf("sim: seeds %d, schedules %d, IDs checked %d, duplicates %d, fence violations %d, "+
		"other violations %d%s, faults %v", t.Seeds, t.Seeds, t.IDs, t.Counts[VDuplicate], t.Counts[VFence],
		other, detail, t.Faults)
}
