package chaos_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/test/chaos"
)

// Timing of every run: short, so that faults take effect within seconds.
// Window > TTL, so that a node paused past its TTL resumes with headroom left
// and really issues IDs after its worker ID was taken over: the case the
// fence exists for.
const (
	ttl     = time.Second
	window  = 2 * time.Second
	renew   = ttl / 3 // the library's default
	maxSkew = 1500 * time.Millisecond
	// clockOffset is injected (+ and -) into two nodes of the main run.
	clockOffset = time.Second
)

var (
	buildOnce sync.Once
	workerBin string
	buildErr  error
)

// buildWorker builds the worker binary once per test binary, with -race when
// the test binary has it (the race-built dependencies are then in the build
// cache already) unless -chaos.race says otherwise.
func buildWorker(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "idgen-chaos-bin-")
		if err != nil {
			buildErr = err
			return
		}
		workerBin = filepath.Join(dir, "worker")
		goBin, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("the go command is not on PATH: %w", err)
			return
		}
		args := []string{"build", "-o", workerBin}
		race := *flagRace == "on" || (*flagRace == "auto" && raceEnabled)
		if race {
			args = append(args, "-race")
		}
		args = append(args, "github.com/snowlease/idgen/test/chaos/worker")
		start := time.Now()
		out, err := exec.Command(goBin, args...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			return
		}
		fmt.Printf("chaos: built the worker (race %v) in %v\n", race, time.Since(start).Round(time.Millisecond))
	})
	require.NoError(t, buildErr, "build the worker binary")
	return workerBin
}

// harness runs worker processes for one scenario and keeps the fault log.
type harness struct {
	t     *testing.T
	bin   string
	dir   string
	ns    string
	keys  lease.Keys // the namespace's key names
	start time.Time
	rng   *rand.Rand

	mu     sync.Mutex
	procs  []*proc
	faults map[string]int
	notes  []string
	// post are checks of the ID files that faults leave for after the run.
	post []func(r *chaos.Report)
	// samples and counts aggregate observations per fault kind.
	samples map[string]map[string][]time.Duration
	counts  map[string]map[string]int
	kills   int // workers killed by node-kill, to name their successors
	// timing, when set, replaces the workers' -ttl, -window and -max-skew
	// flags (the rollback scenarios run with the library's defaults).
	timing []string
}

// sample records a duration observed after a fault of kind.
func (h *harness) sample(kind, name string, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.samples[kind] == nil {
		h.samples[kind] = map[string][]time.Duration{}
	}
	h.samples[kind][name] = append(h.samples[kind][name], d)
}

// count adds n to a counter of fault kind.
func (h *harness) count(kind, name string, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts[kind] == nil {
		h.counts[kind] = map[string]int{}
	}
	h.counts[kind][name] += n
}

// aggregates formats the samples and counts per fault kind.
func (h *harness) aggregates() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	kinds := map[string]bool{}
	for k := range h.faults {
		kinds[k] = true
	}
	for k := range h.samples {
		kinds[k] = true
	}
	for k := range h.counts {
		kinds[k] = true
	}
	var names []string
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, "  %s: injected %d\n", k, h.faults[k])
		var cs []string
		for n := range h.counts[k] {
			cs = append(cs, n)
		}
		sort.Strings(cs)
		for _, n := range cs {
			fmt.Fprintf(&b, "    %s: %d\n", n, h.counts[k][n])
		}
		var ss []string
		for n := range h.samples[k] {
			ss = append(ss, n)
		}
		sort.Strings(ss)
		for _, n := range ss {
			v := append([]time.Duration(nil), h.samples[k][n]...)
			sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
			q := func(f float64) time.Duration { return v[int(f*float64(len(v)-1))].Round(time.Millisecond) }
			fmt.Fprintf(&b, "    %s: n %d, min %v, median %v, p95 %v, max %v\n", n, len(v), q(0), q(0.5), q(0.95), q(1))
		}
	}
	return b.String()
}

