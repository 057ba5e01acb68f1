package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/snowlease/idgen/snowflake"
)

// RNG streams: each seed gives independent streams for the parameters, the
// fault plan, the network and every node, so that a change in how one part
// draws does not reshuffle the others.
const (
	streamParams = 1
	streamFaults = 2
	streamNet    = 3
	streamNode   = 16 // + node index
)

func newRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// maxNodes is the most nodes a schedule has; an Env has that many clients.
const maxNodes = 5

// Params are one schedule's settings, a pure function of the seed.
type Params struct {
	// Bootstrap: the namespace was first used (and its first-use
	// quarantine waited out) before the schedule starts. Otherwise the
	// schedule starts on an empty Redis.
	Bootstrap    bool
	Nodes        int
	Layout       snowflake.Layout
	TTL          time.Duration
	Window       time.Duration
	MaxSkew      time.Duration
	MaxStartWait time.Duration // 0: the lease's default
	Duration     time.Duration // virtual length of the schedule
	StepMin      time.Duration // a node's steps are StepMin to StepMax apart
	StepMax      time.Duration
	Batch        int // most IDs in one NextN call

	// Network: each request and each reply is lost with LossP/2, a lost
	// reply is retried (go-redis style: the script runs again) with RetryP,
	// and each message is delayed by up to BaseDelay, or with SpikeP by a
	// spike of up to SpikeMax.
	LossP     float64
	RetryP    float64
	SpikeP    float64
	BaseDelay time.Duration
	SpikeMax  time.Duration

	// Replica: the master has a replica from the start (after the
	// bootstrap), which shows in INFO (connected_slaves) and acknowledges
	// WAIT while its link is up. Always true when the plan has a split
	// brain, which promotes it.
	Replica bool

	Clocks    []ClockParams
	MaxBorrow []int64
	Faults    []Fault
}

// ClockParams is a node's clock: its wall offset from true time at the
// start (jumps change it later) and its rate error in parts per million.
type ClockParams struct {
	Offset time.Duration
	PPM    int64
}

// FaultKind is what a planned fault does.
type FaultKind int

// The faults of a schedule's plan. Message delay and loss are also drawn
// per message; these are the scheduled ones.
const (
	FaultPause       FaultKind = iota // a node takes no steps for Dur
	FaultCrash                        // a node's process dies; it restarts after Dur
	FaultSlow                         // every message to or from a node is delayed by Delta for Dur
	FaultPartition                    // every message to or from a node is lost for Dur
	FaultStall                        // nothing happens anywhere for Dur (> TTL): keys expire
	FaultRestart                      // Redis restarts without persistence: data, scripts, connections gone
	FaultFlushAll                     // FLUSHALL by an operator
	FaultKeyLoss                      // DEL of the epoch key (Variant 0), the meta hash (1) or the hwm hash (2)
	FaultClockJump                    // a node's wall clock jumps by Delta
	FaultTheft                        // a lease key overwritten (Variant 0), deleted (1), retyped (2), expired early (3)
	FaultScriptFlush                  // SCRIPT FLUSH
	FaultRollback                     // Redis restarts with the data of Delta ago (an RDB, an AOF that lost its tail, a backup)
	FaultPromote                      // a replica Delta behind is promoted: the master's last writes are lost
	FaultSplitBrain                   // the replica is cut off and promoted while the old master runs on for some nodes
	numFaultKinds
)

var faultNames = [numFaultKinds]string{"pause", "crash", "slow", "partition", "stall", "restart", "flushall",
	"keyloss", "clockjump", "theft", "scriptflush", "rollback", "promote", "splitbrain"}

func (k FaultKind) String() string { return faultNames[k] }

// Fault is one planned fault.
type Fault struct {
	At   time.Duration
	Kind FaultKind
	Node int
	Dur  time.Duration
	// Delta: the clock jump (clockjump), the added delay (slow), the age of
	// the data restored (rollback), the replica's lag (promote), the time
	// from the cut to the promotion (splitbrain).
	Delta   time.Duration
	Variant int
	// Clock is Redis' clock minus true time after a restart, rollback,
	// promotion or split brain (the new master's).
	Clock time.Duration
	// Notice is when, after the cut, the old master's INFO stops showing the
	// replica (splitbrain; its repl-timeout).
	Notice time.Duration
}

