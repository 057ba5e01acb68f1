package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen/clockguard"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/snowflake"
)

// level is a check's result; the doctor's exit code is the worst level.
type level int

const (
	pass level = iota
	warn
	failed
)

func (l level) String() string {
	return [...]string{"PASS", "WARN", "FAIL"}[l]
}

type result struct {
	name  string
	level level
	msg   string
}

// doctor runs the checks against one Redis.
type doctor struct {
	client       redis.UniversalClient
	where        string
	ns           string
	layout       snowflake.Layout
	layoutName   string
	layoutForced bool // --layout was given explicitly
	maxSkew      time.Duration
	minReplicas  int
	timeout      time.Duration
}

func runDoctor(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("doctor", "[--namespace NS] [--layout L] [--min-replicas N] [--max-skew D]", `
Check that the Redis idgen points at is fit for it (uniqueness rests only on
Redis not evicting the namespace's keys; the rest decides outages), and print
one line per check: PASS, WARN or FAIL, with what to do.

  connection   reachable, authenticated; server version and mode
  persistence  appendonly/appendfsync/save: what a restart costs (not uniqueness)
  eviction     maxmemory-policy: can Redis drop leases or high-water marks?
  replication  role, replicas, the replicas the namespace remembers, and WAIT
  clock        this host's clock against Redis TIME (against --max-skew)
  acl          the commands and keys the library runs are allowed for this user
  namespace    the layout fingerprint the namespace recorded, leases in use

Exit code: the worst result: 0 all pass, 1 some warn, 2 some fail.`)
	var conn connFlags
	conn.register(fs, e.getenv)
	ns := fs.String("namespace", "idgen", "lease `namespace` to inspect")
	layout := newLayoutFlag()
	fs.Var(layout, "layout", layoutUsage+"; checked against the namespace's")
	maxSkew := fs.Duration("max-skew", time.Second, "clock offset bound the generators use (Options.MaxSkew)")
	minReplicas := fs.Int("min-replicas", 0, "replicas the generators wait for at least (Options.MinReplicas; -1: never)")
	if code, done := parseFlags(fs, e, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, "doctor", "unexpected argument %q", fs.Arg(0))
	}
	if *minReplicas < -1 || *minReplicas > 100 {
		return usageError(e, "doctor", "--min-replicas is %d, allowed -1 (never wait), 0 (every replica the master has had) to 100", *minReplicas)
	}
	if *maxSkew <= 0 {
		return usageError(e, "doctor", "--max-skew must be positive, got %v", *maxSkew)
	}
	forced := explicit(fs, "layout")

	client, err := conn.client()
	if err != nil {
		return usageError(e, "doctor", "%v", err)
	}
	defer client.Close()
	d := &doctor{
		client: client, where: conn.describe(), ns: *ns, layout: layout.layout, layoutName: layout.name,
		layoutForced: forced, maxSkew: *maxSkew, minReplicas: *minReplicas, timeout: conn.timeout,
	}
	fmt.Fprintf(e.stdout, "idgen doctor: %s, namespace %q\n", d.where, d.ns)
	worst := pass
	counts := [3]int{}
	d.run(ctx, func(r result) {
		counts[r.level]++
		worst = max(worst, r.level)
		printResult(e.stdout, r)
	})
	fmt.Fprintf(e.stdout, "%d pass, %d warn, %d fail\n", counts[pass], counts[warn], counts[failed])
	return int(worst)
}

func printResult(w io.Writer, r result) {
	lines := strings.Split(r.msg, "\n")
	fmt.Fprintf(w, "%s  %-12s %s\n", r.level, r.name, lines[0])
	for _, l := range lines[1:] {
		fmt.Fprintf(w, "      %-12s %s\n", "", l)
	}
}

// run reports each check's result as it completes. When Redis cannot be
// reached the other checks are skipped.
func (d *doctor) run(ctx context.Context, report func(result)) {
	r := d.checkConnection(ctx)
	report(r)
	if r.level == failed {
		return
	}
	n, err := d.node(ctx)
	if err != nil {
		report(result{"cluster", failed, fmt.Sprintf("cannot find the master of namespace %q's slot: %v", d.ns, err)})
		return
	}
	report(d.onNode(ctx, "persistence", n, d.checkPersistence))
	report(d.onNode(ctx, "eviction", n, d.checkEviction))
	report(d.onNode(ctx, "replication", n, d.checkReplication))
	report(d.checkClock(ctx))
	report(d.checkACL(ctx))
	report(d.checkNamespace(ctx))
}

