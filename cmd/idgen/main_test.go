package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/lease"
	"github.com/snowlease/idgen/serve"
	"github.com/snowlease/idgen/snowflake"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds the idgen command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "idgen-cli-test")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "idgen")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

type cmdResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command in-process.
func runCLI(t *testing.T, stdin string, envs map[string]string, args ...string) cmdResult {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(k string) string { return envs[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, e, args)
	return cmdResult{code, out.String(), errb.String()}
}

func redisURL(s *redistest.Server) string { return "redis://" + s.Addr }

// 8 concurrent `idgen next -n 100000` processes print 800,000 distinct
// IDs, each process's in increasing order, and release their leases.
func TestNextConcurrentProcessesDistinct(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	rs := redistest.Start(t, redistest.Config{})
	const procs, n = 8, 100000
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	stderrs := make([]bytes.Buffer, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Go(func() {
			cmd := exec.Command(bin, "next", "-n", strconv.Itoa(n), "--namespace", "cli", "--ttl", "1s",
				"--max-skew", "200ms")
			cmd.Env = append(os.Environ(), "REDIS_URL="+redisURL(rs))
			cmd.Stderr = &stderrs[i]
			outs[i], errs[i] = cmd.Output()
		})
	}
	wg.Wait()
	seen := make(map[int64]struct{}, procs*n)
	workers := map[int64]int{}
	for i := range procs {
		require.NoError(t, errs[i], "process %d: %s", i, stderrs[i].String())
		// Waits and warnings (a slow renewal on a loaded machine) may be
		// reported; errors may not.
		assert.NotContains(t, stderrs[i].String(), "idgen next: error", "process %d", i)
		var last int64
		count := 0
		sc := bufio.NewScanner(bytes.NewReader(outs[i]))
		for sc.Scan() {
			v, err := strconv.ParseInt(sc.Text(), 10, 64)
			require.NoError(t, err, "process %d printed %q", i, sc.Text())
			require.Greater(t, v, last, "process %d: IDs not increasing", i)
			last = v
			_, dup := seen[v]
			require.False(t, dup, "ID %d printed twice", v)
			seen[v] = struct{}{}
			count++
			if count == 1 {
				workers[snowflake.Twitter().Decompose(snowflake.ID(v)).Worker]++
			}
		}
		require.Equal(t, n, count, "process %d", i)
	}
	assert.Len(t, seen, procs*n)
	assert.Len(t, workers, procs, "each process had its own worker ID")

	infos, err := lease.List(context.Background(), rs.Client(t), "cli")
	require.NoError(t, err)
	assert.Empty(t, infos, "leases left behind")
}

func TestDecode(t *testing.T) {
	t.Parallel()
	l := snowflake.Twitter()
	at := time.Date(2024, 5, 6, 7, 8, 9, 123_000_000, time.UTC)
	id, err := l.Compose(snowflake.Parts{Tick: l.Tick(at), Worker: 513, Sequence: 77})
	require.NoError(t, err)
	want := fmt.Sprintf(`{"id":"%d","time":"2024-05-06T07:08:09.123Z","tick":%d,"worker":513,"sequence":77}`+"\n",
		id, l.Tick(at))

	r := runCLI(t, "", nil, "decode", id.String())
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, want, r.stdout)

	r = runCLI(t, id.String()+"\n  "+id.String()+"\n", nil, "decode")
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, want+want, r.stdout, "IDs from stdin")

	r = runCLI(t, "", nil, "decode", "--encoding", "base58", id.Base58())
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, want, r.stdout)

	sony := snowflake.Sonyflake()
	sid, err := sony.Compose(snowflake.Parts{Tick: sony.Tick(at), Worker: 60000, Sequence: 200})
	require.NoError(t, err)
	r = runCLI(t, "", nil, "decode", "--layout", "sonyflake", sid.String())
	require.Equal(t, 0, r.code, r.stderr)
	var d serve.Decoded
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &d))
	assert.Equal(t, serve.Decoded{ID: sid.String(), Time: "2024-05-06T07:08:09.120Z", Tick: sony.Tick(at), Worker: 60000, Sequence: 200}, d)
}