// Variant bits of a split brain: bits 0 to maxNodes-1 are the nodes that
// stay with the old master while the split lasts; splitTail means the
// replica had received every write up to the cut (otherwise only those up
// to the last acknowledged WAIT).
const splitTail = 1 << maxNodes

func (f Fault) String() string {
	s := fmt.Sprintf("%v@%v(node=%d dur=%v delta=%v v=%d", f.Kind, f.At, f.Node, f.Dur, f.Delta, f.Variant)
	if f.Clock != 0 {
		s += fmt.Sprintf(" clock=%v", f.Clock)
	}
	if f.Notice != 0 {
		s += fmt.Sprintf(" notice=%v", f.Notice)
	}
	return s + ")"
}

// simEpoch is the layouts' epoch (the Twitter one) and simBase the true time
// at which every schedule starts: fixed, so that a seed replays the same
// ticks on any day.
var (
	simEpoch = snowflake.Twitter().Epoch
	simBase  = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
)

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// between is a uniform duration in [lo, hi].
func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.Int64N(int64(hi-lo)+1))
}

// newParams draws a schedule's settings from its seed.
func newParams(seed uint64) Params {
	r := newRand(seed, streamParams)
	var p Params
	p.Bootstrap = r.IntN(5) > 0
	p.Nodes = 2 + r.IntN(maxNodes-1)
	workerBits := uint8(r.IntN(4)) // 1 to 8 worker IDs: contention
	seqBits := pick[uint8](r, 2, 4, 8, 12)
	p.Layout = snowflake.Layout{
		Epoch:        simEpoch,
		TimeUnit:     pick(r, time.Millisecond, time.Millisecond, 10*time.Millisecond),
		WorkerBits:   workerBits,
		SequenceBits: seqBits,
		TimeBits:     63 - workerBits - seqBits,
	}
	p.TTL = pick(r, 200*time.Millisecond, 500*time.Millisecond, time.Second, 2*time.Second)
	p.Window = time.Duration(float64(p.TTL) * pick(r, 0.5, 0.75, 1, 1, 1.5, 3))
	p.MaxSkew = max(time.Millisecond, p.TTL/time.Duration(pick(r, 1, 4, 20)))
	if r.IntN(4) == 0 {
		p.MaxStartWait = between(r, p.TTL/10, 2*p.Window)
	}
	p.Duration = between(r, 3*p.TTL, 6*p.TTL)
	p.StepMin = max(100*time.Microsecond, p.TTL/400)
	p.StepMax = p.TTL / time.Duration(pick(r, 20, 50, 100))
	p.Batch = pick(r, 1, 4, 16, 64)

	p.LossP = pick(r, 0, 0.02, 0.05, 0.15)
	p.RetryP = pick(r, 0, 0.3, 0.7)
	p.SpikeP = pick(r, 0, 0.03, 0.1)
	p.BaseDelay = pick(r, 0, time.Millisecond, 5*time.Millisecond)
	p.SpikeMax = pick(r, p.TTL/3, p.TTL, 2*p.TTL)

	for range p.Nodes {
		var c ClockParams
		switch r.IntN(4) {
		case 0: // exact
		case 1: // within the skew bound
			c.Offset = between(r, -p.MaxSkew, p.MaxSkew)
		case 2: // far off: clocks must not matter for uniqueness
			c.Offset = between(r, -5*p.TTL, 5*p.TTL)
		case 3:
			c.Offset = between(r, -p.MaxSkew, p.MaxSkew)
			c.PPM = int64(between(r, -20000, 20000)) // up to 2% fast or slow
		}
		p.Clocks = append(p.Clocks, c)
		window := p.Layout.Ticks(p.Window)
		p.MaxBorrow = append(p.MaxBorrow, pick(r, 0, 1, 8, window))
	}
	p.Replica = r.IntN(3) == 0
	p.Faults = newFaultPlan(seed, &p)
	for _, f := range p.Faults {
		if f.Kind == FaultSplitBrain {
			p.Replica = true
		}
	}
	return p
}

