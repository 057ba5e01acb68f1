// Package redistest starts real redis-server processes for tests, on free
// loopback ports, and stops them when the test ends. Tests use it to pause,
// kill and restart Redis for real instead of mocking it.
//
// Topologies: a standalone server (Start), a master with replicas
// (StartReplicated), a master and replicas behind Sentinels (StartSentinels)
// and a Redis Cluster (StartCluster). A Proxy between a client and any of them
// adds latency, holds replies, drops connections or cuts traffic. A server can
// be TLS-only with a certificate authority made for the test (NewCA), and can
// require a password or ACL users.
//
// Every process listens on 127.0.0.1 only, is killed by t.Cleanup, and dies
// with the test binary (Pdeathsig), so nothing outlives a test run.
package redistest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config says how to start a server. The zero value is a standalone server
// that keeps nothing on disk.
type Config struct {
	// Args are extra redis-server arguments, such as "--maxmemory", "1mb".
	// They come last, so they override the helper's own settings.
	Args []string
	// Persist turns on AOF with appendfsync always, so Restart keeps data.
	Persist bool

	// Password, when set, is required of the default user (--requirepass).
	// Replicas use it as masterauth and Sentinels as auth-pass, and the
	// helper's own clients (Client, Options) send it.
	Password string
	// Users are ACL users the server starts with (and keeps across Restart).
	Users []User

	// TLS, when set, makes the server TLS-only (--port 0, --tls-port) with a
	// certificate for 127.0.0.1 and localhost signed by this CA. Replication
	// and the cluster bus then use TLS too; Addr and Port are the TLS port.
	// Not supported with Sentinels.
	TLS *CA
	// TLSAuthClients makes the server require a client certificate signed by
	// the TLS CA (tls-auth-clients yes). By default clients need none.
	TLSAuthClients bool

	// ReplicaOf, as "host:port", starts the server as a replica of that
	// master. A Proxy's Addr works, to put faults on the replication link.
	ReplicaOf string
}

// User is an ACL user created when the server starts.
type User struct {
	Name     string
	Password string // must not be empty or contain spaces
	// Rules are ACL rules applied after "on" and ">Password", such as
	// "~idgen:*", "+@read", "-eval". Empty means every key, channel and
	// command ("~* &* +@all"). Rules must not contain spaces.
	Rules []string
}

// Server is one redis-server (or redis-sentinel) process. Its methods are
// safe for concurrent use, but those that take or keep a testing.TB must be
// called from the test's goroutine.
type Server struct {
	Addr string // host:port on the loopback interface
	Port int

	t    testing.TB
	args []string
	dir  string
	cfg  Config

	clientTLS *tls.Config // trusts the server; nil unless cfg.TLS

	mu sync.Mutex
	p  *proc
}

type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

var errPortInUse = errors.New("port already in use")

// Binary returns the path of redis-server, or fails the test with how to
// install it. It never skips: a test that needs Redis and cannot find it is a
// failure, not a pass.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := binary()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func binary() (string, error) {
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server not found on PATH (%v): install it with `apt-get install -y redis-server` "+
			"(or run `make test`, which installs it)", err)
	}
	return p, nil
}

// FreePort returns a loopback TCP port that was free a moment ago. The
// helpers in this package retry with a new port when another process takes
// it in the meantime.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redistest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts a redis-server and registers its shutdown with t.Cleanup.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	return startNode(t, cfg, nil)
}

// startNode starts a data node; extra adds role-specific arguments (cluster
// mode) and is called again, with a new port, if the port was taken.
func startNode(t testing.TB, cfg Config, extra func(dir string, port int) []string) *Server {
	t.Helper()
	bin := Binary(t)
	for _, u := range cfg.Users {
		if err := u.validate(); err != nil {
			t.Fatalf("redistest: %v", err)
		}
	}
	s := &Server{t: t, dir: t.TempDir(), cfg: cfg}
	// Registered after TempDir, so the process is gone before its directory.
	t.Cleanup(s.Kill)
	var tlsArgs []string
	if cfg.TLS != nil {
		tlsArgs = s.setupTLS(t)
	}
	s.launch(func(port int) []string {
		args := []string{bin}
		if cfg.TLS != nil {
			args = append(args, "--port", "0", "--tls-port", strconv.Itoa(port))
			args = append(args, tlsArgs...)
		} else {
			args = append(args, "--port", strconv.Itoa(port))
		}
		args = append(args, s.baseArgs()...)
		if cfg.Persist {
			args = append(args, "--appendonly", "yes", "--appendfsync", "always")
		} else {
			args = append(args, "--appendonly", "no")
		}
		if cfg.Password != "" {
			args = append(args, "--requirepass", cfg.Password, "--masterauth", cfg.Password)
		}
		for _, u := range cfg.Users {
			args = append(args, u.args()...)
		}
		if cfg.ReplicaOf != "" {
			host, p, err := net.SplitHostPort(cfg.ReplicaOf)
			if err != nil {
				t.Fatalf("redistest: Config.ReplicaOf %q: %v", cfg.ReplicaOf, err)
			}
			args = append(args, "--replicaof", host, p)
		}
		if extra != nil {
			args = append(args, extra(s.dir, port)...)
		}
		return append(args, cfg.Args...)
	})
	return s
}