// IDs from `next` decode to the worker that issued them, at about now.
func TestNextDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	r := runCLI(t, "", map[string]string{"REDIS_URL": redisURL(rs)}, "next", "-n", "3", "--namespace", "rt",
		"--ttl", "500ms", "--max-skew", "100ms", "--layout", "sonyflake")
	require.Equal(t, 0, r.code, r.stderr)
	ids := strings.Fields(r.stdout)
	require.Len(t, ids, 3)

	d := runCLI(t, r.stdout, nil, "decode", "--layout", "sonyflake")
	require.Equal(t, 0, d.code, d.stderr)
	lines := strings.Split(strings.TrimSpace(d.stdout), "\n")
	require.Len(t, lines, 3)
	var worker int64 = -1
	for i, line := range lines {
		var got serve.Decoded
		require.NoError(t, json.Unmarshal([]byte(line), &got))
		assert.Equal(t, ids[i], got.ID)
		tm, err := time.Parse(time.RFC3339, got.Time)
		require.NoError(t, err)
		assert.WithinDuration(t, time.Now(), tm, 5*time.Second)
		if worker >= 0 {
			assert.Equal(t, worker, got.Worker)
		}
		worker = got.Worker
		id, err := snowflake.ParseString(got.ID)
		require.NoError(t, err)
		back, err := snowflake.Sonyflake().Compose(snowflake.Parts{Tick: got.Tick, Worker: got.Worker, Sequence: got.Sequence})
		require.NoError(t, err)
		assert.Equal(t, id, back, "parts compose back to the ID")
	}
}

func TestDecodeBadInput(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "", nil, "decode", "abc", "12345", "-1", "9223372036854775808")
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, `"abc" is not a valid decimal ID`)
	assert.Contains(t, r.stderr, `"-1" is not a valid decimal ID`)
	assert.Contains(t, r.stderr, `"9223372036854775808" is not a valid decimal ID`)
	assert.Equal(t, 1, strings.Count(r.stdout, "\n"), "the good ID is still decoded")
	assert.Contains(t, r.stdout, `"id":"12345"`)

	// With the binary: exit status and stderr as a shell sees them.
	cmd := exec.Command(binary(t), "decode", "not-an-id")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 1, ee.ExitCode())
	assert.Contains(t, stderr.String(), `"not-an-id"`)

	r = runCLI(t, "", nil, "decode")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "no IDs given")
}

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, c := range commands() {
		r := runCLI(t, "", nil, c.name, "--help")
		assert.Equal(t, exitOK, r.code, c.name)
		assert.Contains(t, r.stdout, "Usage: idgen "+c.name, c.name)
		assert.Empty(t, r.stderr, c.name)
		r = runCLI(t, "", nil, "help", c.name)
		assert.Equal(t, exitOK, r.code, c.name)
		assert.Contains(t, r.stdout, "Usage: idgen "+c.name, c.name)
	}
	r := runCLI(t, "", nil, "--help")
	assert.Equal(t, exitOK, r.code)
	for _, c := range commands() {
		assert.Contains(t, r.stdout, c.name)
	}

	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, "Usage:"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"next", "-n", "0"}, "-n is 0, allowed 1 to"},
		{[]string{"next", "5"}, `did you mean -n 5?`},
		{[]string{"next", "--layout", "snow"}, `unknown layout "snow"`},
		{[]string{"decode", "--encoding", "base99", "1"}, `unknown --encoding "base99"`},
		{[]string{"leases", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"doctor", "--min-replicas", "-2"}, "--min-replicas is -2, allowed -1"},
		{[]string{"next", "--min-replicas", "101"}, "--min-replicas is 101, allowed -1"},
		{[]string{"replicas", "--forget", "-1"}, "--forget is -1, allowed 0 to 100"},
		{[]string{"serve", "--heap-floor", "-1"}, "--heap-floor is -1 MiB, allowed 0 to 65536"},
		{[]string{"serve", "--heap-floor", "65537"}, "--heap-floor is 65537 MiB, allowed 0 to 65536"},
		{[]string{"doctor", "--sentinel-addrs", "a:1"}, "--sentinel-addrs needs --sentinel-master"},
		{[]string{"next", "--ttl", "1ms"}, "TTL is 1ms, allowed 100ms to 24h"},
		{[]string{"next", "--namespace", "a b"}, `Namespace is "a b"`},
		{[]string{"next", "--namespace", ""}, "--namespace must not be empty"},
		{[]string{"leases", "--redis", "ftp://x"}, "bad Redis URL"},
	} {
		r := runCLI(t, "", nil, tc.args...)
		assert.Equal(t, exitUsage, r.code, "%v", tc.args)
		assert.Contains(t, r.stderr, tc.msg, "%v", tc.args)
	}
}

