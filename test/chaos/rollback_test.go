package chaos_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/snowflake"
	"github.com/snowlease/idgen/test/chaos"
)

// The rollback scenarios: Redis comes back with data older than what the
// workers were told (an RDB-only restart, an AOF that lost its last second,
// a restored backup, a failover to a replica that missed writes, a crash
// while fsync is slow), with the library's default options: Window = TTL,
// MaxSkew 1s, MinReplicas 0 (as many replicas as the master has had),
// OnLeaseLost Reacquire. The namespace has 8 worker IDs, all with an HWM
// from a warm-up, so an acquire after the fault picks the free worker ID
// with the lowest HWM: after a rollback, the one a live worker took after
// the moment the data went back to. Four workers run at each fault (in the
// restart scenarios one of them took its worker ID inside the stretch the
// restart loses), and three new ones start right after it, before Redis
// answers again.
//
// Each scenario shows (1) that the fault happened: the data Redis answers
// with afterwards is older (an HWM below IDs already issued, a lease key or
// marker gone, the replica behind, acknowledged writes missing), read
// before any worker reaches the restarted server; (2) no duplicate, and
// every ID issued with a worker ID under a lease taken after the fault
// above every ID issued with it under a lease taken before; (3) recovery
// without an operator: every running worker loses its lease ("Redis
// restarted or failed over" or a changed epoch) and issues IDs again under
// a new one, and the new workers issue IDs, each one's outage measured
// from the fault to its first ID under a lease taken after it.
const (
	rbRunning = 4 // workers running at each fault
	rbFresh   = 3 // workers started right after each fault
	rbWorkers = 8 // worker IDs (3 worker bits): room for all seven
	// rbTTL is the one timing flag the scenarios set; Window (= TTL) and
	// MaxSkew (1s) are the library's defaults. MaxSkew must be below the
	// Window, so TTL 2s is the shortest with both at their defaults.
	rbTTL    = 2 * time.Second
	rbWindow = rbTTL
)

// rbTiming replaces the harness's timing flags: the library's defaults
// apart from the TTL (-window 0: Window = TTL; -max-skew 0: 1s;
// -clock-interval 0: 30s; no -min-replicas: as many as the master has had).
var rbTiming = []string{"-ttl", rbTTL.String(), "-window", "0", "-max-skew", "0", "-clock-interval", "0"}

// chaosEpoch is the workers' layout epoch (their -epoch default); a tick is
// a millisecond since it.
var chaosEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func tickOf(t time.Time) int64 { return t.Sub(chaosEpoch).Milliseconds() }

// runRollback runs every rollback scenario once, and again in turn until d
// has passed.
func runRollback(t *testing.T, d time.Duration) {
	rows := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"rdb-restart", runRDBRestart},
		{"aof-tail-lost", runAOFTailLost},
		{"backup-restored", runBackupRestored},
		{"failover", runReplicaFailover},
		{"slow-fsync", runSlowFsync},
	}
	start := time.Now()
	deadline := start.Add(d)
	for cycle := 0; cycle == 0 || time.Now().Before(deadline); cycle++ {
		for _, r := range rows {
			if cycle > 0 && time.Now().After(deadline) {
				break
			}
			if !t.Run(r.name, r.fn) {
				t.Logf("rollback: %s failed: stopping the rollback scenarios (its evidence is in its log)", r.name)
				return
			}
		}
	}
	t.Logf("rollback: all scenarios took %v", time.Since(start).Round(time.Second))
}

// rollback is one rollback scenario's state.
type rollback struct {
	h    *harness
	kind string
	// vip is the one address the workers use; it follows the master, and
	// is pointed at dead (closing connections at once) while a restarted server's
	// data is read, so that the data is seen before any worker touches it.
	vip  *redistest.Proxy
	dead string
	// dirs are the servers' directories, kept with the ID files when the
	// check fails.
	dirs map[string]string
	// runs caches the runs of each ID file, for the checks after the run.
	runs map[string][]chaos.RunInfo
}

func newRollback(t *testing.T, kind string) *rollback {
	h := newHarness(t, kind)
	h.timing = rbTiming
	return &rollback{h: h, kind: kind, dirs: map[string]string{}, dead: deadAddr(t)}
}

// deadAddr returns an address that closes every connection at once, like
// a server that is down, for as long as the test runs. (A port that was
// free a moment ago will not do: a server started later may get it.)
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err, "listen")
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}

func (s *rollback) worker(name string, px *redistest.Proxy) *proc {
	return s.h.startProc(name, px, 0, "-addr", px.Addr, "-worker-bits", "3")
}

// warmUp starts a worker for every worker ID, waits until all issue IDs
// (a new namespace first waits out its quarantine), checks that every
// worker ID has an HWM, and stops all but keep of them (they release their
// worker IDs, writing their HWMs down to their last ticks).
func (s *rollback) warmUp(admin *redis.Client, keep int) []*proc {
	h := s.h
	var ps []*proc
	for i := range rbWorkers {
		ps = append(ps, s.worker(fmt.Sprintf("w%d", i), s.vip))
	}
	h.waitIssuing(admin, rbWorkers, 40*time.Second)
	st := s.mustRead(admin)
	require.Len(h.t, st.hwm, rbWorkers, "warm-up: worker IDs with an HWM: %s", st.format(tickOf(time.Now())))
	for _, p := range ps[keep:] {
		h.stopProc(p)
	}
	h.note("%s: warm-up: %d workers held all %d worker IDs (each has an HWM now); %d stopped (released), %d run on",
		s.kind, rbWorkers, rbWorkers, rbWorkers-keep, keep)
	return ps[:keep]
}

// holdBack starts a worker behind a gate that refuses its connections
// until open is called: it is running and retrying, so it takes a worker
// ID within a few hundred milliseconds of the gate opening.
func (s *rollback) holdBack(name string) (p *proc, open func()) {
	gate := redistest.NewProxy(s.h.t, s.dead)
	p = s.worker(name, gate)
	return p, func() { gate.SetTarget(s.vip.Addr) }
}

// waitProcIssuing waits until p issues IDs, and returns its worker ID.
func (s *rollback) waitProcIssuing(p *proc, limit time.Duration) int64 {
	h := s.h
	h.t.Helper()
	var w int64
	if !poll(limit, func() bool {
		h.checkAlive()
		var at time.Time
		var ok bool
		w, at, ok = p.issuing()
		return ok && time.Since(at) < 500*time.Millisecond
	}) {
		require.FailNowf(h.t, "worker issues no IDs", "%s: worker %s issues no IDs after %v; its log:\n%s", s.kind, p.name, limit, p.logTail())
	}
	return w
}

// startFresh starts n new workers through the VIP.
func (s *rollback) startFresh(prefix string) []*proc {
	var ps []*proc
	for i := range rbFresh {
		ps = append(ps, s.worker(fmt.Sprintf("%s%d", prefix, i), s.vip))
	}
	return ps
}

// nsState is what one server holds of the namespace, and who it is.
type nsState struct {
	hwm     map[int64]int64  // worker ID → HWM tick
	holder  map[int64]string // worker ID → the holder's name, from its lease key
	epoch   string           // "" when missing
	meta    map[string]string
	info    map[string]string // INFO server and replication
	markers map[string]bool   // chaos:* marker keys present
}

func (s *rollback) leaseKeys() []string {
	var ks []string
	for w := range rbWorkers {
		ks = append(ks, s.h.keys.Lease(int64(w)))
	}
	return ks
}

var rbMarkers = []string{"chaos:before", "chaos:after"}

