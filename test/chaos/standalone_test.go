package chaos_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/clockguard"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/snowflake"
	"github.com/snowlease/idgen/test/chaos"
)

// The main run: ten workers, each through its own fault proxy, share eight
// worker IDs (3 worker bits) on one standalone Redis without persistence.
// Two spares mean that a worker ID freed by a fault is taken over at once.
const (
	standaloneProcs   = 10
	standaloneWorkers = 8
)

type standalone struct {
	h     *harness
	srv   *redistest.Server
	admin *redis.Client
	probe *redis.Client // for liveness: honours deadlines, no retries
}

type namedFault struct {
	name string
	fn   func()
}

func runStandalone(t *testing.T, d time.Duration) {
	h := newHarness(t, "standalone")
	srv := redistest.Start(t, redistest.Config{})
	s := &standalone{h: h, srv: srv, admin: srv.Client(t), probe: h.probe(srv.Addr)}
	for i := range standaloneProcs {
		px := redistest.NewProxy(t, srv.Addr)
		var off time.Duration
		switch i {
		case 0:
			off = clockOffset
		case 1:
			off = -clockOffset
		}
		h.startProc(fmt.Sprintf("n%02d", i), px, off, "-addr", px.Addr, "-worker-bits", "3")
	}
	h.fault("clock-offset")
	h.fault("clock-offset")
	h.note("clock-offset: n00 runs %v ahead, n01 %v behind (MaxSkew %v) for the whole run", clockOffset, clockOffset, maxSkew)
	// A new namespace waits out the start-up quarantine (Window + MaxSkew).
	h.waitIssuing(s.admin, standaloneWorkers, 30*time.Second)
	h.note("all %d worker IDs held and issuing", standaloneWorkers)

	faults := []namedFault{
		{"node-pause", func() { h.nodePause(s.admin) }},
		{"node-kill", func() { h.nodeKill(s.admin) }},
		{"redis-pause-short", s.redisPauseShort},
		{"lease-overwrite", s.leaseOverwrite},
		{"redis-pause-long", s.redisPauseLong},
		{"script-flush", s.scriptFlush},
		{"proxy-cut", s.proxyCut},
		{"lease-delete", s.leaseDelete},
		{"redis-restart", s.redisRestart},
		{"latency-spike", s.latencySpike},
	}
	deadline := time.Now().Add(d)
	for cycle := 0; ; cycle++ {
		order := faults
		if cycle > 0 {
			order = slices.Clone(faults)
			h.rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		for _, f := range order {
			if cycle > 0 && time.Now().After(deadline) {
				break
			}
			f.fn()
			if t.Failed() {
				break
			}
			s.settle()
		}
		if t.Failed() || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(time.Second)
	r := h.check("standalone")
	s.checkClocks(r)
	h.runPost(r)
	h.printNotes("standalone")
	assert.NoError(t, r.Err())
	assert.NotZero(t, r.Handovers(), "no worker ID changed hands: the faults did not bite")
	h.logf("handovers %d, IDs with an unknown fence %d", r.Handovers(), r.Unfenced)
}

// settle waits until every worker ID is held by a worker that issues IDs
// with it again, and a little longer, so that the next fault starts from a
// healthy fleet and the effects of two faults do not mix.
func (s *standalone) settle() {
	time.Sleep(time.Second)
	s.h.waitIssuing(s.admin, standaloneWorkers, 30*time.Second)
	time.Sleep(1500 * time.Millisecond)
}

// verifyTakeover checks in the ID files that taker really issued IDs with
// worker ID w after the fault on victim began at faultAt, all above every ID
// victim issued with w under the lease the fault cost it, and reports what
// the victim issued after the fault ended at endAt (the taker held w from
// takenAt).
func (h *harness) verifyTakeover(r *chaos.Report, kind string, victim, taker *proc, w int64, faultAt, takenAt, endAt time.Time) {
	t := h.t
	t.Helper()
	vp, tp := procOf(r, victim.name), procOf(r, taker.name)
	var vt, tt *chaos.Tenure
	for i := range vp.Tenures {
		if tn := &vp.Tenures[i]; tn.Worker == w && !tn.From.After(faultAt) {
			vt = tn
		}
	}
	for i := range tp.Tenures {
		if tn := &tp.Tenures[i]; tn.Worker == w && tn.From.After(faultAt) {
			tt = tn
			break
		}
	}
	if !assert.NotNil(t, tt, "%s: %s took worker ID %d (per its lease) but its file has no ID with it after the fault", kind, taker.name, w) {
		return
	}
	lay := vp.Layout
	tick := func(id int64) int64 { return lay.Decompose(snowflake.ID(id)).Tick }
	if vt == nil {
		h.note("%s: %s had issued no ID with worker %d before the fault; %s's first on it at tick %d",
			kind, victim.name, w, taker.name, tick(tt.FirstID))
		return
	}
	assert.Less(t, vt.LastID, tt.FirstID, "%s: %s's last ID with worker %d is not below %s's first after the takeover",
		kind, victim.name, w, taker.name)
	var late uint64
	for _, ru := range runsOf(t, vp) {
		if ru.Worker == w && ru.Wall.After(endAt) && ru.First >= vt.FirstID && ru.Last <= vt.LastID {
			late += uint64(ru.Last - ru.First + 1)
		}
	}
	gap := time.Duration(tick(tt.FirstID)-tick(vt.LastID)) * lay.TimeUnit
	h.count(kind, "takeovers checked in the data", 1)
	if late > 0 {
		h.count(kind, "takeovers where the victim issued IDs after the fault (old lease, below the fence)", 1)
	}
	h.sample(kind, "taker's first tick above victim's last", gap)
	h.sample(kind, "taker's first ID after the takeover was seen", tt.From.Sub(takenAt))
	h.note("%s:   data: %s issued %d IDs with worker %d after the fault ended (old lease, below its fence); "+
		"its last tick %d, %s's first tick %d (%v above); %s issued its first ID %v after the test saw the takeover",
		kind, victim.name, late, w, tick(vt.LastID), taker.name, tick(tt.FirstID), gap,
		taker.name, tt.From.Sub(takenAt).Round(time.Millisecond))
}

// pauseRedis SIGSTOPs Redis for d and checks that it really stopped
// answering.
func (s *standalone) pauseRedis(kind string, d time.Duration) (at, end time.Time) {
	h := s.h
	at = time.Now()
	s.srv.Pause()
	h.fault(kind)
	assert.Error(h.t, ping(s.probe, 200*time.Millisecond), "%s: Redis answered a PING while SIGSTOPped", kind)
	time.Sleep(d - time.Since(at))
	s.srv.Resume()
	end = time.Now()
	assert.True(h.t, poll(5*time.Second, func() bool { return ping(s.probe, time.Second) == nil }), "%s: Redis does not answer after SIGCONT", kind)
	h.note("%s: Redis SIGSTOPped for %v (Window %v, TTL %v)", kind, end.Sub(at).Round(time.Millisecond), window, ttl)
	return at, end
}

func (s *standalone) redisPauseShort() {
	at, end := s.pauseRedis("redis-pause-short", window/3)
	s.h.after(func(r *chaos.Report) {
		s.h.noteOutages(r, "redis-pause-short", at, end.Add(time.Second), 0)
	})
}

func (s *standalone) redisPauseLong() {
	at, end := s.pauseRedis("redis-pause-long", window+time.Second)
	s.h.after(func(r *chaos.Report) {
		n := s.h.noteOutages(r, "redis-pause-long", at, end.Add(time.Second), chaos.KindFenced)
		assert.NotZero(s.h.t, n, "redis-pause-long: no worker reached its fence while Redis was stopped for longer than the Window")
	})
}

// noteOutages reports the outages that began between from and to, and
// returns how many of them had an error of kind want (0: any).
func (h *harness) noteOutages(r *chaos.Report, kind string, from, to time.Time, want uint64) int {
	n, matched := 0, 0
	var durs []time.Duration
	kinds := map[string]int{}
	msg, last := "", ""
	procs := map[string]bool{}
	for _, p := range r.Procs {
		for _, o := range p.Outages {
			if o.Start.Before(from) || o.Start.After(to) {
				continue
			}
			n++
			procs[p.Name] = true
			kinds[chaos.KindString(o.Kinds)]++
			durs = append(durs, o.Dur)
			if want == 0 || o.Kinds&want != 0 {
				matched++
			}
			if msg == "" {
				msg, last = o.Msg, o.Last
			}
		}
	}
	losses := 0
	for _, p := range r.Procs {
		for _, l := range p.LeaseLosses {
			if !l.Before(from) && !l.After(to) {
				losses++
			}
		}
	}
	h.count(kind, "lease losses (all workers)", losses)
	h.count(kind, "outages (all workers)", n)
	for _, d := range durs {
		h.sample(kind, "outage", d)
	}
	if n == 0 {
		h.count(kind, "injections no worker saw an error for", 1)
		h.note("%s:   data: no worker saw an error; %d lease losses", kind, losses)
		return 0
	}
	slices.Sort(durs)
	h.note("%s:   data: %d outages on %d workers, median %v, longest %v (a worker left without a free worker ID waits for one), kinds %v, %d lease losses; e.g. first error %q, last %q",
		kind, n, len(procs), durs[len(durs)/2].Round(time.Millisecond), durs[len(durs)-1].Round(time.Millisecond),
		kinds, losses, msg, last)
	return matched
}

func (s *standalone) redisRestart() {
	h := s.h
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	epochKey := h.keys.Epoch()
	require.NoError(h.t, s.admin.Set(ctx, "chaos:marker", "1", 0).Err(), "redis-restart")
	oldEpoch, err := s.admin.Get(ctx, epochKey).Result()
	require.NoError(h.t, err, "redis-restart: read the dataset epoch")
	at := time.Now()
	s.srv.Restart()
	h.fault("redis-restart")
	n, err := s.admin.Exists(ctx, "chaos:marker").Result()
	assert.NoError(h.t, err, "redis-restart: look for the marker key")
	assert.Zero(h.t, n, "redis-restart: marker key still there: Redis kept its data")
	var newEpoch string
	if !poll(20*time.Second, func() bool {
		newEpoch, _ = s.admin.Get(ctx, epochKey).Result()
		return newEpoch != "" && newEpoch != oldEpoch
	}) {
		assert.Failf(h.t, "epoch not renewed", "redis-restart: the dataset epoch was not renewed after the restart (still %q)", newEpoch)
	}
	h.sample("redis-restart", "dataset epoch renewed after", time.Since(at))
	h.note("redis-restart: Redis restarted without persistence (every key gone, marker verified); dataset epoch renewed by the fleet after %v",
		time.Since(at).Round(time.Millisecond))
	h.after(func(r *chaos.Report) {
		n := h.noteOutages(r, "redis-restart", at, at.Add(3*time.Second), chaos.KindLost)
		assert.NotZero(h.t, n, "redis-restart: no worker lost its lease when Redis lost every key")
	})
}

// proxyCut blackholes a worker's traffic to Redis until its worker ID is
// taken and its fence surely reached, then restores it.
func (s *standalone) proxyCut() {
	h := s.h
	victim, w := h.pickHolder(s.admin)
	at := time.Now()
	victim.proxy.Cut(redistest.Both)
	h.fault("proxy-cut")
	taker, taken := h.waitTakeover(s.admin, victim, w)
	takenAt := time.Now()
	if d := window + time.Second - time.Since(at); d > 0 {
		time.Sleep(d)
	}
	victim.proxy.Restore()
	end := time.Now()
	if !assert.True(h.t, taken, "proxy-cut: worker ID %d of %s was not taken over within %v", w, victim.name, ttl+15*time.Second) {
		return
	}
	h.note("proxy-cut: %s (worker %d) cut off Redis both ways for %v; %s took worker %d after %v",
		victim.name, w, end.Sub(at).Round(time.Millisecond), taker.name, w, takenAt.Sub(at).Round(time.Millisecond))
	h.after(func(r *chaos.Report) {
		vp := procOf(r, victim.name)
		fenced := false
		for _, o := range vp.Outages {
			if o.Start.After(at) && o.Start.Before(end) && o.Kinds&chaos.KindFenced != 0 {
				fenced = true
				h.sample("proxy-cut", "victim fenced after the cut", o.Start.Sub(at))
				h.note("proxy-cut:   data: %s fenced %v after the cut, for %v (%s): %q",
					victim.name, o.Start.Sub(at).Round(time.Millisecond), o.Dur.Round(time.Millisecond),
					chaos.KindString(o.Kinds), o.Msg)
				break
			}
		}
		assert.True(h.t, fenced, "proxy-cut: %s, cut off for longer than the Window, never reached its fence", victim.name)
		h.verifyTakeover(r, "proxy-cut", victim, taker, w, at, takenAt, end)
	})
}

// latencySpike delays every byte between three workers and Redis by more
// than the renew interval, for a while.
func (s *standalone) latencySpike() {
	h := s.h
	const lat = 500 * time.Millisecond // > renew interval (TTL/3)
	var victims []*proc
	for range 3 {
		p, _ := h.pickHolder(s.admin, victims...)
		victims = append(victims, p)
	}
	_ = ping(victims[0].probe, time.Second) // connect before the spike
	at := time.Now()
	for _, p := range victims {
		p.proxy.SetLatency(redistest.Both, lat)
	}
	h.fault("latency-spike")
	// The connection was made before the spike (its handshake is not
	// measured); latency applies to everything read from now on.
	t0 := time.Now()
	err := ping(victims[0].probe, 5*time.Second)
	rtt := time.Since(t0)
	assert.NoError(h.t, err, "latency-spike: a PING through the proxy")
	assert.GreaterOrEqual(h.t, rtt, 2*lat-100*time.Millisecond, "latency-spike: a PING through the proxy, want about %v", 2*lat)
	if d := 2500*time.Millisecond - time.Since(at); d > 0 {
		time.Sleep(d)
	}
	for _, p := range victims {
		p.proxy.SetLatency(redistest.Both, 0)
	}
	end := time.Now()
	names := []string{victims[0].name, victims[1].name, victims[2].name}
	h.note("latency-spike: %v each way (PING round trip %v; renew interval %v) for %v on %v",
		lat, rtt.Round(time.Millisecond), renew.Round(time.Millisecond), end.Sub(at).Round(time.Millisecond), names)
	h.after(func(r *chaos.Report) { h.noteOutages(r, "latency-spike", at, end.Add(2*time.Second), 0) })
}

// leaseOverwrite replaces a held lease key with another holder's value, as a
// misbehaving client would.
func (s *standalone) leaseOverwrite() { s.h.stealLease(s.admin, "lease-overwrite", true) }

// leaseDelete deletes a held lease key.
func (s *standalone) leaseDelete() { s.h.stealLease(s.admin, "lease-delete", false) }

func (h *harness) stealLease(c redis.UniversalClient, kind string, overwrite bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var victim *proc
	var w int64
	var at time.Time
	for try := 0; ; try++ {
		victim, w = h.pickHolder(c)
		key := h.keys.Lease(w)
		at = time.Now()
		var ok bool
		if overwrite {
			val := fmt.Sprintf("chaos-thief-%d|chaos-thief|1|%d|0", h.rng.Int64(), time.Now().UnixMilli())
			ok, _ = c.SetXX(ctx, key, val, 3*ttl).Result()
		} else {
			n, _ := c.Del(ctx, key).Result()
			ok = n == 1
		}
		if ok {
			break
		}
		if try == 5 {
			assert.Failf(h.t, "lease key vanished", "%s: the lease key of %s vanished under us five times", kind, victim.name)
			return
		}
	}
	h.fault(kind)
	what := "deleted"
	if overwrite {
		what = "overwritten by a foreign holder for 3 TTLs"
	}
	h.note("%s: lease key of %s (worker %d) %s", kind, victim.name, w, what)
	h.after(func(r *chaos.Report) {
		vp := procOf(r, victim.name)
		lost := false
		for _, l := range vp.LeaseLosses {
			if l.After(at) && l.Before(at.Add(ttl+time.Second)) {
				lost = true
				h.sample(kind, "victim noticed the loss after", l.Sub(at))
				h.note("%s:   data: %s noticed the loss %v later", kind, victim.name, l.Sub(at).Round(time.Millisecond))
				break
			}
		}
		assert.True(h.t, lost, "%s: %s did not record losing its lease within %v", kind, victim.name, ttl+time.Second)
		// Who used worker w next, and how far above.
		for _, hd := range r.Holders(w) {
			if hd.From.After(at) && r.Procs[hd.Proc].Name != victim.name {
				h.note("%s:   data: %s issued with worker %d next, from %v after the fault",
					kind, r.Procs[hd.Proc].Name, w, hd.From.Sub(at).Round(time.Millisecond))
				break
			}
		}
		h.noteOutages(r, kind, at, at.Add(2*time.Second), 0)
	})
}

// scriptFlush empties Redis's script cache; the workers must fall back to
// EVAL without losing their leases. The cache is watched through INFO
// (number_of_cached_scripts): only the lease scripts run on this server.
func (s *standalone) scriptFlush() {
	h := s.h
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cached := func(info string) int {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "number_of_cached_scripts:"); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		return -1
	}
	scripts := func() int { return cached(s.admin.Info(ctx, "memory").Val()) }
	if !assert.True(h.t, poll(5*time.Second, func() bool { return scripts() > 0 }), "script-flush: no script in the cache before the flush") {
		return
	}
	holders := map[string]bool{}
	for _, l := range h.leases(s.admin) {
		holders[l.Host] = true
	}
	var after *redis.StringCmd
	at := time.Now()
	_, err := s.admin.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ScriptFlush(ctx)
		after = p.Info(ctx, "memory")
		return nil
	})
	h.fault("script-flush")
	if !assert.NoError(h.t, err, "script-flush") || !assert.Zero(h.t, cached(after.Val()), "script-flush: scripts left after SCRIPT FLUSH") {
		return
	}
	if !assert.True(h.t, poll(5*time.Second, func() bool { return scripts() > 0 }), "script-flush: the workers did not send a script again within 5s") {
		return
	}
	h.sample("script-flush", "a script back in the cache after", time.Since(at))
	h.note("script-flush: script cache flushed; a lease script was back in the cache (EVAL after NOSCRIPT) after %v",
		time.Since(at).Round(time.Millisecond))
	h.after(func(r *chaos.Report) {
		for _, p := range r.Procs {
			if !holders[p.Name] {
				continue
			}
			for _, l := range p.LeaseLosses {
				assert.False(h.t, l.After(at) && l.Before(at.Add(2*time.Second)), "script-flush: %s lost its lease %v after SCRIPT FLUSH", p.Name, l.Sub(at))
			}
		}
		h.noteOutages(r, "script-flush", at, at.Add(2*time.Second), 0)
	})
}

// checkClocks checks that the injected offsets really moved the IDs' time.
func (s *standalone) checkClocks(r *chaos.Report) {
	h := s.h
	for _, p := range r.Procs {
		if p.SkewSamples == 0 {
			continue
		}
		assert.InDelta(h.t, p.ClockOffset, p.Skew, float64(250*time.Millisecond), "clock-offset: how far %s's IDs are off the wall clock", p.Name)
		if p.ClockOffset != 0 {
			events := map[string]int{}
			for _, e := range p.ClockEvents {
				events[clockguard.EventKind(e.Kind).String()]++
			}
			h.note("clock-offset:   data: %s (offset %v): IDs %v off the real wall clock (%d samples); %d outages, %d lease losses, clock events %v",
				p.Name, p.ClockOffset, p.Skew.Round(time.Millisecond), p.SkewSamples, len(p.Outages), len(p.LeaseLosses), events)
		}
	}
}