func TestUnreachableRedis(t *testing.T) {
	t.Parallel()
	url := fmt.Sprintf("redis://127.0.0.1:%d", redistest.FreePort(t))
	for _, args := range [][]string{{"next"}, {"leases"}} {
		r := runCLI(t, "", nil, append(args, "--redis", url, "--redis-timeout", "200ms")...)
		assert.Equal(t, exitError, r.code, "%v", args)
		assert.Contains(t, r.stderr, "cannot reach Redis at "+url, "%v", args)
		assert.Contains(t, r.stderr, "is redis-server running there?", "%v", args)
	}
	r := runCLI(t, "", map[string]string{"REDIS_URL": url}, "doctor", "--redis-timeout", "200ms")
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stdout, "FAIL  connection")

	r = runCLI(t, "", nil, "next", "--redis", "http://x")
	assert.Equal(t, exitUsage, r.code, "a bad URL is bad usage")
	assert.Contains(t, r.stderr, "bad Redis URL")
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{Args: []string{"--requirepass", "sekret"}})
	r := runCLI(t, "", nil, "leases", "--redis", "redis://:wrong@"+rs.Addr)
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "put the credentials in the URL")
	assert.NotContains(t, r.stderr, "wrong", "the password is not echoed")

	r = runCLI(t, "", nil, "leases", "--redis", "redis://:sekret@"+rs.Addr)
	assert.Equal(t, exitOK, r.code, r.stderr)
}

func TestLeases(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	client := rs.Client(t)
	var gens []*idgen.Generator
	for i := range 2 {
		g, err := idgen.New(context.Background(), client, idgen.Options{Namespace: "ls", TTL: 2 * time.Second,
			MaxSkew: 100 * time.Millisecond, Host: fmt.Sprintf("host-%d", i)})
		require.NoError(t, err)
		t.Cleanup(func() { _ = g.Close(context.Background()) })
		gens = append(gens, g)
	}
	envs := map[string]string{"REDIS_URL": redisURL(rs)}
	r := runCLI(t, "", envs, "leases", "--namespace", "ls", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var rows []leaseJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows))
	require.Len(t, rows, 2)
	byWorker := map[int64]leaseJSON{}
	for _, row := range rows {
		byWorker[row.Worker] = row
	}
	for i, g := range gens {
		row, ok := byWorker[g.WorkerID()]
		require.True(t, ok, "worker %d not listed", g.WorkerID())
		assert.Equal(t, fmt.Sprintf("host-%d", i), row.Host)
		assert.Equal(t, os.Getpid(), row.PID)
		assert.Greater(t, row.TTLSeconds, 0.0)
		assert.LessOrEqual(t, row.TTLSeconds, 2.0)
		assert.GreaterOrEqual(t, row.AgeSeconds, 0.0)
		assert.Less(t, row.AgeSeconds, 30.0)
		assert.NotEmpty(t, row.Started)
		require.NotNil(t, row.HWMAhead)
		assert.Greater(t, *row.HWMAhead, -5.0)
		assert.NotEmpty(t, row.HWMTime)
	}
	assert.True(t, slices.IsSortedFunc(rows, func(a, b leaseJSON) int { return int(a.Worker - b.Worker) }))

	r = runCLI(t, "", envs, "leases", "--namespace", "ls")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "WORKER")
	assert.Contains(t, r.stdout, "host-0")
	assert.Contains(t, r.stdout, "host-1")
	assert.Contains(t, r.stdout, "2 worker IDs in use of 1024")

	r = runCLI(t, "", envs, "leases", "--namespace", "empty")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `No leases held in namespace "empty"`)
	r = runCLI(t, "", envs, "leases", "--namespace", "empty", "--json")
	assert.JSONEq(t, "[]", r.stdout)
}

// doctorLines runs doctor and returns its exit code and check lines by
// check name.
func doctorLines(t *testing.T, args ...string) (int, map[string]string, string) {
	t.Helper()
	r := runCLI(t, "", nil, append([]string{"doctor"}, args...)...)
	lines := map[string]string{}
	for _, line := range strings.Split(r.stdout, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "PASS" || f[0] == "WARN" || f[0] == "FAIL") {
			lines[f[1]] = line
		}
	}
	return r.code, lines, r.stdout + r.stderr
}

func TestDoctorHealthyRedis(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{Persist: true})
	code, lines, out := doctorLines(t, "--redis", redisURL(rs))
	for _, name := range []string{"connection", "persistence", "eviction", "replication", "clock", "acl", "namespace"} {
		assert.True(t, strings.HasPrefix(lines[name], "PASS"), "%s: %s", name, out)
	}
	assert.Equal(t, 0, code, out)
}