// faultWeights make the faults that lose data rarer than the others, so
// that many schedules test takeovers on intact high-water marks.
var faultWeights = [numFaultKinds]int{
	FaultPause: 6, FaultCrash: 3, FaultSlow: 3, FaultPartition: 3, FaultStall: 3, FaultRestart: 2,
	FaultFlushAll: 1, FaultKeyLoss: 2, FaultClockJump: 3, FaultTheft: 4, FaultScriptFlush: 2,
	FaultRollback: 2, FaultPromote: 2, FaultSplitBrain: 3,
}

func drawFaultKind(r *rand.Rand) FaultKind {
	total := 0
	for _, w := range faultWeights {
		total += w
	}
	x := r.IntN(total)
	for k, w := range faultWeights {
		if x < w {
			return FaultKind(k)
		}
		x -= w
	}
	panic("unreachable")
}

// newFaultPlan draws 2 to 7 faults at times spread over the schedule.
func newFaultPlan(seed uint64, p *Params) []Fault {
	r := newRand(seed, streamFaults)
	n := 2 + r.IntN(6)
	faults := make([]Fault, 0, n)
	for range n {
		f := Fault{
			At:   between(r, p.Duration/20, p.Duration*9/10),
			Kind: drawFaultKind(r),
			Node: r.IntN(p.Nodes),
		}
		switch f.Kind {
		case FaultPause:
			f.Dur = between(r, p.TTL/4, 3*p.TTL)
		case FaultCrash:
			f.Dur = between(r, p.TTL/10, 2*p.TTL)
		case FaultSlow:
			f.Dur = between(r, p.TTL/2, 2*p.TTL)
			f.Delta = between(r, p.TTL/10, 2*p.TTL)
		case FaultPartition:
			f.Dur = between(r, p.TTL/4, 2*p.TTL)
		case FaultStall:
			f.Dur = between(r, p.TTL, 3*p.TTL)
		case FaultKeyLoss:
			f.Variant = r.IntN(3)
		case FaultClockJump:
			f.Delta = between(r, -3*p.TTL, 3*p.TTL)
		case FaultTheft:
			f.Variant = r.IntN(4)
		case FaultRollback:
			f.Delta = between(r, 0, 3*p.TTL)
		case FaultPromote:
			f.Delta = between(r, 0, p.TTL)
		case FaultSplitBrain:
			f.Delta = between(r, 0, p.TTL/2)
			f.Dur = between(r, p.TTL/2, 4*p.TTL)
			f.Notice = between(r, p.TTL, 3*p.TTL)
			// Some nodes stay with the old master, the others follow the
			// promotion: both sides have at least one.
			f.Variant = 1 + r.IntN(1<<p.Nodes-2)
			if r.IntN(2) == 0 {
				f.Variant |= splitTail
			}
		}
		switch f.Kind {
		case FaultRestart, FaultRollback, FaultPromote, FaultSplitBrain:
			// Redis' own clock after the restart or on the new master: within
			// MaxSkew/2 of true time, so it never steps back by more than
			// MaxSkew (the one clock the data-loss quarantine rests on).
			f.Clock = between(r, -p.MaxSkew/2, p.MaxSkew/2)
		}
		faults = append(faults, f)
	}
	return faults
}

func (p Params) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bootstrap=%v nodes=%d layout=%d/%d/%d unit=%v ttl=%v window=%v maxskew=%v maxstartwait=%v duration=%v "+
		"steps=%v..%v batch=%d loss=%.2f retry=%.1f spike=%.2f delay=%v spikemax=%v replica=%v",
		p.Bootstrap, p.Nodes, p.Layout.TimeBits, p.Layout.WorkerBits, p.Layout.SequenceBits, p.Layout.TimeUnit,
		p.TTL, p.Window, p.MaxSkew, p.MaxStartWait, p.Duration, p.StepMin, p.StepMax, p.Batch,
		p.LossP, p.RetryP, p.SpikeP, p.BaseDelay, p.SpikeMax, p.Replica)
	for i, c := range p.Clocks {
		fmt.Fprintf(&b, " n%d{offset=%v ppm=%d borrow=%d}", i, c.Offset, c.PPM, p.MaxBorrow[i])
	}
	for _, f := range p.Faults {
		b.WriteString(" ")
		b.WriteString(f.String())
	}
	return b.String()
}
