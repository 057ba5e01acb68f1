package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/lease"
)

// checkNextOutput checks that next printed n increasing IDs.
func checkNextOutput(t *testing.T, r cmdResult, n int) {
	t.Helper()
	require.Equal(t, exitOK, r.code, r.stderr)
	ids := strings.Fields(r.stdout)
	require.Len(t, ids, n)
	d := runCLI(t, r.stdout, nil, "decode")
	require.Equal(t, exitOK, d.code, d.stderr)
	assert.Equal(t, n, strings.Count(d.stdout, "\n"))
}

func TestDoctorReplicas(t *testing.T) {
	t.Parallel()
	master, replicas := redistest.StartReplicated(t, redistest.Config{Persist: true}, 1)
	redistest.WaitSynced(t, master, replicas...)

	code, lines, out := doctorLines(t, "--redis", redisURL(master))
	assert.Equal(t, 1, code, out)
	assert.Contains(t, lines["replication"], "1 replicas acknowledged WAIT")
	assert.Contains(t, lines["replication"], "generators wait for 1")
	assert.Contains(t, lines["replication"], "min-replicas-to-write is 0")
	require.NoError(t, master.Client(t).ConfigSet(context.Background(), "min-replicas-to-write", "1").Err())
	code, lines, out = doctorLines(t, "--redis", redisURL(master))
	assert.Equal(t, 0, code, out)
	assert.True(t, strings.HasPrefix(lines["replication"], "PASS"), out)
	require.NoError(t, master.Client(t).ConfigSet(context.Background(), "min-replicas-to-write", "0").Err())

	code, lines, out = doctorLines(t, "--redis", redisURL(master), "--min-replicas", "-1")
	assert.Equal(t, 1, code, out)
	assert.Contains(t, lines["replication"], "split brain")

	code, lines, out = doctorLines(t, "--redis", redisURL(replicas[0]))
	assert.Equal(t, 2, code, out)
	assert.Contains(t, lines["replication"], "this server is a slave")

	// A replica that stops answering makes WAIT fall short.
	replicas[0].Pause()
	defer replicas[0].Resume()
	code, lines, out = doctorLines(t, "--redis", redisURL(master))
	assert.Equal(t, 2, code, out)
	assert.True(t, strings.HasPrefix(lines["replication"], "FAIL"), out)
	assert.Contains(t, lines["replication"], "only 0 of 1 replicas acknowledged")
}

// The namespace remembers the replicas its master has had: after one is
// removed, the generators stop (fail closed) and the doctor says so, until
// `idgen replicas --forget` lowers the count; next works with default
// options on a master with replicas.
func TestReplicasRememberedAndForgotten(t *testing.T) {
	t.Parallel()
	master, replicas := redistest.StartReplicated(t, redistest.Config{Persist: true}, 2)
	redistest.WaitSynced(t, master, replicas...)
	url := redisURL(master)
	// A 6 s TTL gives WAIT 1 s (a loaded machine's replicas can be slow);
	// init spares the quarantine it would cost.
	r := runCLI(t, "", nil, "init", "--redis", url, "--namespace", "rep")
	require.Equal(t, exitOK, r.code, r.stderr)
	r = runCLI(t, "", nil, "next", "-n", "1000", "--redis", url, "--namespace", "rep", "--ttl", "6s", "--max-skew", "100ms")
	checkNextOutput(t, r, 1000)
	r = runCLI(t, "", nil, "replicas", "--redis", url, "--namespace", "rep")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "wait for 2 replicas (remembered 2, connected 2)")

	replicas[1].Kill()
	require.Eventually(t, func() bool {
		return master.Info(t, "replication")["connected_slaves"] == "1"
	}, 10*time.Second, 50*time.Millisecond, "the master still counts the killed replica")
	code, lines, out := doctorLines(t, "--redis", url, "--namespace", "rep")
	assert.Equal(t, 2, code, out)
	assert.Contains(t, lines["replication"], "remembers 2 replicas")
	assert.Contains(t, lines["replication"], "idgen replicas --namespace rep --forget 1")
	r = runCLI(t, "", nil, "next", "-n", "1", "--redis", url, "--namespace", "rep", "--ttl", "6s",
		"--max-skew", "100ms", "--timeout", "2s")
	assert.Equal(t, exitError, r.code, "next with a remembered replica gone: %s", r.stdout)
	assert.Contains(t, r.stderr, "replicas")

	r = runCLI(t, "", nil, "replicas", "--redis", url, "--namespace", "rep", "--forget", "1")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "wait for 1 replicas (remembered 1, connected 1)")
	code, lines, out = doctorLines(t, "--redis", url, "--namespace", "rep")
	assert.NotEqual(t, 2, code, out)
	assert.True(t, strings.HasPrefix(lines["replication"], "WARN"), "only the min-replicas-to-write warning: %s", out)
	r = runCLI(t, "", nil, "next", "-n", "1000", "--redis", url, "--namespace", "rep", "--ttl", "6s", "--max-skew", "100ms")
	checkNextOutput(t, r, 1000)
}