// StartMain starts a standalone server that keeps nothing on disk, for a
// TestMain and the Example functions it runs, which have no testing.TB.
// stop kills the server and removes its directory: call it after m.Run.
// The server dies with the test binary all the same (Pdeathsig). Restart
// needs a server from Start.
func StartMain() (s *Server, stop func(), err error) {
	bin, err := binary()
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, nil, fmt.Errorf("redistest: %w", err)
	}
	s = &Server{dir: dir}
	stop = func() {
		s.Kill()
		_ = os.RemoveAll(dir)
	}
	err = s.tryLaunch(func(port int) []string {
		args := append([]string{bin, "--port", strconv.Itoa(port)}, s.baseArgs()...)
		return append(args, "--appendonly", "no")
	})
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("redistest: %w", err)
	}
	return s, stop, nil
}

// RunMain is a TestMain's body for a package whose examples need Redis: it
// starts a server with StartMain, calls setup with it and a client of it
// (to record its address, create what the examples expect), runs the tests
// and stops the server. It returns the code for os.Exit; a server that does
// not start, or a setup error, is reported on stderr and gives 1.
func RunMain(m *testing.M, setup func(*Server, *redis.Client) error) int {
	s, stop, err := StartMain()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	c := redis.NewClient(s.Options())
	err = setup(s, c)
	_ = c.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "redistest: set up the server for the tests: %v\n", err)
		return 1
	}
	return m.Run()
}

// baseArgs are the arguments of every data node: loopback only, in its own
// directory, in the foreground, no RDB snapshots.
func (s *Server) baseArgs() []string {
	return []string{
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--daemonize", "no",
		"--logfile", s.logPath(),
		// Replicas attach at once instead of after the default 5s.
		"--repl-diskless-sync-delay", "0",
	}
}

func (u User) validate() error {
	if u.Name == "" || strings.ContainsAny(u.Name, " \t\n") {
		return fmt.Errorf("User.Name %q must be non-empty without spaces", u.Name)
	}
	if u.Password == "" || strings.ContainsAny(u.Password, " \t\n") {
		return fmt.Errorf("User %q: Password must be non-empty without spaces", u.Name)
	}
	for _, r := range u.Rules {
		if r == "" || strings.ContainsAny(r, " \t\n") {
			return fmt.Errorf("User %q: rule %q must be non-empty without spaces", u.Name, r)
		}
	}
	return nil
}

func (u User) args() []string {
	args := []string{"--user", u.Name, "on", ">" + u.Password}
	if len(u.Rules) == 0 {
		return append(args, "~*", "&*", "+@all")
	}
	return append(args, u.Rules...)
}

// launch picks a free port and starts the process, retrying with another port
// when someone took the chosen one between FreePort and the bind.
func (s *Server) launch(argsFor func(port int) []string) {
	s.t.Helper()
	if err := s.tryLaunch(argsFor); err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
}

func (s *Server) tryLaunch(argsFor func(port int) []string) error {
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		var port int
		if port, err = freePort(); err != nil {
			return err
		}
		s.Port, s.Addr = port, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s.args = argsFor(port)
		_ = os.Remove(s.logPath())
		if err = s.run(); err == nil || !errors.Is(err, errPortInUse) {
			break
		}
	}
	return err
}

func (s *Server) logPath() string { return filepath.Join(s.dir, "redis.log") }

// Log returns the server's log file, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.logPath())
	return string(b)
}