func TestDoctorFlagsEviction(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{Persist: true, Args: []string{"--maxmemory-policy", "allkeys-lru"}})
	code, lines, out := doctorLines(t, "--redis", redisURL(rs))
	assert.Equal(t, 2, code, out)
	assert.True(t, strings.HasPrefix(lines["eviction"], "FAIL"), out)
	assert.Contains(t, lines["eviction"], "allkeys-lru")
	assert.Contains(t, lines["eviction"], "set maxmemory-policy noeviction")

	rs2 := redistest.Start(t, redistest.Config{Persist: true, Args: []string{"--maxmemory-policy", "volatile-lru"}})
	code, lines, out = doctorLines(t, "--redis", redisURL(rs2))
	assert.Equal(t, 1, code, out)
	assert.True(t, strings.HasPrefix(lines["eviction"], "WARN"), out)
}

// Persistence no longer decides uniqueness: every setting passes, and the
// line says what a restart costs.
func TestDoctorPersistence(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--save", "60 1"}, "RDB snapshots only"},
		{nil, "no persistence"},
		{[]string{"--appendonly", "yes", "--appendfsync", "everysec"}, "appendfsync everysec"},
	} {
		rs := redistest.Start(t, redistest.Config{Args: tc.args})
		_, lines, out := doctorLines(t, "--redis", redisURL(rs))
		assert.True(t, strings.HasPrefix(lines["persistence"], "PASS"), "%v: %s", tc.args, out)
		assert.Contains(t, lines["persistence"], tc.says)
		assert.Contains(t, lines["persistence"], "quarantine")
	}
}

func TestDoctorNamespaceLayout(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{Persist: true})
	g, err := idgen.New(context.Background(), rs.Client(t), idgen.Options{Namespace: "sf", Layout: snowflake.Sonyflake(),
		TTL: 3 * time.Second, MaxSkew: 100 * time.Millisecond})
	require.NoError(t, err)
	defer g.Close(context.Background())

	_, lines, out := doctorLines(t, "--redis", redisURL(rs), "--namespace", "sf")
	assert.True(t, strings.HasPrefix(lines["namespace"], "WARN"), out)
	assert.Contains(t, lines["namespace"], "--layout sonyflake")

	code, lines, out := doctorLines(t, "--redis", redisURL(rs), "--namespace", "sf", "--layout", "twitter")
	assert.Equal(t, 2, code)
	assert.True(t, strings.HasPrefix(lines["namespace"], "FAIL"), out)
	assert.Contains(t, lines["namespace"], "ErrLayoutMismatch")

	code, lines, out = doctorLines(t, "--redis", redisURL(rs), "--namespace", "sf", "--layout", "sonyflake")
	assert.Equal(t, 0, code, out)
	assert.Contains(t, lines["namespace"], "1 of 65536 worker IDs in use")

	// leases reads HWMs in the namespace's own layout.
	r := runCLI(t, "", nil, "leases", "--redis", redisURL(rs), "--namespace", "sf", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var rows []leaseJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows))
	require.Len(t, rows, 1)
	hwm, err := time.Parse(time.RFC3339, rows[0].HWMTime)
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now(), hwm, 10*time.Second)
}

func TestDoctorACL(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{Persist: true})
	admin := rs.Client(t)
	ctx := context.Background()
	// A user allowed what the library needs except HSET, and allowed to
	// ask about itself: doctor names HSET.
	require.NoError(t, admin.Do(ctx, "acl", "setuser", "nohset", "on", ">pw", "~{idgen}:*", "+@all", "-hset").Err())
	// The same without ACL DRYRUN: doctor probes, and says what it could
	// not check.
	require.NoError(t, admin.Do(ctx, "acl", "setuser", "noacl", "on", ">pw", "~{idgen}:*", "+@all", "-acl").Err())
	// A user confined to other keys.
	require.NoError(t, admin.Do(ctx, "acl", "setuser", "otherkeys", "on", ">pw", "~app:*", "+@all", "-acl").Err())

	code, lines, out := doctorLines(t, "--redis", "redis://nohset:pw@"+rs.Addr)
	assert.Equal(t, 2, code, out)
	assert.True(t, strings.HasPrefix(lines["acl"], "FAIL"), out)
	assert.Contains(t, out, "HSET")
	assert.Contains(t, out, `user "nohset"`)

	code, lines, out = doctorLines(t, "--redis", "redis://noacl:pw@"+rs.Addr)
	assert.Equal(t, 1, code, out)
	assert.True(t, strings.HasPrefix(lines["acl"], "WARN"), out)
	assert.Contains(t, lines["acl"], "HSET could not be checked")

	code, lines, out = doctorLines(t, "--redis", "redis://otherkeys:pw@"+rs.Addr)
	assert.Equal(t, 2, code, out)
	assert.True(t, strings.HasPrefix(lines["acl"], "FAIL"), out)
	assert.Contains(t, out, "EVALSHA")
}