// init creates a namespace once; next in it starts without the quarantine
// (a default TTL of 10 s would otherwise make it wait 11 s).
func TestInitThenNext(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	url := redisURL(rs)
	r := runCLI(t, "", nil, "init", "--redis", url, "--namespace", "fresh")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, `namespace "fresh" created`)
	start := time.Now()
	r = runCLI(t, "", nil, "next", "-n", "10", "--redis", url, "--namespace", "fresh", "--timeout", "5s")
	checkNextOutput(t, r, 10)
	t.Logf("next after init took %v with the default TTL", time.Since(start))
	r = runCLI(t, "", nil, "init", "--redis", url, "--namespace", "fresh")
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "already in use")
	r = runCLI(t, "", nil, "init", "--redis", url, "--namespace", "")
	assert.Equal(t, exitUsage, r.code)
}

func TestSentinelFlags(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinels(t, redistest.SentinelConfig{Config: redistest.Config{Persist: true}})
	flags := []string{"--sentinel-master", s.MasterName, "--sentinel-addrs", strings.Join(s.Addrs(), ",")}

	r := runCLI(t, "", nil, append([]string{"next", "-n", "1000", "--namespace", "sent", "--ttl", "500ms",
		"--max-skew", "100ms"}, flags...)...)
	checkNextOutput(t, r, 1000)

	code, lines, out := doctorLines(t, append(flags, "--namespace", "sent")...)
	assert.Equal(t, 1, code, "only the min-replicas-to-write warning: %s", out)
	assert.Contains(t, lines["connection"], "sentinel master")
	assert.Contains(t, lines["replication"], "1 replicas acknowledged WAIT")
}

func TestClusterFlags(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterConfig{Config: redistest.Config{Persist: true}})
	flags := []string{"--cluster-addrs", strings.Join(c.Addrs(), ",")}

	r := runCLI(t, "", nil, append([]string{"next", "-n", "1000", "--namespace", "clu", "--ttl", "500ms",
		"--max-skew", "100ms"}, flags...)...)
	checkNextOutput(t, r, 1000)

	code, lines, out := doctorLines(t, append(flags, "--namespace", "clu")...)
	assert.Equal(t, 0, code, out)
	assert.Contains(t, lines["persistence"], "namespace master "+c.MasterFor(t, lease.KeysOf("clu").Meta()).Addr)
	assert.Contains(t, lines["namespace"], "layout twitter matches")

	infos, err := lease.List(context.Background(), c.Client(t), "clu")
	require.NoError(t, err)
	assert.Empty(t, infos, "next released its lease")
}

func TestTLSURL(t *testing.T) {
	t.Parallel()
	ca := redistest.NewCA(t)
	rs := redistest.Start(t, redistest.Config{TLS: ca, Persist: true})
	url := "rediss://" + rs.Addr + "?skip_verify=true"
	r := runCLI(t, "", nil, "next", "--redis", url, "-n", "10", "--ttl", "500ms", "--max-skew", "100ms")
	checkNextOutput(t, r, 10)

	// Plain redis:// against a TLS port fails, with a message.
	r = runCLI(t, "", nil, "leases", "--redis", "redis://"+rs.Addr, "--redis-timeout", "500ms")
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "cannot reach Redis")

	// rediss:// without skip_verify checks the certificate against the
	// system roots, which do not know the test CA.
	r = runCLI(t, "", nil, "leases", "--redis", "rediss://"+rs.Addr)
	assert.Equal(t, exitError, r.code)
	assert.Contains(t, r.stderr, "certificate")
}

