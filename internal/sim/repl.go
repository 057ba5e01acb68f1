package sim

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// srvState is what a schedule knows of one of the Env's servers.
type srvState struct {
	*server
	off time.Duration // Redis' clock minus true time
	gen int           // connection generation: a restart, a failover or a demotion drops every connection
	era int           // the data era of its data: a new one after every loss or rollback
}

// replica is the master's replica, when the schedule has one. Its data is
// a snapshot of the master's: a copy taken at each WAIT it acknowledged
// (it then has every write the master had), and at every full resync.
// Writes between two acknowledgements reach it at the next one, or at a
// cut when the split brain draws that the tail arrived.
type replica struct {
	on     bool // attached to the current master; its INFO shows connected_slaves:1
	linked bool // the link is up: WAIT gets its acknowledgement
	copy   *snapshot
}

// split is a split brain in progress: the old master cut off from its
// replica, which is (or is about to be) promoted.
type split struct {
	idx      int // the fault's index in the plan
	old, new int // servers
	promoted bool
}

// snapshot is the data of a server at one moment: strings and hashes (the
// only types the lease and the thief write) with their expiry as an
// absolute virtual time, as an RDB file stores it.
type snapshot struct {
	at   time.Duration
	keys []snapKey
}

type snapKey struct {
	key    string
	hash   []string // field, value, ...: a hash; nil: a string
	str    string
	expire time.Duration // true virtual time at which it expires; 0: never
}

func (w *world) master() *srvState { return &w.srv[w.cur] }

// snapshot copies s's data now.
func (w *world) snapshot(s *srvState) *snapshot {
	m := s.m
	snap := &snapshot{at: w.now}
	for _, k := range m.Keys() {
		sk := snapKey{key: k}
		switch m.Type(k) {
		case "string":
			sk.str, _ = m.Get(k)
		case "hash":
			fields, _ := m.HKeys(k)
			sk.hash = make([]string, 0, 2*len(fields))
			for _, f := range fields {
				sk.hash = append(sk.hash, f, m.HGet(k, f))
			}
		default:
			w.fail("snapshot: key %s of type %s", k, m.Type(k))
			return snap
		}
		if ttl := m.TTL(k); ttl > 0 {
			sk.expire = w.now + ttl
		}
		snap.keys = append(snap.keys, sk)
	}
	return snap
}

// restore replaces s's data with snap's, as a server that loads it now:
// keys whose expiry has passed are gone. It returns how many keys expired.
func (w *world) restore(s *srvState, snap *snapshot) int {
	m := s.m
	m.FlushAll()
	expired := 0
	for _, k := range snap.keys {
		var ttl time.Duration
		if k.expire != 0 {
			if ttl = k.expire - w.now; ttl <= 0 {
				expired++
				continue
			}
		}
		if k.hash != nil {
			m.HSet(k.key, k.hash...)
		} else if err := m.Set(k.key, k.str); err != nil {
			w.fail("restore %s: %v", k.key, err)
		}
		if ttl > 0 {
			m.SetTTL(k.key, ttl)
		}
	}
	return expired
}

// hwmDiff describes how the HWMs and the epoch of data before compare with
// the data after: the trace shows that the data restored is really older.
func (w *world) hwmDiff(before, after *snapshot) string {
	find := func(s *snapshot, key string) *snapKey {
		for i := range s.keys {
			if s.keys[i].key == key {
				return &s.keys[i]
			}
		}
		return nil
	}
	field := func(k *snapKey, f string) string {
		if k != nil {
			for i := 0; i+1 < len(k.hash); i += 2 {
				if k.hash[i] == f {
					return k.hash[i+1]
				}
			}
		}
		return "-"
	}
	hb, ha := find(before, w.keys.HWM()), find(after, w.keys.HWM())
	var b strings.Builder
	lower := 0
	for id := range int64(1) << w.p.Layout.WorkerBits {
		f := strconv.FormatInt(id, 10)
		x, y := field(hb, f), field(ha, f)
		if x != y {
			fmt.Fprintf(&b, " w%d:%s->%s", id, x, y)
			xn, _ := strconv.ParseInt(x, 10, 64)
			if yn, err := strconv.ParseInt(y, 10, 64); err != nil || yn < xn {
				lower++
			}
		}
	}
	epoch := "same epoch"
	eb, ea := find(before, w.keys.Epoch()), find(after, w.keys.Epoch())
	switch {
	case ea == nil:
		epoch = "no epoch"
	case eb == nil || eb.str != ea.str:
		epoch = "older epoch"
	}
	return fmt.Sprintf("%d keys, then %d; %s; %d HWMs lower:%s", len(before.keys), len(after.keys), epoch, lower,
		b.String())
}

// newEra starts a data era on s: its data is no longer the data holders
// were granted fences against.
func (w *world) newEra(s *srvState) {
	w.eras++
	s.era = w.eras
}