func TestConnFlags(t *testing.T) {
	t.Parallel()
	build := func(c connFlags) (redis.UniversalClient, error) {
		if c.url == "" {
			c.url = defaultRedisURL
		}
		if c.timeout == 0 {
			c.timeout = time.Second
		}
		cl, err := c.client()
		if cl != nil {
			t.Cleanup(func() { _ = cl.Close() })
		}
		return cl, err
	}
	cl, err := build(connFlags{url: "rediss://u:p@example.com:6380/2"})
	require.NoError(t, err)
	c, ok := cl.(*redis.Client)
	require.True(t, ok)
	assert.Equal(t, "example.com:6380", c.Options().Addr)
	assert.Equal(t, 2, c.Options().DB)
	assert.Equal(t, "u", c.Options().Username)
	require.NotNil(t, c.Options().TLSConfig, "rediss:// means TLS")

	cl, err = build(connFlags{url: "redis://:p@x/1", sentinelMaster: "mymaster", sentinelAddrs: "s1:26379, s2:26379"})
	require.NoError(t, err)
	_, ok = cl.(*redis.Client) // a failover client is a *redis.Client
	assert.True(t, ok)

	cl, err = build(connFlags{clusterAddrs: "a:7000,b:7001"})
	require.NoError(t, err)
	cc, ok := cl.(*redis.ClusterClient)
	require.True(t, ok)
	assert.Equal(t, []string{"a:7000", "b:7001"}, cc.Options().Addrs)

	_, err = build(connFlags{url: "redis://x/3", clusterAddrs: "a:7000"})
	assert.ErrorContains(t, err, "only database 0")
	_, err = build(connFlags{sentinelMaster: "m"})
	assert.ErrorContains(t, err, "needs --sentinel-addrs")
	_, err = build(connFlags{sentinelMaster: "m", sentinelAddrs: "s:1", clusterAddrs: "a:1"})
	assert.ErrorContains(t, err, "cannot be used together")
	_, err = build(connFlags{url: "memcached://x"})
	assert.ErrorContains(t, err, "bad Redis URL")

	assert.Equal(t, "redis://user:xxxxx@h:1/0", redactURL("redis://user:secret@h:1/0"))
	assert.Equal(t, "redis://h:1", redactURL("redis://h:1"))
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "", nil, "version")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `^idgen \S+.* \(go1\.\d+`, r.stdout)

	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.1.0"}}
	assert.Equal(t, "idgen v0.1.0 (go1.26.8)", versionLine(bi, true))
	bi = &debug.BuildInfo{GoVersion: "go1.25.14", Main: debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}}
	assert.Equal(t, "idgen (devel) commit 0123456789ab, modified (go1.25.14)", versionLine(bi, true))
	assert.Contains(t, versionLine(nil, false), "unknown version")
}

// The completion scripts load in their shells and complete commands and a
// command's flags (read from the commands themselves).
func TestCompletion(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "", nil, "completion", "bash")
	require.Equal(t, exitOK, r.code, r.stderr)
	script := filepath.Join(t.TempDir(), "idgen.bash")
	require.NoError(t, os.WriteFile(script, []byte(r.stdout), 0o600))
	complete := func(words string, cword int) string {
		out, err := exec.Command("bash", "-c", fmt.Sprintf(`source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _idgen; echo "${COMPREPLY[@]}"`,
			script, words, cword)).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	assert.Equal(t, "next", complete("idgen ne", 1))
	assert.Equal(t, "--min-replicas", complete("idgen next --min", 2))
	assert.Equal(t, "--forget", complete("idgen replicas --fo", 2))

	r = runCLI(t, "", nil, "completion", "zsh")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "#compdef idgen")
	assert.Contains(t, r.stdout, "next) compadd -- --allow-eviction")
	zsh, err := exec.LookPath("zsh")
	require.NoError(t, err, "zsh is needed to check the zsh script: apt-get install -y zsh (make deps does)")
	zscript := filepath.Join(t.TempDir(), "_idgen")
	require.NoError(t, os.WriteFile(zscript, []byte(r.stdout), 0o600))
	out, err := exec.Command(zsh, "-n", zscript).CombinedOutput()
	require.NoError(t, err, "zsh -n: %s", out)

	r = runCLI(t, "", nil, "completion", "fish")
	assert.Equal(t, exitUsage, r.code)
}