func (s *rollback) read(c *redis.Client) (nsState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var hwm, meta *redis.MapStringStringCmd
	var epoch *redis.StringCmd
	var leases *redis.SliceCmd
	var infoS, infoR, infoT *redis.StringCmd
	var marks []*redis.IntCmd
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		hwm = p.HGetAll(ctx, s.h.keys.HWM())
		meta = p.HGetAll(ctx, s.h.keys.Meta())
		epoch = p.Get(ctx, s.h.keys.Epoch())
		leases = p.MGet(ctx, s.leaseKeys()...)
		infoS = p.Info(ctx, "server")
		infoR = p.Info(ctx, "replication")
		infoT = p.Info(ctx, "stats")
		for _, m := range rbMarkers {
			marks = append(marks, p.Exists(ctx, m))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nsState{}, err
	}
	st := nsState{hwm: map[int64]int64{}, holder: map[int64]string{}, meta: meta.Val(),
		info: map[string]string{}, markers: map[string]bool{}, epoch: epoch.Val()}
	for k, v := range hwm.Val() {
		w, err1 := strconv.ParseInt(k, 10, 64)
		h, err2 := strconv.ParseInt(v, 10, 64)
		if err1 == nil && err2 == nil {
			st.hwm[w] = h
		}
	}
	for w, v := range leases.Val() {
		if str, ok := v.(string); ok {
			parts := strings.Split(str, "|")
			if len(parts) == 5 {
				st.holder[int64(w)] = parts[1]
			} else {
				st.holder[int64(w)] = str
			}
		}
	}
	for _, text := range []string{infoS.Val(), infoR.Val(), infoT.Val()} {
		for _, line := range strings.Split(text, "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
				st.info[k] = v
			}
		}
	}
	for i, m := range rbMarkers {
		st.markers[m] = marks[i].Val() == 1
	}
	return st, nil
}

// mustRead reads the namespace's state, retrying for a few seconds.
func (s *rollback) mustRead(c *redis.Client) nsState {
	s.h.t.Helper()
	var st nsState
	var err error
	poll(10*time.Second, func() bool { st, err = s.read(c); return err == nil })
	require.NoError(s.h.t, err, "%s: read the namespace's keys", s.kind)
	return st
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// incarnation is what the lease scripts compare with the meta hash's
// server field (lease/server.lua).
func (st nsState) incarnation() string { return st.info["run_id"] + ":" + st.info["master_replid"] }

// format shows the state, HWMs in milliseconds relative to tick ref.
func (st nsState) format(ref int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "run_id %s role %s replid %s replid2 %s offset %s; epoch %s; meta server %s replicas %s",
		short(st.info["run_id"]), st.info["role"], short(st.info["master_replid"]), short(st.info["master_replid2"]),
		st.info["master_repl_offset"], short(st.epoch), shortIncarnation(st.meta["server"]), st.meta["replicas"])
	fmt.Fprintf(&b, "; HWM (ms from the fault)")
	for w := range int64(rbWorkers) {
		if h, ok := st.hwm[w]; ok {
			fmt.Fprintf(&b, " %d:%+d", w, h-ref)
		} else {
			fmt.Fprintf(&b, " %d:none", w)
		}
	}
	fmt.Fprintf(&b, "; leases")
	for w := range int64(rbWorkers) {
		if hd, ok := st.holder[w]; ok {
			fmt.Fprintf(&b, " %d:%s", w, hd)
		}
	}
	var ms []string
	for _, m := range rbMarkers {
		if st.markers[m] {
			ms = append(ms, m)
		}
	}
	fmt.Fprintf(&b, "; markers %v", ms)
	return b.String()
}

func shortIncarnation(s string) string {
	run, repl, ok := strings.Cut(s, ":")
	if !ok {
		return short(s)
	}
	return short(run) + ":" + short(repl)
}

func (s *rollback) mark(c *redis.Client, marker string) {
	s.h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(s.h.t, c.Set(ctx, marker, time.Now().Format(time.RFC3339Nano), 0).Err(), "%s: write %s", s.kind, marker)
}

// crash SIGKILLs srv (with kill, when not nil, before the helper's own
// Kill reaps it), starts the new workers, runs prepare (file surgery) while
// it is down, restarts it and reads its data before the VIP lets any worker
// reach it. before is read right before the kill.
func (s *rollback) crash(srv *redistest.Server, admin *redis.Client, kill, prepare func()) (at time.Time, before, after nsState, fresh []*proc) {
	h := s.h
	before = s.mustRead(admin)
	s.vip.SetTarget(s.dead)
	at = time.Now()
	if kill != nil {
		kill()
	}
	srv.Kill()
	h.fault(s.kind)
	fresh = s.startFresh("n")
	if prepare != nil {
		prepare()
	}
	srv.Restart()
	restarted := time.Now()
	after = s.mustRead(admin)
	read := time.Since(restarted)
	conns := s.vip.Conns()
	s.vip.SetTarget(srv.Addr)
	s.vip.Drop()
	h.note("%s: redis-server SIGKILLed and restarted (down %v; its data read %v later, %s connections received by then, %d through the VIP); %d new workers started right after the kill",
		s.kind, restarted.Sub(at).Round(time.Millisecond), read.Round(time.Millisecond), after.info["total_connections_received"], conns, rbFresh)
	ref := tickOf(at)
	h.note("%s:   before the kill: %s", s.kind, before.format(ref))
	h.note("%s:   after restart:   %s", s.kind, after.format(ref))
	assert.NotEqual(h.t, before.info["run_id"], after.info["run_id"], "%s: the restarted server's run_id", s.kind)
	assert.NotEmpty(h.t, after.epoch, "%s: the restarted server has no epoch key: it lost everything instead of coming back older", s.kind)
	assert.NotEqual(h.t, after.incarnation(), after.meta["server"], "%s: the data names the restarted server itself", s.kind)
	return at, before, after, fresh
}

// lowered lists the worker IDs whose HWM in after is below before.
func lowered(before, after nsState, ref int64) (n int, detail string) {
	var parts []string
	for w := range int64(rbWorkers) {
		b, a := before.hwm[w], after.hwm[w]
		if a < b {
			n++
			parts = append(parts, fmt.Sprintf("%d: %+d → %+d ms", w, b-ref, a-ref))
		}
	}
	return n, strings.Join(parts, ", ")
}

// leaseSplit splits the runs of p's file at fault time at: those issued
// under leases taken before at, and those under leases taken after it. A
// worker started after at has only the latter; one that lost no lease
// after at only the former. For one that did, the new lease's IDs start at
// the first run recorded after the loss under another worker ID or fence
// than the one in force at the loss: a batch the old generator finished as
// it was stopped may be recorded after the loss, under its old fence.
func (s *rollback) leaseSplit(p *chaos.Proc, at time.Time) (old, fresh []chaos.RunInfo, loss time.Time) {
	if s.runs == nil {
		s.runs = map[string][]chaos.RunInfo{}
	}
	runs, ok := s.runs[p.File]
	if !ok {
		runs = runsOf(s.h.t, p)
		s.runs[p.File] = runs
	}
	if p.Started.After(at) {
		return nil, runs, time.Time{}
	}
	for _, l := range p.LeaseLosses {
		if l.After(at) {
			loss = l
			break
		}
	}
	if loss.IsZero() {
		return runs, nil, loss
	}
	var worker, fence int64 = -1, -2
	for i, ru := range runs {
		if ru.Wall.Before(loss) {
			worker, fence = ru.Worker, ru.Fence
			continue
		}
		if ru.Worker != worker || ru.Fence != fence {
			return runs[:i], runs[i:], loss
		}
	}
	return runs, nil, loss
}