// era is the current master's data era.
func (w *world) era() int { return w.master().era }

// serverChange gives s a new identity, unless the knob hides it: promote
// (a replica of from taking over) or restart (a new process).
func (w *world) serverChange(s *srvState, promote bool, from *srvState) {
	if w.opt.Knob == KnobSameServer {
		if from != nil && from != s {
			s.id.Assume(from.id)
		}
		return
	}
	if !promote {
		s.id.Restart()
		return
	}
	if from != nil && from != s {
		s.id.Follow(from.id)
	}
	s.id.Promote()
}

// dropConnections ends every connection to s: calls in flight to it are
// answered with a connection reset, and its scripts are gone.
func (w *world) dropConnections(s *srvState) {
	s.gen++
	if err := s.raw.ScriptFlush(context.Background()).Err(); err != nil {
		w.fail("SCRIPT FLUSH on %s: %v", s.name, err)
	}
}

// restartTarget is the server a restart or a rollback hits: the master.
// During a split brain the old master is cut off from its replica (before
// and after the replica's promotion), and a restart that loses its data
// also loses the replica count the namespace remembered: with no data and
// no connected replica it looks like a new standalone server, and grants
// fences alone. That is the documented limit of the defaults
// (docs/design.md rule 8), so only KnobIsolatedRestart plays it: then an
// odd Node hits the old master, a process that crashes and comes back (or
// is restarted by an operator) while cut off. Otherwise a restart during a
// split hits the promoted master, or nothing (nil) before the promotion.
func (w *world) restartTarget(f Fault) *srvState {
	sp := w.split
	switch {
	case sp == nil:
		return w.master()
	case w.opt.Knob == KnobIsolatedRestart:
		if sp.promoted && f.Node%2 == 1 {
			return &w.srv[sp.old]
		}
		return w.master()
	case sp.promoted:
		return w.master()
	}
	return nil
}

// restarted notes that s came back as a new process (or a promoted
// replica took its place). A replica that can reach it resyncs: it has s's
// data and shows again in s's INFO. One that cannot (a split brain) does
// not show: a restarted Redis lists only the replicas connected since.
func (w *world) restarted(s *srvState) {
	switch {
	case s != w.master() || !w.repl.on:
		s.id.SetReplicas(0)
	case w.repl.linked:
		w.repl.copy = w.snapshot(s)
	default:
		s.id.SetReplicas(0)
	}
}

// attachReplica attaches the other server as the master's replica, with a
// full copy of the master's data.
func (w *world) attachReplica() {
	m := w.master()
	other := &w.srv[1-w.cur]
	other.m.FlushAll()
	other.id.Follow(m.id)
	other.id.SetReplicas(0)
	m.id.SetReplicas(1)
	w.repl = replica{on: true, linked: true, copy: w.snapshot(m)}
	w.tr.line(w.now, "replica %s attached to %s (%d keys)", other.name, m.name, len(w.repl.copy.keys))
}

// acknowledge is what a WAIT that ran on s right after a script answers:
// the replica acknowledges if it is attached to s and its link is up, and
// then has every write s has.
func (w *world) acknowledge(s int) int64 {
	if s != w.cur || !w.repl.on || !w.repl.linked {
		return 0
	}
	w.repl.copy = w.snapshot(&w.srv[s])
	return 1
}

// rollback restores, on the current master, data taken earlier: an
// RDB-only restart or a restored backup (a restart), or a promoted replica
// that lagged (a promotion, played on the same server: the old master is
// gone, the nodes reconnect). For a promotion, an attached replica that
// acknowledged later writes than the lag snapshot has them.
func (w *world) rollback(f Fault, idx int) string {
	snap := w.snaps[idx]
	if snap == nil {
		w.fail("no snapshot for fault %d", idx)
		return ""
	}
	m := w.master()
	if f.Kind == FaultRollback {
		if m = w.restartTarget(f); m == nil {
			return "skipped: the master is cut off from its replica (see restartTarget)"
		}
	}
	src := "snapshot"
	if f.Kind == FaultPromote && w.repl.on && w.repl.linked && w.repl.copy.at > snap.at {
		snap, src = w.repl.copy, "replica's last acknowledged copy"
	}
	before := w.snapshot(m)
	expired := w.restore(m, snap)
	w.dropConnections(m)
	w.serverChange(m, f.Kind == FaultPromote, nil)
	m.off = f.Clock
	w.newEra(m)
	w.restarted(m)
	diff := w.hwmDiff(before, w.snapshot(m))
	return fmt.Sprintf("on %s: %s of %v ago (%d keys expired since): %s", m.name, src,
		(w.now - snap.at).Round(time.Microsecond), expired, diff)
}