// run starts the process and waits until it answers.
func (s *Server) run() error {
	cmd := exec.Command(s.args[0], s.args[1:]...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	s.mu.Lock()
	s.p = p
	s.mu.Unlock()
	if err := s.waitReady(p, 10*time.Second); err != nil {
		s.Kill()
		log := s.Log()
		if strings.Contains(log, "Address already in use") {
			err = fmt.Errorf("%w: %v", errPortInUse, err)
		}
		return fmt.Errorf("redis-server on %s did not become ready: %w\n%s", s.Addr, err, log)
	}
	return nil
}

func (s *Server) waitReady(p *proc, limit time.Duration) error {
	opts := s.Options()
	opts.MaxRetries = -1
	opts.DialTimeout = 300 * time.Millisecond
	c := redis.NewClient(opts)
	defer c.Close()
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil || isAuthError(err) {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("process exited: %v", p.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func isAuthError(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "NOAUTH") || strings.HasPrefix(s, "WRONGPASS")
}

// Options returns new client options for the server: its address and, when
// the Config asks for them, the default user's password and a TLS config
// that trusts the server (with a client certificate if TLSAuthClients).
func (s *Server) Options() *redis.Options {
	o := &redis.Options{Addr: s.Addr, Password: s.cfg.Password}
	if s.clientTLS != nil {
		o.TLSConfig = s.clientTLS.Clone()
	}
	return o
}

// OptionsAs is Options for the ACL user name with password.
func (s *Server) OptionsAs(name, password string) *redis.Options {
	o := s.Options()
	o.Username, o.Password = name, password
	return o
}

// URL returns a redis:// (or, with TLS, rediss://) URL for the server,
// carrying the default user's password if there is one. A client of a TLS
// server must still be given the CA (CA.CertFile or CA.ClientConfig).
func (s *Server) URL() string {
	scheme := "redis"
	if s.cfg.TLS != nil {
		scheme = "rediss"
	}
	auth := ""
	if s.cfg.Password != "" {
		auth = ":" + s.cfg.Password + "@"
	}
	return scheme + "://" + auth + s.Addr
}

// Client returns a client for the server, closed when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(s.Options())
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ClientAs returns a client logged in as the ACL user name, closed when the
// test ends.
func (s *Server) ClientAs(t testing.TB, name, password string) *redis.Client {
	t.Helper()
	c := redis.NewClient(s.OptionsAs(name, password))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// SetUser runs ACL SETUSER name rules... on the running server, for example
// SetUser(t, "ro", "on", ">pw", "~*", "+get"). Unlike Config.Users it is not
// kept across Restart.
func (s *Server) SetUser(t testing.TB, name string, rules ...string) {
	t.Helper()
	args := []any{"ACL", "SETUSER", name}
	for _, r := range rules {
		args = append(args, r)
	}
	if err := s.do(context.Background(), args...); err != nil {
		t.Fatalf("redistest: ACL SETUSER %s on %s: %v", name, s.Addr, err)
	}
}

// Info returns INFO section (for example "replication") as a map, or fails
// the test.
func (s *Server) Info(t testing.TB, section string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := s.info(ctx, section)
	if err != nil {
		t.Fatalf("redistest: INFO %s on %s: %v", section, s.Addr, err)
	}
	return m
}

// quick returns a short-lived client with tight timeouts and no retries, for
// the helper's own polling.
func (s *Server) quick() *redis.Client { return redis.NewClient(s.quickOptions()) }

func (s *Server) quickOptions() *redis.Options {
	o := s.Options()
	o.DialTimeout = 300 * time.Millisecond
	o.ReadTimeout = 500 * time.Millisecond
	o.WriteTimeout = 500 * time.Millisecond
	o.MaxRetries = -1
	o.PoolSize = 1
	o.Protocol = 2
	return o
}

func (s *Server) info(ctx context.Context, section string) (map[string]string, error) {
	c := s.quick()
	defer c.Close()
	text, err := c.Info(ctx, section).Result()
	if err != nil {
		return nil, err
	}
	return parseInfo(text), nil
}

func (s *Server) do(ctx context.Context, args ...any) error {
	c := s.quick()
	defer c.Close()
	return c.Do(ctx, args...).Err()
}

func parseInfo(text string) map[string]string {
	m := make(map[string]string)
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

// Dir is the server's working directory (its log and any AOF files).
func (s *Server) Dir() string { return s.dir }

// PID is the process id, or 0 when the server is not running.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil {
		return 0
	}
	return s.p.cmd.Process.Pid
}

// Running reports whether the process is alive (paused counts as alive).
func (s *Server) Running() bool {
	s.mu.Lock()
	p := s.p
	s.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p != nil {
		_ = s.p.cmd.Process.Signal(sig)
	}
}

// Pause stops the process with SIGSTOP: connections stay open, nothing answers.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

// Kill ends the process with SIGKILL and waits until it has exited, so its
// ports are closed. It is idempotent.
func (s *Server) Kill() {
	s.mu.Lock()
	p := s.p
	s.p = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
	}
}

// Restart kills the server and starts it again on the same port and
// directory, with the same arguments. Without Config.Persist every key is gone
// afterwards. After Kill, Restart brings the server back.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	if err := s.run(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}