// split returns, per worker ID, the highest ID issued under a lease taken
// before at (and by whom), and the lowest under one taken after it.
func (s *rollback) split(r *chaos.Report, at time.Time) (top, low map[int64]namedID) {
	top, low = map[int64]namedID{}, map[int64]namedID{}
	for _, p := range r.Procs {
		old, fresh, _ := s.leaseSplit(p, at)
		for _, ru := range old {
			if t, ok := top[ru.Worker]; !ok || ru.Last > t.id {
				top[ru.Worker] = namedID{p.Name, ru.Last, ru.Wall}
			}
		}
		for _, ru := range fresh {
			if l, ok := low[ru.Worker]; !ok || ru.First < l.id {
				low[ru.Worker] = namedID{p.Name, ru.First, ru.Wall}
			}
		}
	}
	return top, low
}

type namedID struct {
	name string
	id   int64
	wall time.Time // of the fence record the run follows
}

func tickOfID(lay snowflake.Layout, id int64) int64 { return lay.Decompose(snowflake.ID(id)).Tick }

// aboveHWM lists, per worker ID, the highest tick issued under a lease
// taken before at that is above hwm (what a server answers with after the
// fault). want says whether that is the point (a rollback: some must be)
// or a safety violation (a failover with WAIT: none may be).
func (s *rollback) aboveHWM(r *chaos.Report, at time.Time, hwm map[int64]int64, what string, want bool) {
	h := s.h
	lay := r.Procs[0].Layout
	top, _ := s.split(r, at)
	ref := tickOf(at)
	var parts []string
	for w := range int64(rbWorkers) {
		t, ok := top[w]
		if !ok {
			continue
		}
		if tk := tickOfID(lay, t.id); tk > hwm[w] {
			parts = append(parts, fmt.Sprintf("worker %d: %s issued up to tick %+d ms, %s HWM %+d ms",
				w, t.name, tk-ref, what, hwm[w]-ref))
		}
	}
	switch {
	case want && len(parts) == 0:
		assert.Failf(h.t, "the data did not go back", "%s: no ID issued before the fault lies above the %s HWM", s.kind, what)
	case want:
		h.count(s.kind, "worker IDs with IDs issued above the HWM Redis came back with", len(parts))
		h.note("%s:   data: %d worker IDs have IDs issued above the %s HWM (a holder starting just above it would collide): %s",
			s.kind, len(parts), what, strings.Join(parts, "; "))
	case len(parts) > 0:
		assert.Failf(h.t, "IDs issued above the HWM", "%s: IDs issued above the %s HWM (a fence granted without the promoted replica having it): %s",
			s.kind, what, strings.Join(parts, "; "))
	default:
		h.note("%s:   data: every ID issued under a lease from before the fault is at or below the %s HWM", s.kind, what)
	}
}

// verifyOrder checks that with every worker ID, the IDs issued under
// leases taken after at are above those issued under leases taken before.
func (s *rollback) verifyOrder(r *chaos.Report, at time.Time) {
	h := s.h
	lay := r.Procs[0].Layout
	top, low := s.split(r, at)
	var gaps []time.Duration
	for w := range int64(rbWorkers) {
		t, ok1 := top[w]
		l, ok2 := low[w]
		if !ok1 || !ok2 {
			continue
		}
		if !assert.Greater(h.t, l.id, t.id, "%s: worker %d: %s's first ID (tick %d) under a lease taken after the fault against %s's last (tick %d) from before",
			s.kind, w, l.name, tickOfID(lay, l.id), t.name, tickOfID(lay, t.id)) {
			continue
		}
		gap := time.Duration(tickOfID(lay, l.id)-tickOfID(lay, t.id)) * lay.TimeUnit
		gaps = append(gaps, gap)
		if gap < rbWindow {
			h.note("%s:   data: worker %d: only %v between %s's last ID before the fault (recorded %v after it) and %s's first after (%v after it)",
				s.kind, w, gap, t.name, t.wall.Sub(at).Round(time.Millisecond), l.name, l.wall.Sub(at).Round(time.Millisecond))
		}
	}
	slices.Sort(gaps)
	for _, g := range gaps {
		h.sample(s.kind, "first tick after the fault above the last before (per worker ID)", g)
	}
	if len(gaps) > 0 {
		h.note("%s:   data: on %d worker IDs the first ID after the fault is above every ID before it, by %v to %v",
			s.kind, len(gaps), gaps[0].Round(time.Millisecond), gaps[len(gaps)-1].Round(time.Millisecond))
	}
}

// verifyRecovery checks that every process of running lost its lease after
// at and then issued IDs under a new one, and that every process of fresh
// issued IDs; it samples each one's outage (at → first ID under a lease
// taken after at) under label.
func (s *rollback) verifyRecovery(r *chaos.Report, at time.Time, label string, running, fresh []*proc) {
	h := s.h
	reasons := map[string]int{}
	var outs []time.Duration
	for _, p := range running {
		rp := procOf(r, p.name)
		old, next, loss := s.leaseSplit(rp, at)
		if loss.IsZero() {
			assert.Failf(h.t, "lease not lost", "%s: %s, running at the fault, never lost its lease after it; %s", s.kind, p.name, describe(rp, at))
			continue
		}
		for _, o := range rp.Outages {
			if o.End().After(at) && o.Start.Before(loss.Add(time.Second)) && strings.Contains(o.Msg+o.Last, "lost") {
				reasons[lossReasonOf(o.Msg+" "+o.Last)]++
				break
			}
		}
		if len(next) == 0 {
			assert.Failf(h.t, "no ID under a new lease", "%s: %s lost its lease %v after the fault and issued no ID under a new one; %s",
				s.kind, p.name, loss.Sub(at).Round(time.Millisecond), describe(rp, at))
			continue
		}
		d := next[0].Wall.Sub(at)
		outs = append(outs, d)
		h.sample(s.kind, label+": outage of a running worker (fault → first ID under a new lease)", d)
		h.sample(s.kind, label+": lease loss noticed after the fault", loss.Sub(at))
		if len(old) > 0 {
			h.sample(s.kind, label+": a running worker's time without IDs (last ID under the old lease → first under the new)",
				next[0].Wall.Sub(old[len(old)-1].Wall))
		}
	}
	for _, p := range fresh {
		rp := procOf(r, p.name)
		_, runs, _ := s.leaseSplit(rp, at)
		if !assert.NotEmpty(h.t, runs, "%s: %s, started right after the fault, issued no ID", s.kind, p.name) {
			continue
		}
		d := runs[0].Wall.Sub(at)
		outs = append(outs, d)
		h.sample(s.kind, label+": outage of a new worker (fault → its first ID)", d)
	}
	slices.Sort(outs)
	var rs []string
	for k, n := range reasons {
		rs = append(rs, fmt.Sprintf("%q ×%d", k, n))
	}
	sort.Strings(rs)
	if len(outs) > 0 {
		h.note("%s:   data: %s: %d running workers lost their leases (%s) and all %d workers issued IDs again, without an operator: outage median %v, max %v",
			s.kind, label, len(running), strings.Join(rs, ", "), len(outs),
			outs[len(outs)/2].Round(time.Millisecond), outs[len(outs)-1].Round(time.Millisecond))
	}
}