// forgetsReplica reports whether deleting key on s would leave s's
// namespace with no copy of a replica count of 1 or more while s is the
// master cut off by a split brain: the documented limit, played only with
// KnobIsolatedRestart (or KnobNoReplicaWait, which records none anyway).
func (w *world) forgetsReplica(s *srvState, key string) bool {
	sp := w.split
	if sp == nil || s != &w.srv[sp.old] || w.opt.Knob == KnobIsolatedRestart || w.opt.Knob == KnobNoReplicaWait {
		return false
	}
	other := map[string][2]string{w.keys.Meta(): {w.keys.HWM(), "_replicas"}, w.keys.HWM(): {w.keys.Meta(), "replicas"}}
	o, ok := other[key]
	if !ok {
		return false
	}
	n, _ := strconv.Atoi(s.m.HGet(o[0], o[1]))
	return n < 1
}

// rememberedReplicas is the replica count s's scripts would ask for from
// the namespace's memory alone: the larger of the meta and hwm hashes'
// copies, unless s is a replica promoted in place of the master that
// stamped it (which starts over, see acquire.lua).
func (w *world) rememberedReplicas(s *srvState) int {
	n, _ := strconv.Atoi(s.m.HGet(w.keys.Meta(), "replicas"))
	if h, _ := strconv.Atoi(s.m.HGet(w.keys.HWM(), "_replicas")); h > n {
		n = h
	}
	stamped := s.m.HGet(w.keys.Meta(), "server")
	if _, replid, ok := strings.Cut(stamped, ":"); ok && stamped != s.id.Incarnation() && replid == s.id.ReplID2() {
		return 0 // a replica promoted in place of the master that stamped it
	}
	return n
}

// splitBrain plays one phase of a split brain: 0 cuts the master from its
// replica, 1 promotes the replica (some nodes stay with the old master),
// 2 is the old master noticing the replica gone (its INFO shows none),
// 3 ends the split (the old master becomes the new one's replica).
func (w *world) splitBrain(f Fault, idx, phase int) string {
	sp := w.split
	if phase > 0 && (sp == nil || sp.idx != idx) {
		return "over"
	}
	switch phase {
	case 0:
		if sp != nil || !w.repl.on {
			return "skipped: no replica to promote"
		}
		if w.rememberedReplicas(w.master()) < 1 && w.opt.Knob != KnobIsolatedRestart && w.opt.Knob != KnobNoReplicaWait {
			// The master's data does not record the replica (it restarted
			// without its data, or no script ran since the replica came):
			// cut off, it would look like a new standalone server. The
			// documented limit of the defaults; see restartTarget.
			w.res.Faults.SplitLimit++
			return "skipped: the namespace does not record the replica yet (documented limit)"
		}
		sp = &split{idx: idx, old: w.cur, new: 1 - w.cur}
		w.split = sp
		w.repl.linked = false
		detail := "the replica has the writes up to the last acknowledged WAIT"
		if f.Variant&splitTail != 0 {
			w.repl.copy = w.snapshot(w.master())
			detail = "the replica has every write up to the cut"
		}
		w.push(&event{at: w.now + f.Delta, kind: evFault, fault: f, idx: idx, phase: 1})
		w.push(&event{at: w.now + f.Notice, kind: evFault, fault: f, idx: idx, phase: 2})
		w.res.Faults.SplitBrain++
		return fmt.Sprintf("%s cut from its replica %s (%s, %v ago)", w.srv[sp.old].name, w.srv[sp.new].name,
			detail, (w.now - w.repl.copy.at).Round(time.Microsecond))
	case 1:
		old, nw := &w.srv[sp.old], &w.srv[sp.new]
		before := w.snapshot(old)
		expired := w.restore(nw, w.repl.copy)
		w.dropConnections(nw)
		w.serverChange(nw, true, old)
		nw.id.SetReplicas(0)
		nw.off = f.Clock
		w.newEra(nw)
		w.cur = sp.new
		sp.promoted = true
		w.repl = replica{}
		var stay []string
		for _, n := range w.nodes {
			if f.Variant&(1<<n.i) != 0 {
				n.srv = sp.old
				stay = append(stay, n.name)
			} else {
				n.srv = sp.new
			}
		}
		w.push(&event{at: w.now + f.Dur, kind: evFault, fault: f, idx: idx, phase: 3})
		return fmt.Sprintf("%s promoted (%d keys expired since the copy): %s; %v stay with %s", nw.name, expired,
			w.hwmDiff(before, w.snapshot(nw)), stay, old.name)
	case 2:
		w.srv[sp.old].id.SetReplicas(0)
		return fmt.Sprintf("%s no longer shows its replica", w.srv[sp.old].name)
	default:
		old := &w.srv[sp.old]
		old.m.FlushAll()
		w.dropConnections(old)
		for _, n := range w.nodes {
			n.srv = w.cur
		}
		w.split = nil
		w.attachReplica()
		return fmt.Sprintf("split over: every node on %s, %s demoted", w.master().name, old.name)
	}
}