func (d *doctor) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, 2*d.timeout)
}

func (d *doctor) checkConnection(ctx context.Context) result {
	cctx, cancel := d.ctx(ctx)
	defer cancel()
	if err := d.client.Ping(cctx).Err(); err != nil {
		return result{"connection", failed, fmt.Sprintf("cannot reach Redis at %s: %v%s", d.where, err, connAdvice(err))}
	}
	msg := "PONG from " + d.where
	if info, err := d.client.Info(cctx, "server").Result(); err == nil {
		f := infoFields(info)
		msg += fmt.Sprintf(": Redis %s, %s mode", f["redis_version"], f["redis_mode"])
	}
	return result{"connection", pass, msg}
}

// node is the Redis server the checks of server settings run against.
type node struct {
	name string
	c    nodeClient
}

// nodeClient is what the per-server checks use; *redis.Client and
// redis.UniversalClient satisfy it.
type nodeClient interface {
	redis.Cmdable
	Do(ctx context.Context, args ...any) *redis.Cmd
}

// node is the server whose settings matter: the one the client talks to,
// or on a cluster the master of the namespace's slot, which holds every key
// of the namespace.
func (d *doctor) node(ctx context.Context) (node, error) {
	cc, ok := d.client.(*redis.ClusterClient)
	if !ok {
		return node{name: d.where, c: d.client}, nil
	}
	c, err := cc.MasterForKey(ctx, lease.KeysOf(d.ns).Meta())
	if err != nil {
		return node{}, err
	}
	return node{name: c.Options().Addr, c: c}, nil
}

// onNode runs a check of server settings on n; on a cluster the message
// names the node.
func (d *doctor) onNode(ctx context.Context, name string, n node, check func(context.Context, node) (level, string)) result {
	cctx, cancel := d.ctx(ctx)
	defer cancel()
	l, msg := check(cctx, n)
	if _, ok := d.client.(*redis.ClusterClient); ok {
		msg = "namespace master " + n.name + ": " + msg
	}
	return result{name, l, msg}
}

// checkPersistence says what a restart of this server costs. Uniqueness
// does not rest on persistence any more: a restarted server (from any
// persistence, or none) is another incarnation, which the lease scripts
// notice and answer with a quarantine. So every setting passes; the message
// says what the next restart does.
func (d *doctor) checkPersistence(ctx context.Context, n node) (level, string) {
	const cost = "a restart is another server incarnation: running holders lose their leases and every holder " +
		"waits out a quarantine of Window + MaxSkew; uniqueness does not rest on persistence"
	cfg, err := n.c.ConfigGet(ctx, "append*").Result()
	if err == nil {
		var save map[string]string
		save, err = n.c.ConfigGet(ctx, "save").Result()
		for k, v := range save {
			cfg[k] = v
		}
	}
	if err != nil {
		return pass, fmt.Sprintf("persistence settings unknown (CONFIG GET: %v); %s", err, cost)
	}
	aof, fsync, snapshots := cfg["appendonly"] == "yes", cfg["appendfsync"], strings.TrimSpace(cfg["save"]) != ""
	switch {
	case aof:
		return pass, fmt.Sprintf("AOF with appendfsync %s; %s", fsync, cost)
	case snapshots:
		return pass, fmt.Sprintf("RDB snapshots only (save %q): a restart comes back with older data; %s", cfg["save"], cost)
	}
	return pass, "no persistence: a restart loses every key; " + cost
}

func (d *doctor) checkEviction(ctx context.Context, n node) (level, string) {
	info, err := n.c.Info(ctx, "memory").Result()
	if err != nil {
		return warn, fmt.Sprintf("cannot read INFO memory (%v): make sure maxmemory-policy is noeviction", err)
	}
	f := infoFields(info)
	policy, limit := f["maxmemory_policy"], f["maxmemory"]
	unlimited := ""
	if limit == "0" {
		unlimited = " (maxmemory is 0, so nothing is evicted until a limit is set)"
	}
	switch {
	case policy == "noeviction":
		return pass, "maxmemory-policy noeviction: Redis refuses writes when full instead of dropping keys"
	case strings.HasPrefix(policy, "allkeys-"):
		return failed, fmt.Sprintf("maxmemory-policy %s can evict high-water marks and the dataset-epoch key "+
			"under memory pressure (each loss costs a quarantine), so generators refuse to start on it unless "+
			"AllowEviction is set%s; set maxmemory-policy noeviction", policy, unlimited)
	case strings.HasPrefix(policy, "volatile-"):
		return warn, fmt.Sprintf("maxmemory-policy %s can evict lease keys (they have a TTL) under memory "+
			"pressure: holders then lose their leases early and stop at their fence (an outage, not a "+
			"duplicate); high-water marks have no TTL and stay%s; set maxmemory-policy noeviction", policy, unlimited)
	}
	return warn, fmt.Sprintf("unknown maxmemory-policy %q; noeviction is the safe one", policy)
}