// describe lists p's tenures, lease losses and outages, times from at.
func describe(p *chaos.Proc, at time.Time) string {
	var b strings.Builder
	lay := p.Layout
	for _, tn := range p.Tenures {
		fmt.Fprintf(&b, "tenure worker %d from %v to %v ticks %d..%d (%d IDs); ", tn.Worker,
			tn.From.Sub(at).Round(time.Millisecond), tn.To.Sub(at).Round(time.Millisecond),
			tickOfID(lay, tn.FirstID)-tickOf(at), tickOfID(lay, tn.LastID)-tickOf(at), tn.IDs)
	}
	for _, l := range p.LeaseLosses {
		fmt.Fprintf(&b, "lease lost at %v; ", l.Sub(at).Round(time.Millisecond))
	}
	for _, o := range p.Outages {
		fmt.Fprintf(&b, "outage from %v for %v (%s): %q / %q; ", o.Start.Sub(at).Round(time.Millisecond),
			o.Dur.Round(time.Millisecond), chaos.KindString(o.Kinds), o.Msg, o.Last)
	}
	return b.String()
}

// lossReasonOf picks the lease's loss reason out of a worker's error text.
func lossReasonOf(msg string) string {
	for _, r := range []string{"Redis restarted or failed over", "Redis lost its data (dataset epoch changed)",
		"Redis lost its data (dataset epoch missing)", "expired", "taken"} {
		if strings.Contains(msg, r) {
			return r
		}
	}
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}

// finish stops the workers, checks the files and runs the scenario's
// checks; when uniqueness failed it keeps the evidence.
func (s *rollback) finish(label string) {
	h := s.h
	r := h.check(label)
	h.runPost(r)
	h.printNotes(s.kind)
	if !assert.NoError(h.t, r.Err()) {
		s.keepEvidence()
	}
	h.logf("%s: the scenario took %v", s.kind, time.Since(h.start).Round(100*time.Millisecond))
}

// keepEvidence copies the ID files, worker logs and servers' directories
// somewhere that outlives the test.
func (s *rollback) keepEvidence() {
	h := s.h
	dst, err := os.MkdirTemp("", "idgen-chaos-evidence-"+s.kind+"-")
	if !assert.NoError(h.t, err, "keep the evidence") {
		return
	}
	copyTree := func(src, name string) {
		assert.NoError(h.t, os.CopyFS(filepath.Join(dst, name), os.DirFS(src)), "keep the evidence: copy %s", src)
	}
	copyTree(h.dir, "workers")
	for name, dir := range s.dirs {
		copyTree(dir, "redis-"+name)
	}
	var notes bytes.Buffer
	h.mu.Lock()
	for _, n := range h.notes {
		fmt.Fprintln(&notes, n)
	}
	h.mu.Unlock()
	_ = os.WriteFile(filepath.Join(dst, "notes.txt"), notes.Bytes(), 0o644)
	h.t.Logf("%s: evidence kept in %s (ID files, worker logs, Redis directories, fault log)", s.kind, dst)
}

// runRDBRestart: row 1. Redis with its default snapshots (save 3600 1 300
// 100 60 10000, no AOF). A BGSAVE while the workers run; then a worker
// takes a worker ID and everyone renews for longer than the Window; then
// SIGKILL and a restart from that dump.rdb.
func runRDBRestart(t *testing.T) {
	s := newRollback(t, "rdb-restart")
	h := s.h
	srv, admin, running := s.startWarm(redistest.Config{Args: []string{"--save", "3600 1 300 100 60 10000", "--appendonly", "no"}})
	late, open := s.holdBack("b0")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.mark(admin, "chaos:before")
	last, err := admin.LastSave(ctx).Result()
	require.NoError(t, err)
	snapAt := time.Now()
	require.NoError(t, admin.BgSave(ctx).Err(), "BGSAVE")
	s.mark(admin, "chaos:after") // after the fork: not in the snapshot
	if !poll(10*time.Second, func() bool {
		p := srv.Info(t, "persistence")
		n, _ := admin.LastSave(ctx).Result()
		return p["rdb_bgsave_in_progress"] == "0" && p["rdb_last_bgsave_status"] == "ok" && n > last
	}) {
		require.FailNowf(t, "BGSAVE did not finish", "INFO persistence: %v", srv.Info(t, "persistence"))
	}
	rdb := filepath.Join(srv.Dir(), "dump.rdb")
	sum := fileSum(t, rdb)
	h.note("%s: BGSAVE: dump.rdb written (%s)", s.kind, sum)

	open()
	lateW := s.waitProcIssuing(late, 20*time.Second)
	h.note("%s: %s took worker %d %v after the snapshot", s.kind, late.name, lateW, time.Since(snapAt).Round(time.Millisecond))
	// Everyone runs on past the Window: every HWM in Redis rises above the
	// snapshot's.
	time.Sleep(rbWindow + 500*time.Millisecond)
	require.Equal(t, sum, fileSum(t, rdb), "%s: dump.rdb changed since the BGSAVE: Redis saved again", s.kind)
	at, before, after, fresh := s.crash(srv, admin, nil, nil)
	s.checkMarkers(after)
	s.checkLate(before, after, late, lateW, at)
	if n, d := lowered(before, after, tickOf(at)); assert.NotZero(t, n, "%s: no HWM is lower after the restart: the snapshot was not older", s.kind) {
		h.note("%s:   data: %d HWMs lower after the restart (from the snapshot %v before the kill): %s",
			s.kind, n, at.Sub(snapAt).Round(time.Millisecond), d)
	}
	s.awaitRecovery(admin, at, after, append(running, late), fresh, true)
	s.finish("rdb-restart: RDB snapshot restored after SIGKILL, default options")
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err, "read %s", path)
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%d bytes, sha256 %x…", len(b), sum[:8])
}

// checkMarkers checks that the data came back from between the two
// markers: chaos:before there, chaos:after gone.
func (s *rollback) checkMarkers(after nsState) {
	ok := assert.True(s.h.t, after.markers["chaos:before"], "%s: chaos:before present after the restart", s.kind)
	ok = assert.False(s.h.t, after.markers["chaos:after"], "%s: chaos:after present after the restart", s.kind) && ok
	if !ok {
		return
	}
	s.h.note("%s:   data: marker written before the cut-off point is back, the one written after it is gone", s.kind)
}

// checkLate reports what the restarted data says about worker lateW, which
// late acquired inside the lost stretch, and whether that lease is gone.
func (s *rollback) checkLate(before, after nsState, late *proc, lateW int64, at time.Time) (lost bool) {
	ref := tickOf(at)
	if before.holder[lateW] != late.name {
		s.h.note("%s:   data: before the kill worker %d was held by %q, not %s", s.kind, lateW, before.holder[lateW], late.name)
		return false
	}
	if hd, ok := after.holder[lateW]; ok {
		s.h.note("%s:   data: worker %d, taken by %s after the cut-off point, still has a lease key (%s) after the restart",
			s.kind, lateW, late.name, hd)
		return false
	}
	s.h.count(s.kind, "restarts where the late worker's lease was lost with the data", 1)
	s.h.note("%s:   data: worker %d, taken by %s after the cut-off point, is FREE in the restarted data with HWM %+d ms (it was %+d ms): the lowest-HWM pick for a new worker",
		s.kind, lateW, late.name, after.hwm[lateW]-ref, before.hwm[lateW]-ref)
	return true
}