// after registers a check of the ID files for after the run.
func (h *harness) after(f func(r *chaos.Report)) { h.post = append(h.post, f) }

// runPost runs the checks registered with after.
func (h *harness) runPost(r *chaos.Report) {
	for _, f := range h.post {
		f(r)
	}
}

func newHarness(t *testing.T, name string) *harness {
	t.Helper()
	bin := buildWorker(t)
	dir := t.TempDir()
	if *flagKeep {
		var err error
		dir, err = os.MkdirTemp("", "idgen-chaos-"+name+"-")
		require.NoError(t, err)
		t.Logf("keeping the ID files in %s", dir)
	}
	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (-chaos.seed to replay the fault order)", seed)
	ns := "chaos-" + name
	h := &harness{t: t, bin: bin, dir: dir, ns: ns, keys: lease.KeysOf(ns), start: time.Now(),
		rng: rand.New(rand.NewPCG(seed, 0x5eed)), faults: map[string]int{},
		samples: map[string]map[string][]time.Duration{}, counts: map[string]map[string]int{}}
	t.Cleanup(h.killAll)
	return h
}

// logf logs with the time since the scenario started.
func (h *harness) logf(format string, args ...any) {
	h.t.Helper()
	h.t.Logf("%7.2fs "+format, append([]any{time.Since(h.start).Seconds()}, args...)...)
}

// note is logf that also goes into the scenario's report.
func (h *harness) note(format string, args ...any) {
	h.t.Helper()
	msg := fmt.Sprintf(format, args...)
	h.mu.Lock()
	h.notes = append(h.notes, fmt.Sprintf("%7.2fs %s", time.Since(h.start).Seconds(), msg))
	h.mu.Unlock()
	h.logf("%s", msg)
}

func (h *harness) fault(kind string) {
	h.mu.Lock()
	h.faults[kind]++
	h.mu.Unlock()
}

// proc is one worker process.
type proc struct {
	name    string
	file    string
	proxy   *redistest.Proxy // nil when the node talks to Redis directly
	probe   *redis.Client    // a client through proxy
	offset  time.Duration
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // exit status, after done
	paused  bool
	killed  bool     // ended with SIGKILL by a fault: its file may end mid-record
	stopped bool     // ended with SIGTERM by the scenario (stopProc)
	extra   []string // the worker's extra arguments, to restart it
}

func (p *proc) status() string { return strings.TrimSuffix(p.file, ".ids") + ".status" }

// issuing returns the worker ID p issued its last batch with and when, from
// its status file.
func (p *proc) issuing() (w int64, at time.Time, ok bool) {
	b, err := os.ReadFile(p.status())
	if err != nil {
		return 0, time.Time{}, false
	}
	var ns, ids int64
	if _, err := fmt.Sscanf(string(b), "worker %d at %d ids %d", &w, &ns, &ids); err != nil {
		return 0, time.Time{}, false
	}
	return w, time.Unix(0, ns), true
}

// startProc starts a worker with the common flags and extra.
func (h *harness) startProc(name string, proxy *redistest.Proxy, offset time.Duration, extra ...string) *proc {
	h.t.Helper()
	p := &proc{name: name, file: filepath.Join(h.dir, name+".ids"), proxy: proxy, offset: offset,
		done: make(chan struct{}), extra: extra}
	if proxy != nil {
		p.probe = h.probe(proxy.Addr)
	}
	timing := h.timing
	if timing == nil {
		timing = []string{"-ttl", ttl.String(), "-window", window.String(), "-max-skew", maxSkew.String()}
	}
	args := []string{
		"-out", p.file, "-name", name, "-namespace", h.ns,
		"-clock-offset", offset.String(), "-pace", flagPace.String(), "-log", "warn",
		"-status", p.status(),
	}
	args = append(args, timing...)
	args = append(args, extra...)
	stderr, err := os.Create(filepath.Join(h.dir, name+".log"))
	require.NoError(h.t, err)
	p.cmd = exec.Command(h.bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = stderr, stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		stderr.Close()
		require.NoError(h.t, err, "start worker %s", name)
	}
	go func() {
		p.err = p.cmd.Wait()
		stderr.Close()
		close(p.done)
	}()
	h.mu.Lock()
	h.procs = append(h.procs, p)
	h.mu.Unlock()
	return p
}