// checkReplication checks what the generators will wait for against what
// the master has: every replica it has had (remembered in the namespace's
// meta hash), at least --min-replicas, unless --min-replicas is -1.
func (d *doctor) checkReplication(ctx context.Context, n node) (level, string) {
	info, err := n.c.Info(ctx, "replication").Result()
	if err != nil {
		return warn, fmt.Sprintf("cannot read INFO replication: %v (the lease scripts need INFO too)", err)
	}
	f := infoFields(info)
	if role := f["role"]; role != "master" {
		return failed, fmt.Sprintf("this server is a %s (master %s:%s): leases must be written to the master; "+
			"point --redis at it, or use --sentinel-master", role, f["master_host"], f["master_port"])
	}
	replicas, _ := strconv.Atoi(f["connected_slaves"])
	if d.minReplicas < 0 {
		if replicas > 0 {
			return warn, fmt.Sprintf("%d replicas, and MinReplicas -1 never waits for them: a master cut off from "+
				"its replicas can grant fences that a promoted replica never sees (split brain); use MinReplicas 0", replicas)
		}
		return pass, "no replicas; MinReplicas -1 never waits"
	}
	remembered := 0
	for _, k := range [][2]string{{lease.KeysOf(d.ns).Meta(), "replicas"}, {lease.KeysOf(d.ns).HWM(), "_replicas"}} {
		if v, err := n.c.HGet(ctx, k[0], k[1]).Result(); err == nil {
			c, _ := strconv.Atoi(v)
			remembered = max(remembered, c)
		}
	}
	want := max(replicas, remembered, d.minReplicas)
	if replicas < want {
		why := fmt.Sprintf("MinReplicas is %d", d.minReplicas)
		if remembered > d.minReplicas {
			why = fmt.Sprintf("the namespace remembers %d replicas", remembered)
		}
		return failed, fmt.Sprintf("%d replicas connected, but %s: every acquire and renewal waits for %d and fails; "+
			"bring the replicas back, or if one was removed for good, run `idgen replicas --namespace %s --forget %d`",
			replicas, why, want, d.ns, replicas)
	}
	if replicas == 0 {
		return pass, "no replicas: generators wait for none, and will wait for every replica that connects"
	}
	// WAIT counts the replicas that acknowledged this connection's writes,
	// so write something first: a short-lived key in the namespace that no
	// worker ID has, on the same connection (a pipeline).
	probe := probeKey(d.ns)
	start := time.Now()
	pipe := n.c.Pipeline()
	set := pipe.Set(ctx, probe, "idgen doctor WAIT probe", 5*time.Second)
	wait := pipe.Do(ctx, "wait", replicas, 1000)
	pipe.Del(ctx, probe)
	_, _ = pipe.Exec(ctx)
	acked, err := wait.Int64()
	if err == nil {
		err = set.Err()
	}
	if err != nil {
		return failed, fmt.Sprintf("%d replicas connected, but a write followed by WAIT failed (%v): renewals "+
			"would fail", replicas, err)
	}
	took := time.Since(start).Round(time.Millisecond)
	if int(acked) < want {
		return failed, fmt.Sprintf("only %d of %d replicas acknowledged WAIT within 1s: renewals, which wait for %d, "+
			"would fail; check the replicas' link and lag", acked, replicas, want)
	}
	msg := fmt.Sprintf("%d replicas acknowledged WAIT in %v; generators wait for %d", replicas, took, want)
	// The one case the defaults cannot see (docs/design.md, rule 8): this
	// master, cut off from a replica that gets promoted, restarts without
	// its data and no longer remembers the replica. min-replicas-to-write
	// in its configuration survives the restart.
	if cfg, err := n.c.ConfigGet(ctx, "min-replicas-to-write").Result(); err == nil && cfg["min-replicas-to-write"] == "0" {
		return warn, msg + "; min-replicas-to-write is 0: if this master, cut off while a replica is promoted, " +
			"restarts without its data and clients still reach it, it grants fences alone; set " +
			"min-replicas-to-write 1 (with one replica that also stops a promoted replica from taking writes " +
			"until a replica attaches)"
	}
	return pass, msg
}