// awaitRecovery waits until every worker issues IDs again and registers the
// checks of the ID files for after the run.
func (s *rollback) awaitRecovery(c *redis.Client, at time.Time, after nsState, running, fresh []*proc, wantExposed bool) {
	h := s.h
	h.waitIssuing(c, len(running)+len(fresh), 45*time.Second)
	h.sample(s.kind, "whole fleet issuing again after the fault", time.Since(at))
	h.note("%s: all %d workers issue IDs again %v after the fault", s.kind, len(running)+len(fresh), time.Since(at).Round(time.Millisecond))
	time.Sleep(time.Second)
	h.after(func(r *chaos.Report) {
		s.aboveHWM(r, at, after.hwm, "restarted server's", wantExposed)
		s.verifyOrder(r, at)
		s.verifyRecovery(r, at, "restart", running, fresh)
	})
}

// runAOFTailLost: row 2. appendonly yes, appendfsync everysec; a crash
// loses the last second of the AOF: after SIGKILL the incremental AOF file
// is cut back to its size of about a second before (at a command boundary
// outside MULTI/EXEC, so the file is valid; Redis 7.0 also loads a file cut
// mid-record, with aof-load-truncated yes, its default). A worker took its
// worker ID inside that second.
func runAOFTailLost(t *testing.T) {
	s := newRollback(t, "aof-tail-lost")
	h := s.h
	srv, admin, running := s.startWarm(redistest.Config{Args: []string{"--appendonly", "yes", "--appendfsync", "everysec"}})
	late, open := s.holdBack("b0")

	incr := aofIncrFile(t, srv.Dir())
	s.mark(admin, "chaos:before")
	cutAt := time.Now()
	cut := fileSize(t, incr)
	s.mark(admin, "chaos:after")
	open()
	lateW := s.waitProcIssuing(late, 20*time.Second)
	h.note("%s: %s took worker %d %v after the cut-off point", s.kind, late.name, lateW, time.Since(cutAt).Round(time.Millisecond))
	if d := time.Second - time.Since(cutAt); d > 0 {
		time.Sleep(d)
	}
	var size, kept int64
	at, before, after, fresh := s.crash(srv, admin, nil, func() {
		size = fileSize(t, incr)
		kept = cutAOF(t, incr, cut)
	})
	h.note("%s:   the AOF lost its last %v: %s cut from %d to %d bytes (%d lost; the size %v before the kill was %d)",
		s.kind, at.Sub(cutAt).Round(time.Millisecond), filepath.Base(incr), size, kept, size-kept,
		at.Sub(cutAt).Round(time.Millisecond), cut)
	if log := srv.Log(); strings.Contains(log, "Bad file format") || strings.Contains(log, "Unrecoverable") {
		assert.Failf(t, "the cut AOF did not load cleanly", "%s: Redis did not load the cut AOF cleanly:\n%s", s.kind, tail([]byte(log), 2000))
	}
	s.checkMarkers(after)
	s.checkLate(before, after, late, lateW, at)
	if n, d := lowered(before, after, tickOf(at)); n > 0 {
		h.note("%s:   data: %d HWMs lower after the restart: %s", s.kind, n, d)
	}
	s.awaitRecovery(admin, at, after, append(running, late), fresh, true)
	s.finish("aof-tail-lost: appendfsync everysec, last second of the AOF lost, default options")
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

// aofIncrFile returns the last incremental file of dir's multi-part AOF
// (Redis 7: appendonlydir/ with a manifest).
func aofIncrFile(t *testing.T, dir string) string {
	t.Helper()
	aofDir := filepath.Join(dir, "appendonlydir")
	b, err := os.ReadFile(filepath.Join(aofDir, "appendonly.aof.manifest"))
	require.NoError(t, err, "read the AOF manifest (Redis 7 multi-part AOF expected)")
	var incr string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		var name, typ string
		for i := 0; i+1 < len(f); i += 2 {
			switch f[i] {
			case "file":
				name = f[i+1]
			case "type":
				typ = f[i+1]
			}
		}
		if typ == "i" && name != "" {
			incr = name
		}
	}
	require.NotEmpty(t, incr, "no incremental file in the AOF manifest:\n%s", b)
	return filepath.Join(aofDir, incr)
}

// cutAOF truncates the AOF file to the last command boundary at or below
// limit that is outside MULTI/EXEC, and returns the new size.
func cutAOF(t *testing.T, path string, limit int64) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	n := int64(aofBoundary(b, int(min(limit, int64(len(b))))))
	require.NoError(t, os.Truncate(path, n))
	return n
}

// aofBoundary returns the largest offset <= limit in the AOF data b at
// which a command outside MULTI/EXEC ends (0 if none).
func aofBoundary(b []byte, limit int) int {
	off, last, multi := 0, 0, false
	for off < limit {
		name, n, ok := respCommand(b[off:limit])
		if !ok {
			break
		}
		off += n
		switch strings.ToUpper(name) {
		case "MULTI":
			multi = true
		case "EXEC":
			multi = false
		}
		if !multi {
			last = off
		}
	}
	return last
}

// respCommand parses one RESP array of bulk strings at the start of b and
// returns its first element and length; ok is false when b does not hold a
// whole one.
func respCommand(b []byte) (name string, n int, ok bool) {
	line := func(pos int, prefix byte) (int, int, bool) {
		if pos >= len(b) || b[pos] != prefix {
			return 0, 0, false
		}
		end := bytes.Index(b[pos:], []byte("\r\n"))
		if end < 0 {
			return 0, 0, false
		}
		v, err := strconv.Atoi(string(b[pos+1 : pos+end]))
		if err != nil || v < 0 {
			return 0, 0, false
		}
		return v, pos + end + 2, true
	}
	count, pos, ok := line(0, '*')
	if !ok {
		return "", 0, false
	}
	for i := 0; i < count; i++ {
		l, p, ok := line(pos, '$')
		if !ok || l > len(b)-p-2 || string(b[p+l:p+l+2]) != "\r\n" {
			return "", 0, false
		}
		if i == 0 {
			name = string(b[p : p+l])
		}
		pos = p + l + 2
	}
	return name, pos, true
}

// runBackupRestored: row 3. AOF with appendfsync always; a copy of the
// AOF directory taken while the workers run (a backup) is put back after
// a SIGKILL, long after: the epoch key comes back with it, and no operator
// deletes it (the old runbook).
func runBackupRestored(t *testing.T) {
	s := newRollback(t, "backup-restored")
	h := s.h
	srv, admin, running := s.startWarm(redistest.Config{Persist: true})
	late, open := s.holdBack("b0")

	aofDir := filepath.Join(srv.Dir(), "appendonlydir")
	backup := filepath.Join(t.TempDir(), "appendonlydir")
	s.mark(admin, "chaos:before")
	backupAt := time.Now()
	require.NoError(t, os.CopyFS(backup, os.DirFS(aofDir)), "back up the AOF")
	// A copy of a file being appended to may end mid-command: keep whole ones.
	bIncr := filepath.Join(backup, filepath.Base(aofIncrFile(t, srv.Dir())))
	cutAOF(t, bIncr, fileSize(t, bIncr))
	s.mark(admin, "chaos:after")
	open()
	lateW := s.waitProcIssuing(late, 20*time.Second)
	h.note("%s: AOF directory backed up; %s took worker %d %v later", s.kind, late.name, lateW, time.Since(backupAt).Round(time.Millisecond))
	time.Sleep(rbWindow + time.Second)
	at, before, after, fresh := s.crash(srv, admin, nil, func() {
		require.NoError(t, os.RemoveAll(aofDir))
		require.NoError(t, os.CopyFS(aofDir, os.DirFS(backup)), "restore the AOF")
	})
	h.note("%s:   the backup, %v old, put back in place of the AOF directory", s.kind, at.Sub(backupAt).Round(time.Millisecond))
	s.checkMarkers(after)
	s.checkLate(before, after, late, lateW, at)
	if assert.Equal(t, before.epoch, after.epoch, "%s: the restored data's epoch", s.kind) {
		h.note("%s:   data: the restored data has the same epoch key as before (no operator deleted it)", s.kind)
	}
	if n, d := lowered(before, after, tickOf(at)); assert.NotZero(t, n, "%s: no HWM is lower after the restore: the backup was not older", s.kind) {
		h.note("%s:   data: %d HWMs lower after the restore: %s", s.kind, n, d)
	}
	s.awaitRecovery(admin, at, after, append(running, late), fresh, true)
	s.finish("backup-restored: AOF (appendfsync always) backup put back, no operator step, default options")
}