// The CLI verifies a rediss:// server against the CA it is told to trust
// (SSL_CERT_FILE, which Go's TLS reads for the system roots), and refuses a
// server another CA signed. It runs as a separate process so the variable
// reaches the x509 package from the start.
func TestTLSVerifiedWithTestCA(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	ca, other := redistest.NewCA(t), redistest.NewCA(t)
	good := redistest.Start(t, redistest.Config{TLS: ca})
	bad := redistest.Start(t, redistest.Config{TLS: other})

	run := func(url string) (string, string, error) {
		cmd := exec.Command(bin, "next", "--redis", url, "-n", "5", "--namespace", "tlsv", "--ttl", "500ms", "--max-skew", "100ms")
		cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+ca.CertFile, "SSL_CERT_DIR="+t.TempDir())
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}

	out, stderr, err := run("rediss://" + good.Addr)
	require.NoError(t, err, stderr)
	assert.Len(t, strings.Fields(out), 5)

	_, stderr, err = run("rediss://" + bad.Addr)
	require.Error(t, err, "a server signed by another CA must be refused")
	assert.Contains(t, stderr, "certificate")
}

// SIGINT or SIGTERM stops a long `next` promptly: whole lines only, the
// lease released, exit 130 or 143. A reader that goes away (`| head -1`)
// ends it quietly with exit 0.
func TestNextSignalsAndClosedPipe(t *testing.T) {
	t.Parallel()
	bin := binary(t)
	rs := redistest.Start(t, redistest.Config{})
	url := redisURL(rs)
	r := runCLI(t, "", nil, "init", "--redis", url, "--namespace", "sig")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		cmd := exec.Command(bin, "next", "--redis", url, "--namespace", "sig", "-n", "1000000000")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		require.NoError(t, cmd.Start())
		require.Eventually(t, func() bool { return leasesHeld(t, rs, "sig") == 1 },
			10*time.Second, 10*time.Millisecond, "no lease taken")
		time.Sleep(200 * time.Millisecond) // printing
		sent := time.Now()
		require.NoError(t, cmd.Process.Signal(tc.sig))
		err := cmd.Wait()
		took := time.Since(sent)
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%v: %s", tc.sig, errb.String())
		assert.Equal(t, tc.code, ee.ExitCode(), "%v: %s", tc.sig, errb.String())
		assert.Less(t, took, 5*time.Second, "%v: stopped promptly", tc.sig)
		text := out.String()
		require.NotEmpty(t, text)
		assert.True(t, strings.HasSuffix(text, "\n"), "%v: the last line is whole", tc.sig)
		lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
		for _, l := range []string{lines[0], lines[len(lines)-1]} {
			_, perr := strconv.ParseInt(l, 10, 64)
			assert.NoError(t, perr, "%v: line %q", tc.sig, l)
		}
		assert.Contains(t, errb.String(), "lease released")
		assert.Equal(t, 0, leasesHeld(t, rs, "sig"), "%v: the lease was released", tc.sig)
	}

	// The reader takes one line and goes away.
	cmd := exec.Command(bin, "next", "--redis", url, "--namespace", "sig", "-n", "100000000")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	_, err = strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	require.NoError(t, err)
	require.NoError(t, stdout.Close())
	require.NoError(t, cmd.Wait(), "exit code after the reader went away: %s", errb.String())
	assert.Empty(t, errb.String())
	assert.Equal(t, 0, leasesHeld(t, rs, "sig"))
}

func leasesHeld(t *testing.T, rs *redistest.Server, ns string) int {
	t.Helper()
	infos, err := lease.List(context.Background(), rs.Client(t), ns)
	require.NoError(t, err)
	return len(infos)
}

// leases shows times in the layout the namespace recorded, even when
// --layout names another one (with a warning).
func TestLeasesUsesRecordedLayout(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{})
	url := redisURL(rs)
	r := runCLI(t, "", nil, "init", "--redis", url, "--namespace", "tw")
	require.Equal(t, exitOK, r.code, r.stderr)
	g, err := idgen.New(context.Background(), rs.Client(t), idgen.Options{Namespace: "tw"})
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Close(context.Background()) })
	r = runCLI(t, "", nil, "leases", "--redis", url, "--namespace", "tw", "--layout", "sonyflake", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "showing times in its own")
	year := strconv.Itoa(time.Now().UTC().Year())
	assert.Contains(t, r.stdout, `"hwm_time": "`+year, "HWM shown in the namespace's layout: %s", r.stdout)
}