func (d *doctor) checkClock(ctx context.Context) result {
	cctx, cancel := d.ctx(ctx)
	defer cancel()
	est, err := clockguard.Measure(cctx, d.client, nil, 5)
	if err != nil {
		return result{"clock", failed, fmt.Sprintf("cannot measure the clock against Redis TIME (%v): "+
			"generators check it before their first ID", err)}
	}
	switch {
	case est.Beyond(d.maxSkew):
		return result{"clock", failed, fmt.Sprintf("this host's clock is off Redis TIME by %s, beyond MaxSkew %v: "+
			"generators here refuse to start; fix time sync (chrony/ntpd) on this host or the Redis host", est, d.maxSkew)}
	case est.Offset.Abs() > d.maxSkew/2:
		return result{"clock", warn, fmt.Sprintf("%s: more than half of MaxSkew %v; check time sync", est, d.maxSkew)}
	}
	return result{"clock", pass, fmt.Sprintf("%s, within MaxSkew %v", est, d.maxSkew)}
}

func (d *doctor) checkNamespace(ctx context.Context) result {
	cctx, cancel := d.ctx(ctx)
	defer cancel()
	keys := lease.KeysOf(d.ns)
	fp := d.layout.Fingerprint()
	meta, err := d.client.HGetAll(cctx, keys.Meta()).Result()
	if err != nil {
		return result{"namespace", warn, fmt.Sprintf("cannot read %s: %v", keys.Meta(), err)}
	}
	recorded := meta["layout"]
	if recorded == "" {
		return result{"namespace", pass, fmt.Sprintf("namespace %q is not in use yet; its first node records layout %s (%s)",
			d.ns, d.layoutName, fp)}
	}
	if recorded != fp {
		msg := fmt.Sprintf("namespace %q records layout %q, but %s is %q: nodes with it get ErrLayoutMismatch",
			d.ns, recorded, d.layoutName, fp)
		if name := presetName(recorded); name != "" && !d.layoutForced {
			return result{"namespace", warn, fmt.Sprintf("namespace %q uses the %s layout; run doctor with --layout %s "+
				"to check against it", d.ns, name, name)}
		}
		return result{"namespace", failed, msg + "; use the namespace's layout, or another namespace"}
	}
	lvl := pass
	msgs := []string{fmt.Sprintf("layout %s matches (%s)", d.layoutName, fp)}
	if infos, err := lease.List(cctx, d.client, d.ns); err != nil {
		lvl = warn
		msgs = append(msgs, fmt.Sprintf("cannot list leases: %v", err))
	} else {
		capacity := d.layout.MaxWorker() + 1
		msgs = append(msgs, fmt.Sprintf("%d of %d worker IDs in use", len(infos), capacity))
		if int64(len(infos))*10 >= capacity*9 {
			lvl = warn
			msgs = append(msgs, "over 90% of the worker IDs are taken: new nodes will soon get ErrNoWorkerAvailable")
		}
	}
	if n, err := d.client.Exists(cctx, keys.Epoch()).Result(); err == nil && n == 0 {
		lvl = warn
		msgs = append(msgs, "the dataset-epoch key is missing: Redis lost data (or it was deleted); "+
			"new holders wait out a quarantine of Window + MaxSkew")
	}
	if q, err := strconv.ParseInt(meta["quarantine"], 10, 64); err == nil {
		if until := d.layout.Time(q); until.After(time.Now()) {
			msgs = append(msgs, fmt.Sprintf("start-up quarantine in force until %s", until.UTC().Format(timeFormat)))
		}
	}
	return result{"namespace", lvl, strings.Join(msgs, "; ")}
}

func presetName(fp string) string {
	switch fp {
	case snowflake.Twitter().Fingerprint():
		return "twitter"
	case snowflake.Sonyflake().Fingerprint():
		return "sonyflake"
	}
	return ""
}

// infoFields parses the "key:value" lines of an INFO reply.
func infoFields(info string) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && !strings.HasPrefix(k, "#") {
			f[k] = v
		}
	}
	return f
}

// isPermissionError reports whether err is an ACL refusal.
func isPermissionError(err error) bool {
	if err == nil {
		return false
	}
	s := err.Error()
	return strings.Contains(s, "NOPERM") || strings.Contains(s, "no permissions") ||
		strings.Contains(s, "can't run") || strings.Contains(s, "can't access")
}