// runSlowFsync: row 5. appendonly yes, appendfsync everysec, and a slow
// disk: strace delays every fsync/fdatasync of redis-server by 2.5s, so
// Redis postpones its AOF write() for up to 2s while it answers clients.
// SIGKILL during such a postponement, then a restart from its own,
// untouched AOF: writes acknowledged to clients are gone.
func runSlowFsync(t *testing.T) {
	s := newRollback(t, "slow-fsync")
	h := s.h
	srv, admin, running := s.startWarm(redistest.Config{Args: []string{"--appendonly", "yes", "--appendfsync", "everysec"}})
	late, open := s.holdBack("b0")

	// A writer of acknowledged increments, to show what the kill loses.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var acked atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
		defer c.Close()
		for ctx.Err() == nil {
			if v, err := c.Incr(ctx, "chaos:acked").Result(); err == nil {
				acked.Store(v)
			} else if ctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	s.mark(admin, "chaos:before")

	const delay = 2500 * time.Millisecond
	straceLog := filepath.Join(h.dir, "strace.log")
	stop := slowFsync(t, srv.PID(), delay, straceLog)
	defer stop()
	// First a whole slow fsync: Redis forced a postponed write after 2s
	// (aof_delayed_fsync). Then, from the next write-out on, the next
	// postponement (aof_buffer_length growing: acknowledged writes only in
	// Redis's memory, for 1 to 2s, as Redis counts whole seconds): let the
	// held-back worker acquire in it, and kill 800ms into it.
	var since time.Time
	prev := 0
	armed, flushed, opened := false, false, false
	var persist map[string]string
	deadline := time.Now().Add(20 * time.Second)
	for {
		require.False(t, time.Now().After(deadline), "%s: no AOF write was postponed for 800ms within 20s after a slow fsync: %v", s.kind, persist)
		persist = srv.Info(t, "persistence")
		n, _ := strconv.Atoi(persist["aof_buffer_length"])
		wrote := n == 0 || n < prev
		prev = n
		switch {
		case !armed:
			armed = persist["aof_delayed_fsync"] != "0"
		case wrote:
			flushed, since = true, time.Time{}
		case flushed && since.IsZero():
			since = time.Now()
			if !opened {
				s.mark(admin, "chaos:after")
				open()
				opened = true
			}
		}
		if !since.IsZero() && time.Since(since) > 800*time.Millisecond {
			if _, at, ok := late.issuing(); ok && at.After(since) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	postponed := time.Since(since)
	lateW, _, lateOK := late.issuing()
	var lastAcked int64
	// SIGKILL, then strace at once: a thread held in a delayed fsync
	// otherwise keeps the killed process around until the delay ends. Once
	// the SIGKILL is sent no thread returns to user space, so nothing is
	// written after it.
	at, before, after, fresh := s.crash(srv, admin, func() {
		_ = syscall.Kill(srv.PID(), syscall.SIGKILL)
		stop()
	}, func() {
		cancel()
		wg.Wait()
		lastAcked = acked.Load()
	})
	delayed := strings.Count(readFile(straceLog), "(DELAYED)")
	h.note("%s:   before the kill: INFO persistence aof_buffer_length %s (postponed for %v), aof_pending_bio_fsync %s, aof_delayed_fsync %s; strace delayed %d fsync calls by %v",
		s.kind, persist["aof_buffer_length"], postponed.Round(time.Millisecond), persist["aof_pending_bio_fsync"],
		persist["aof_delayed_fsync"], delayed, delay)
	if delayed == 0 {
		assert.Failf(t, "strace delayed no fsync", "%s: log %s:\n%s", s.kind, straceLog, tail([]byte(readFile(straceLog)), 2000))
	}
	gctx, gcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer gcancel()
	restored, err := admin.Get(gctx, "chaos:acked").Int64()
	assert.NoError(t, err, "%s: read chaos:acked after the restart", s.kind)
	if assert.Less(t, restored, lastAcked, "%s: chaos:acked after the restart against the last acknowledged: no acknowledged write was lost", s.kind) {
		h.count(s.kind, "acknowledged increments lost", int(lastAcked-restored))
		h.note("%s:   data: acknowledged writes LOST: chaos:acked was acknowledged up to %d, the restarted server has %d (%d lost)",
			s.kind, lastAcked, restored, lastAcked-restored)
	}
	assert.True(t, after.markers["chaos:before"], "%s: chaos:before is missing after the restart", s.kind)
	lateLost := false
	if lateOK {
		lateLost = s.checkLate(before, after, late, lateW, at)
	} else {
		h.note("%s:   %s had not taken a worker ID before the kill", s.kind, late.name)
	}
	if n, d := lowered(before, after, tickOf(at)); n > 0 {
		h.note("%s:   data: %d HWMs lower after the restart: %s", s.kind, n, d)
	}
	s.awaitRecovery(admin, at, after, append(running, late), fresh, lateLost)
	s.finish("slow-fsync: appendfsync everysec, fsync delayed 2.5s, SIGKILL, default options")
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// slowFsync attaches strace to every thread of pid and delays each fsync
// and fdatasync by d. stop kills it, which detaches it (it also ends with
// the process).
// It fails the test, with how to install strace, when strace is missing or
// cannot trace.
func slowFsync(t *testing.T, pid int, d time.Duration, logPath string) (stop func()) {
	t.Helper()
	bin, err := exec.LookPath("strace")
	require.NoError(t, err, "strace is not on PATH: the slow-fsync chaos scenario delays redis-server's fsync with it; "+
		"install it with `apt-get install -y strace`")
	us := d.Microseconds()
	cmd := exec.Command(bin, "-f", "-T", "-p", strconv.Itoa(pid), "-o", logPath,
		"-e", "trace=fsync,fdatasync",
		"-e", fmt.Sprintf("inject=fdatasync:delay_enter=%d", us),
		"-e", fmt.Sprintf("inject=fsync:delay_enter=%d", us))
	errPath := logPath + ".stderr"
	ef, err := os.Create(errPath)
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = ef, ef
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		ef.Close()
		require.NoError(t, err, "start strace")
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); ef.Close(); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			select {
			case <-done:
				return
			default:
			}
			_ = cmd.Process.Kill() // the tracees are detached
			<-done
		})
	}
	t.Cleanup(stop)
	// strace reports on stderr once it has attached.
	if !poll(10*time.Second, func() bool {
		select {
		case <-done:
			return true
		default:
		}
		return strings.Contains(readFile(errPath), "attached")
	}) || !strings.Contains(readFile(errPath), "attached") {
		stop()
		require.FailNowf(t, "strace did not attach", "strace did not attach to redis-server (pid %d); it needs ptrace (root or CAP_SYS_PTRACE, "+
			"kernel.yama.ptrace_scope <= 1). Its output:\n%s", pid, readFile(errPath))
	}
	return stop
}