func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
	}
}

func (p *proc) pause()  { p.signal(syscall.SIGSTOP); p.paused = true }
func (p *proc) resume() { p.signal(syscall.SIGCONT); p.paused = false }

// checkAlive fails the test when a worker has exited on its own.
func (h *harness) checkAlive() {
	h.t.Helper()
	for _, p := range h.procs {
		if p.killed || p.stopped {
			continue
		}
		select {
		case <-p.done:
			require.FailNowf(h.t, "worker exited by itself", "worker %s exited by itself (%v); its log:\n%s", p.name, p.err, p.logTail())
		default:
		}
	}
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(strings.TrimSuffix(p.file, ".ids") + ".log")
	return tail(b, 3000)
}

// killAll is the cleanup of last resort: nothing outlives the test.
func (h *harness) killAll() {
	for _, p := range h.procs {
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

// stopProc ends one worker with SIGTERM (it releases its worker ID) and
// checks that it exited 0 within a bound.
func (h *harness) stopProc(p *proc) {
	h.t.Helper()
	p.stopped = true
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		assert.NoError(h.t, p.err, "worker %s after SIGTERM; its log:\n%s", p.name, p.logTail())
	case <-time.After(30 * time.Second):
		assert.Failf(h.t, "worker did not exit", "worker %s did not exit within 30s of SIGTERM", p.name)
		p.signal(syscall.SIGKILL)
		<-p.done
	}
}

// stopAll ends every worker with SIGTERM and checks that each exited 0
// within a bound.
func (h *harness) stopAll() {
	h.t.Helper()
	for _, p := range h.procs {
		if p.paused {
			p.resume()
		}
		p.signal(syscall.SIGTERM)
	}
	deadline := time.After(30 * time.Second)
	for _, p := range h.procs {
		if p.killed {
			continue
		}
		select {
		case <-p.done:
			assert.NoError(h.t, p.err, "worker %s after SIGTERM; its log:\n%s", p.name, p.logTail())
		case <-deadline:
			assert.Failf(h.t, "worker did not exit", "worker %s did not exit within 30s of SIGTERM", p.name)
			p.signal(syscall.SIGKILL)
			<-p.done
		}
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// byHost maps the host recorded in a lease (the worker's name) to its proc.
func (h *harness) byHost(host string) *proc {
	for _, p := range h.procs {
		if p.name == host {
			return p
		}
	}
	return nil
}

// byName returns the proc named name; the report's entries carry the name.
func (h *harness) byName(name string) *proc {
	if p := h.byHost(name); p != nil {
		return p
	}
	require.FailNowf(h.t, "no such worker", "no worker named %s", name)
	return nil
}

// listLeases lists the namespace's leases.
func (h *harness) listLeases(c redis.UniversalClient) ([]lease.Info, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return lease.List(ctx, c, h.ns)
}

// leases lists the namespace's leases, retrying for a few seconds before it
// fails the test.
func (h *harness) leases(c redis.UniversalClient) []lease.Info {
	h.t.Helper()
	var ls []lease.Info
	var err error
	poll(10*time.Second, func() bool { ls, err = h.listLeases(c); return err == nil })
	require.NoError(h.t, err, "list leases")
	return ls
}

// holder returns the proc holding worker w (by the lease's host), or nil
// (also when the leases cannot be listed right now).
func (h *harness) holder(c redis.UniversalClient, w int64) *proc {
	ls, _ := h.listLeases(c)
	for _, l := range ls {
		if l.WorkerID == w {
			return h.byHost(l.Host)
		}
	}
	return nil
}

// waitIssuing waits until n worker IDs are held by the harness's workers
// and each of those workers issued IDs with its worker ID in the last half
// second, or fails after limit.
func (h *harness) waitIssuing(c redis.UniversalClient, n int, limit time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		held, issuing := 0, 0
		ls, err := h.listLeases(c)
		for _, l := range ls {
			p := h.byHost(l.Host)
			if p == nil {
				continue
			}
			held++
			if w, at, ok := p.issuing(); ok && w == l.WorkerID && time.Since(at) < 500*time.Millisecond {
				issuing++
			}
		}
		if issuing >= n {
			return
		}
		h.checkAlive()
		require.False(h.t, time.Now().After(deadline), "after %v only %d of %d worker IDs are held and %d issuing (list: %v); worker logs in %s",
			limit, held, n, issuing, err, h.dir)
		time.Sleep(50 * time.Millisecond)
	}
}

// pickHolder picks a random running worker that holds a lease, and its
// worker ID. exclude lists workers not to pick.
func (h *harness) pickHolder(c redis.UniversalClient, exclude ...*proc) (*proc, int64) {
	h.t.Helper()
	var cands []lease.Info
	for _, l := range h.leases(c) {
		p := h.byHost(l.Host)
		if p == nil || p.paused || contains(exclude, p) {
			continue
		}
		cands = append(cands, l)
	}
	require.NotEmpty(h.t, cands, "no worker holds a lease")
	sort.Slice(cands, func(i, j int) bool { return cands[i].WorkerID < cands[j].WorkerID })
	l := cands[h.rng.IntN(len(cands))]
	return h.byHost(l.Host), l.WorkerID
}

func contains(ps []*proc, p *proc) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// poll calls f every 25ms until it returns true or limit passes; it
// reports whether f returned true.
func poll(limit time.Duration, f func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// check stops the workers, checks their files and prints the summary.
func (h *harness) check(label string) *chaos.Report {
	h.t.Helper()
	h.stopAll()
	files, err := chaos.Files(h.dir)
	require.NoError(h.t, err)
	start := time.Now()
	r, err := chaos.Check(files)
	require.NoError(h.t, err, "check")
	summary := fmt.Sprintf("%s [%s, %v, checked in %v]", r.Summary(h.faults), label,
		time.Since(h.start).Round(time.Second), time.Since(start).Round(time.Millisecond))
	h.t.Log(summary)
	fmt.Println(summary)
	if *flagReport != "" {
		appendReport(h.t, summary)
	}
	for _, p := range r.Procs {
		h.logf("  %-8s ids %-11d tenures %-3d outages %-3d lease losses %-3d skew %-8v clean %v counters %v",
			p.Name, p.IDs, len(p.Tenures), len(p.Outages), len(p.LeaseLosses),
			p.Skew.Round(time.Millisecond), p.Clean, p.Counters)
		assert.True(h.t, p.Clean || h.byName(p.Name).killed, "worker %s: file does not end cleanly (truncated %v)", p.Name, p.Truncated)
	}
	return r
}

var reportMu sync.Mutex

func appendReport(t *testing.T, lines ...string) {
	reportMu.Lock()
	defer reportMu.Unlock()
	f, err := os.OpenFile(*flagReport, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if !assert.NoError(t, err, "report") {
		return
	}
	defer f.Close()
	for _, l := range lines {
		fmt.Fprintln(f, l)
	}
}

// printNotes prints the fault log and observations.
func (h *harness) printNotes(title string) {
	h.mu.Lock()
	notes := append([]string(nil), h.notes...)
	h.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "chaos %s: fault log\n", title)
	for _, n := range notes {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	fmt.Fprintf(&b, "chaos %s: per fault kind (outage = a worker's time without IDs, from its first failed call to its next ID)\n%s",
		title, h.aggregates())
	fmt.Print(b.String())
	if *flagReport != "" {
		appendReport(h.t, b.String())
	}
}

// probe returns a client for addr that honours context deadlines and does
// not retry, to see whether a server answers; closed when the test ends.
func (h *harness) probe(addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1,
		DialTimeout: time.Second, PoolSize: 2})
	h.t.Cleanup(func() { _ = c.Close() })
	return c
}

// ping reports whether c answers a PING within d.
func ping(c redis.UniversalClient, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return c.Ping(ctx).Err()
}

// runsOf returns the runs of p's file.
func runsOf(t *testing.T, p *chaos.Proc) []chaos.RunInfo {
	t.Helper()
	var rs []chaos.RunInfo
	require.NoError(t, chaos.Runs(p.File, func(r chaos.RunInfo) bool { rs = append(rs, r); return true }), "read %s", p.File)
	return rs
}

// procOf returns the report entry of the worker named name.
func procOf(r *chaos.Report, name string) *chaos.Proc {
	for _, p := range r.Procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// waitTakeover waits up to the TTL and 15 s more for a worker other than
// victim to hold worker ID w, and returns it.
func (h *harness) waitTakeover(c redis.UniversalClient, victim *proc, w int64) (*proc, bool) {
	var taker *proc
	taken := poll(ttl+15*time.Second, func() bool {
		taker = h.holder(c, w)
		return taker != nil && taker != victim
	})
	return taker, taken
}

// nodePause SIGSTOPs a worker holding a lease for longer than the TTL and
// until another worker has taken its worker ID, then SIGCONTs it.
func (h *harness) nodePause(c redis.UniversalClient) {
	h.t.Helper()
	victim, w := h.pickHolder(c)
	at := time.Now()
	victim.pause()
	h.fault("node-pause")
	taker, taken := h.waitTakeover(c, victim, w)
	takenAt := time.Now()
	if d := ttl + 200*time.Millisecond - time.Since(at); d > 0 {
		time.Sleep(d)
	}
	victim.resume()
	end := time.Now()
	if !assert.True(h.t, taken, "node-pause: worker ID %d of %s was not taken over within %v", w, victim.name, ttl+15*time.Second) {
		return
	}
	h.sample("node-pause", "pause", end.Sub(at))
	h.sample("node-pause", "takeover seen after", takenAt.Sub(at))
	h.note("node-pause: %s (worker %d) SIGSTOPped for %v (TTL %v, Window %v); %s took worker %d after %v",
		victim.name, w, end.Sub(at).Round(time.Millisecond), ttl, window, taker.name, w, takenAt.Sub(at).Round(time.Millisecond))
	h.after(func(r *chaos.Report) { h.verifyTakeover(r, "node-pause", victim, taker, w, at, takenAt, end) })
}

// nodeKill ends a worker holding a lease with SIGKILL, so that it neither
// releases its lease nor finishes its file, waits until another worker has
// taken its worker ID (after the TTL), and starts a new process in its place
// with the same proxy and clock offset. The new process writes its own file.
func (h *harness) nodeKill(c redis.UniversalClient) {
	h.t.Helper()
	victim, w := h.pickHolder(c)
	at := time.Now()
	victim.killed = true
	victim.signal(syscall.SIGKILL)
	<-victim.done
	h.fault("node-kill")
	taker, taken := h.waitTakeover(c, victim, w)
	takenAt := time.Now()
	h.kills++
	name := fmt.Sprintf("%sk%d", victim.name, h.kills)
	h.startProc(name, victim.proxy, victim.offset, victim.extra...)
	if !assert.True(h.t, taken, "node-kill: worker ID %d of %s was not taken over within %v", w, victim.name, ttl+15*time.Second) {
		return
	}
	h.sample("node-kill", "takeover seen after", takenAt.Sub(at))
	h.note("node-kill: %s (worker %d) killed with SIGKILL (TTL %v); %s took worker %d after %v; %s started in its place",
		victim.name, w, ttl, taker.name, w, takenAt.Sub(at).Round(time.Millisecond), name)
	h.after(func(r *chaos.Report) { h.verifyTakeover(r, "node-kill", victim, taker, w, at, takenAt, at) })
}
