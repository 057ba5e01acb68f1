package redistest

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestStartPauseRestart(t *testing.T) {
	s := Start(t, Config{})
	c := s.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// go-redis ignores context deadlines (and waits ReadTimeout, 5s) unless
	// ContextTimeoutEnabled is set.
	o := s.Options()
	o.ContextTimeoutEnabled = true
	fast := redis.NewClient(o)
	defer fast.Close()
	s.Pause()
	pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	err := fast.Ping(pctx).Err()
	cancel()
	if err == nil {
		t.Fatal("ping answered while the server was paused")
	}
	s.Resume()

	s.Restart()
	n, err := c.Exists(ctx, "k").Result()
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("key survived a restart without persistence")
	}
}

func TestPersistSurvivesRestart(t *testing.T) {
	s := Start(t, Config{Persist: true})
	c := s.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	v, err := c.Get(ctx, "k").Result()
	if err != nil || v != "v" {
		t.Fatalf("after restart with AOF: %q, %v", v, err)
	}
}

func TestStartRetriesTakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port

	bin := Binary(t)
	s := &Server{t: t, dir: t.TempDir()}
	t.Cleanup(s.Kill)
	attempts := 0
	s.launch(func(port int) []string {
		attempts++
		if attempts == 1 {
			port = takenPort // as if another process won the race for the port
		}
		return []string{bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
			"--dir", s.dir, "--logfile", s.logPath()}
	})
	if attempts != 2 {
		t.Fatalf("launch made %d attempts, want 2", attempts)
	}
	if err := s.Client(t).Ping(context.Background()).Err(); err != nil {
		t.Fatalf("server after retry: %v", err)
	}
}

func TestKillIsFinal(t *testing.T) {
	s := Start(t, Config{})
	if !s.Running() || s.PID() == 0 {
		t.Fatal("server not running after Start")
	}
	s.Pause()
	s.Kill() // must work on a stopped process too
	if s.Running() || s.PID() != 0 {
		t.Fatal("server still running after Kill")
	}
	if c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("port still open after Kill")
	}
	s.Kill() // idempotent
	s.Restart()
	if err := s.Client(t).Ping(context.Background()).Err(); err != nil {
		t.Fatalf("Restart after Kill: %v", err)
	}
}

func TestPasswordAndACLUsers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := Start(t, Config{
		Password: "s3cret",
		Users: []User{
			{Name: "reader", Password: "rpw", Rules: []string{"~*", "+@connection", "+get"}},
			{Name: "admin", Password: "apw"},
		},
	})
	check := func(t *testing.T) {
		t.Helper()
		if err := s.Client(t).Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatalf("default user with password: %v", err)
		}
		anon := redis.NewClient(&redis.Options{Addr: s.Addr})
		defer anon.Close()
		if err := anon.Get(ctx, "k").Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
			t.Fatalf("no password: got %v, want NOAUTH", err)
		}
		wrong := redis.NewClient(&redis.Options{Addr: s.Addr, Password: "nope"})
		defer wrong.Close()
		if err := wrong.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Fatalf("wrong password: got %v, want WRONGPASS", err)
		}
		r := s.ClientAs(t, "reader", "rpw")
		if v, err := r.Get(ctx, "k").Result(); err != nil || v != "v" {
			t.Fatalf("reader GET: %q, %v", v, err)
		}
		if err := r.Set(ctx, "k", "x", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Fatalf("reader SET: got %v, want NOPERM", err)
		}
		if err := s.ClientAs(t, "admin", "apw").Set(ctx, "k2", "v", 0).Err(); err != nil {
			t.Fatalf("admin SET: %v", err)
		}
	}
	check(t)
	s.Restart() // password and users come from the arguments, so they survive
	check(t)

	s.SetUser(t, "writer", "on", ">wpw", "~w:*", "+@connection", "+set")
	w := s.ClientAs(t, "writer", "wpw")
	if err := w.Set(ctx, "w:1", "v", 0).Err(); err != nil {
		t.Fatalf("writer SET own key: %v", err)
	}
	if err := w.Set(ctx, "other", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("writer SET other key: got %v, want NOPERM", err)
	}
	if u, err := redis.ParseURL(s.URL()); err != nil || u.Password != "s3cret" {
		t.Fatalf("URL %q: %+v, %v", s.URL(), u, err)
	}
}

func TestUserValidation(t *testing.T) {
	for _, u := range []User{{Name: "", Password: "x"}, {Name: "a", Password: ""}, {Name: "a", Password: "x y"}, {Name: "a", Password: "x", Rules: []string{"+get ~*"}}} {
		if err := u.validate(); err == nil {
			t.Errorf("%+v: no error", u)
		}
	}
	if err := (User{Name: "a", Password: "x", Rules: []string{"~*", "+get"}}).validate(); err != nil {
		t.Errorf("valid user refused: %v", err)
	}
}

// StartMain's server answers until stop, which removes its directory.
func TestStartMain(t *testing.T) {
	s, stop, err := StartMain()
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(s.Options())
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		stop()
		t.Fatal(err)
	}
	dir := s.Dir()
	stop()
	if s.Running() {
		t.Error("server running after stop")
	}
	if _, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		t.Errorf("%s still accepts connections after stop", s.Addr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory %s after stop: %v", dir, err)
	}
}