// runReplicaFailover: row 4. A master and one replica (its replication
// link through a proxy), the workers through one VIP that follows the
// master, default options (the namespace remembers the replica and every
// acquire and renewal waits for it). Three faults in turn, each with four
// workers running and three new ones started right after it:
//
//   - failover-partitioned: the replication link is cut; the master goes
//     on taking writes (the renewals' HWM raises, which the replica never
//     sees); then the master is killed and the replica promoted.
//   - failover: a new replica; the master is killed and it is promoted.
//   - split-brain: a new replica; the link is cut and the replica promoted
//     while the old master stays up, two workers still reaching it through
//     their own address: they must stop at their fences, since no renewal
//     can get a replica's acknowledgement. Then the split heals.
func runReplicaFailover(t *testing.T) {
	s := newRollback(t, "failover")
	h := s.h
	master := redistest.Start(t, redistest.Config{})
	link := redistest.NewProxy(t, master.Addr)
	replica := redistest.Start(t, redistest.Config{ReplicaOf: link.Addr})
	redistest.WaitSynced(t, master, replica)
	s.dirs["m0"], s.dirs["r1"] = master.Dir(), replica.Dir()
	s.vip = redistest.NewProxy(t, master.Addr)
	mc := master.Client(t)
	running := s.warmUp(mc, rbRunning)
	s.waitReplicas(mc, 1)

	// 1. The replication link cut, the master killed, the replica promoted.
	s.kind = "failover-partitioned"
	cutAt := time.Now()
	link.Cut(redistest.Both)
	h.fault(s.kind)
	s.mark(mc, "chaos:after")
	time.Sleep(rbWindow + 500*time.Millisecond) // every holder reaches its fence
	rc := replica.Client(t)
	at, masterSt, replicaSt := s.killPromote(master, mc, replica, rc)
	fresh := s.startFresh("p")
	s.retarget(replica)
	h.note("%s: replication link cut for %v (the master kept taking writes), then the master SIGKILLed and the replica promoted",
		s.kind, at.Sub(cutAt).Round(time.Millisecond))
	s.checkBehind(masterSt, replicaSt, at, true)
	s.failoverChecks(rc, cutAt, at, replicaSt, running, fresh)

	// 2. A new replica; the master killed, the replica promoted, no partition.
	s.kind = "failover"
	running = s.keep(running, fresh)
	master, mc = replica, rc
	_, replica = s.attachReplica(master, mc, "r2")
	h.waitIssuing(mc, rbRunning, 30*time.Second)
	time.Sleep(time.Second)
	rc = replica.Client(t)
	at, masterSt, replicaSt = s.killPromote(master, mc, replica, rc)
	fresh = s.startFresh("q")
	s.retarget(replica)
	h.fault(s.kind)
	h.note("%s: the master SIGKILLed and the replica promoted", s.kind)
	s.checkBehind(masterSt, replicaSt, at, false)
	s.failoverChecks(rc, at, at, replicaSt, running, fresh)

	// 3. Split brain.
	s.kind = "split-brain"
	running = s.keep(running, fresh)
	master, mc = replica, rc
	link, replica = s.attachReplica(master, mc, "r3")
	// Two of the four go through their own address, which will stay on
	// the old master.
	side := redistest.NewProxy(t, master.Addr)
	for _, p := range running[rbRunning/2:] {
		h.stopProc(p)
	}
	groupB := running[:rbRunning/2]
	var groupA []*proc
	for i := range rbRunning - rbRunning/2 {
		groupA = append(groupA, s.worker(fmt.Sprintf("a%d", i), side))
	}
	h.waitIssuing(mc, rbRunning, 30*time.Second)
	time.Sleep(time.Second)
	cutAt = time.Now()
	link.Cut(redistest.Both)
	h.fault(s.kind)
	time.Sleep(500 * time.Millisecond)
	rc = replica.Client(t)
	promoteAt := time.Now()
	promote(t, replica)
	replicaSt = s.mustRead(rc)
	fresh = s.startFresh("s")
	s.retarget(replica)
	h.note("%s: replication link cut, the replica promoted %v later while the old master %s stays up; %v reach the old master, %v and %d new workers the promoted replica",
		s.kind, promoteAt.Sub(cutAt).Round(time.Millisecond), master.Addr, names(groupA), names(groupB), rbFresh)
	h.note("%s:   promoted replica at promotion: %s", s.kind, replicaSt.format(tickOf(cutAt)))
	time.Sleep(rbWindow + 2*time.Second)
	masterSt = s.mustRead(mc)
	h.note("%s:   old master before the heal:    %s", s.kind, masterSt.format(tickOf(cutAt)))
	s.checkBehind(masterSt, replicaSt, cutAt, true)
	assert.True(t, master.Running(), "%s: the old master is not running during the split", s.kind)
	// Heal: the old address follows the promoted replica, and the old
	// master becomes its replica (as Sentinel would reconfigure it).
	healAt := time.Now()
	side.SetTarget(replica.Addr)
	side.Drop()
	host, port, _ := net.SplitHostPort(replica.Addr)
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	assert.NoError(t, mc.Do(dctx, "REPLICAOF", host, port).Err(), "%s: make the old master a replica", s.kind)
	dcancel()
	h.note("%s: healed %v after the cut: the old master's address follows the promoted replica, the old master is its replica",
		s.kind, healAt.Sub(cutAt).Round(time.Millisecond))
	all := append(append(append([]*proc(nil), groupA...), groupB...), fresh...)
	h.waitIssuing(rc, len(all), 45*time.Second)
	h.note("%s: all %d workers issue IDs again %v after the promotion", s.kind, len(all), time.Since(promoteAt).Round(time.Millisecond))
	time.Sleep(time.Second)
	kind := s.kind
	h.after(func(r *chaos.Report) {
		s.kind = kind
		s.aboveHWM(r, cutAt, replicaSt.hwm, "promoted replica's", false)
		s.verifyOrder(r, cutAt)
		s.verifyStopped(r, cutAt, healAt, groupA)
		s.verifyRecovery(r, promoteAt, "promotion", groupB, fresh)
		s.verifyRecovery(r, healAt, "old master's side after the heal", groupA, nil)
	})
	s.kind = "failover"
	s.finish("replica failover (partitioned, plain, split brain), default options")
}

func names(ps []*proc) []string {
	var ns []string
	for _, p := range ps {
		ns = append(ns, p.name)
	}
	return ns
}

// keep stops workers so that rbRunning run on: the oldest of running go
// first.
func (s *rollback) keep(running, fresh []*proc) []*proc {
	all := append(append([]*proc(nil), running...), fresh...)
	n := len(all) - rbRunning
	for _, p := range all[:n] {
		s.h.stopProc(p)
	}
	return all[n:]
}

// waitReplicas waits until the namespace remembers n replicas.
// startWarm starts the scenario's Redis with cfg behind the VIP and warms
// the namespace up (every worker ID with an HWM), leaving rbRunning-1
// workers running.
func (s *rollback) startWarm(cfg redistest.Config) (*redistest.Server, *redis.Client, []*proc) {
	t := s.h.t
	srv := redistest.Start(t, cfg)
	s.dirs["master"] = srv.Dir()
	admin := srv.Client(t)
	s.vip = redistest.NewProxy(t, srv.Addr)
	return srv, admin, s.warmUp(admin, rbRunning-1)
}

// attachReplica starts a replica of master whose replication link goes
// through a proxy of its own (to be cut), and waits until master counts it.
func (s *rollback) attachReplica(master *redistest.Server, mc *redis.Client, name string) (*redistest.Proxy, *redistest.Server) {
	t := s.h.t
	link := redistest.NewProxy(t, master.Addr)
	replica := redistest.Start(t, redistest.Config{ReplicaOf: link.Addr})
	s.dirs[name] = replica.Dir()
	redistest.WaitSynced(t, master, replica)
	s.waitReplicas(mc, 1)
	return link, replica
}

func (s *rollback) waitReplicas(c *redis.Client, n int) {
	s.h.t.Helper()
	var got string
	if !poll(20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		got, _ = c.HGet(ctx, s.h.keys.Meta(), "replicas").Result()
		return got == strconv.Itoa(n)
	}) {
		require.Equal(s.h.t, strconv.Itoa(n), got, "%s: the replicas the namespace remembers", s.kind)
	}
}

// killPromote reads the master, SIGKILLs it, reads the replica (nobody
// else reaches it yet) and promotes it.
func (s *rollback) killPromote(master *redistest.Server, mc *redis.Client, replica *redistest.Server, rc *redis.Client) (at time.Time, masterSt, replicaSt nsState) {
	masterSt = s.mustRead(mc)
	s.vip.SetTarget(s.dead)
	at = time.Now()
	master.Kill()
	replicaSt = s.mustRead(rc)
	promote(s.h.t, replica)
	return at, masterSt, replicaSt
}

// retarget points the VIP at srv and drops its connections.
func (s *rollback) retarget(srv *redistest.Server) {
	s.vip.SetTarget(srv.Addr)
	s.vip.Drop()
}

func promote(t *testing.T, srv *redistest.Server) {
	t.Helper()
	c := redis.NewClient(srv.Options())
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Do(ctx, "REPLICAOF", "NO", "ONE").Err(), "promote %s", srv.Addr)
	var role string
	poll(5*time.Second, func() bool { role = srv.Info(t, "replication")["role"]; return role == "master" })
	require.Equal(t, "master", role, "promote %s", srv.Addr)
}

// checkBehind shows how far the replica was behind the master.
func (s *rollback) checkBehind(masterSt, replicaSt nsState, at time.Time, want bool) {
	h := s.h
	mo, _ := strconv.ParseInt(masterSt.info["master_repl_offset"], 10, 64)
	ro, _ := strconv.ParseInt(replicaSt.info["master_repl_offset"], 10, 64)
	n, d := lowered(masterSt, replicaSt, tickOf(at))
	h.note("%s:   data: replication offset master %d, replica %d (%d bytes behind); marker written after the cut on the replica %v; HWMs lower on the replica: %d (%s)",
		s.kind, mo, ro, mo-ro, replicaSt.markers["chaos:after"], n, d)
	assert.False(h.t, want && (ro >= mo || n == 0), "%s: the replica is not behind the master (offsets %d / %d, %d lower HWMs)", s.kind, ro, mo, n)
}

// failoverChecks waits for the fleet on the promoted replica and registers
// the checks of the ID files.
func (s *rollback) failoverChecks(rc *redis.Client, cutAt, at time.Time, replicaSt nsState, running, fresh []*proc) {
	h := s.h
	promoted := s.mustRead(rc)
	h.note("%s:   replica before promotion: %s", s.kind, replicaSt.format(tickOf(at)))
	h.note("%s:   promoted:                 %s", s.kind, promoted.format(tickOf(at)))
	assert.NotEmpty(h.t, strings.Trim(promoted.info["master_replid2"], "0"), "%s: the promoted replica has no master_replid2", s.kind)
	h.waitIssuing(rc, len(running)+len(fresh), 45*time.Second)
	h.sample(s.kind, "whole fleet issuing again after the fault", time.Since(at))
	h.note("%s: all %d workers issue IDs again %v after the kill", s.kind, len(running)+len(fresh), time.Since(at).Round(time.Millisecond))
	time.Sleep(time.Second)
	kind := s.kind
	h.after(func(r *chaos.Report) {
		s.kind = kind
		s.aboveHWM(r, cutAt, replicaSt.hwm, "promoted replica's", false)
		s.verifyOrder(r, cutAt)
		if cutAt.Before(at) {
			s.verifyStopped(r, cutAt, at, running)
		}
		s.verifyRecovery(r, at, "kill", running, fresh)
	})
}

// verifyStopped checks that the workers of ps issued no ID under their
// leases from before from later than the Window after from until to (a
// margin of a second for scheduling), and reports when each stopped.
func (s *rollback) verifyStopped(r *chaos.Report, from, to time.Time, ps []*proc) {
	h := s.h
	limit := from.Add(rbWindow + time.Second)
	var parts []string
	for _, p := range ps {
		var last time.Time
		for _, ru := range runsOf(h.t, procOf(r, p.name)) {
			if ru.Wall.Before(to) {
				last = ru.Wall
			}
		}
		assert.False(h.t, last.After(limit), "%s: %s issued IDs %v after the cut, later than the Window (%v): it went on without a replica's acknowledgement",
			s.kind, p.name, last.Sub(from).Round(time.Millisecond), rbWindow)
		parts = append(parts, fmt.Sprintf("%s %v", p.name, last.Sub(from).Round(time.Millisecond)))
		h.sample(s.kind, "cut → a worker's last ID on the cut-off master", last.Sub(from))
	}
	h.note("%s:   data: last ID issued on the cut-off master, after the cut: %s (Window %v)", s.kind, strings.Join(parts, ", "), rbWindow)
}

// TestLeaseSplit: a batch the old generator finished as it was stopped is
// recorded after the lease loss, under the old fence record (no new one
// within 20ms); it belongs to the old lease, and the new lease, on the same
// worker ID, starts at the next fence.
func TestLeaseSplit(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.ids")
	t0 := time.Now()
	at := t0.Add(100 * time.Millisecond)
	w, err := chaos.Create(file, chaos.Header{Name: "p", Layout: testLayout, Started: t0})
	require.NoError(t, err)
	tick := tickOf(t0)
	require.NoError(t, w.Batch(ids(t, tick, 3, 0, 9), 3, tick+2000, t0))
	require.NoError(t, w.Batch(ids(t, tick+150, 3, 0, 9), 3, tick+2000, at.Add(50*time.Millisecond)))
	loss := at.Add(60 * time.Millisecond)
	require.NoError(t, w.LeaseLost(loss, 1))
	require.NoError(t, w.Batch(ids(t, tick+160, 3, 0, 9), 3, tick+2000, loss)) // stale: same fence, within 20ms
	require.NoError(t, w.Batch(ids(t, tick+3000, 3, 0, 9), 3, tick+5000, at.Add(3*time.Second)))
	require.NoError(t, w.Final(nil))
	require.NoError(t, w.Close())
	r, err := chaos.Check([]string{file})
	require.NoError(t, err)
	s := &rollback{h: &harness{t: t}}
	old, fresh, gotLoss := s.leaseSplit(r.Procs[0], at)
	assert.True(t, gotLoss.Equal(time.Unix(0, loss.UnixNano())), "loss at %v, want %v", gotLoss, loss)
	assert.Len(t, old, 3, "runs under the old lease")
	require.Len(t, fresh, 1, "runs under the new lease")
	assert.Equal(t, int64(id(t, tick+3000, 3, 0)), fresh[0].First, "first ID under the new lease")
}
