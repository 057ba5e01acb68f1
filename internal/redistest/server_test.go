package redistest

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartPauseRestart(t *testing.T) {
	s := Start(t, Config{})
	c := s.Client(t)
	ctx := context.Background()
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())

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
	require.Error(t, err, "ping answered while the server was paused")
	s.Resume()

	s.Restart()
	n, err := c.Exists(ctx, "k").Result()
	require.NoError(t, err)
	require.Zero(t, n, "key survived a restart without persistence")
}

func TestPersistSurvivesRestart(t *testing.T) {
	s := Start(t, Config{Persist: true})
	c := s.Client(t)
	ctx := context.Background()
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	s.Restart()
	v, err := c.Get(ctx, "k").Result()
	require.NoError(t, err, "after restart with AOF")
	require.Equal(t, "v", v, "after restart with AOF")
}

func TestStartRetriesTakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
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
	require.Equal(t, 2, attempts, "launch attempts")
	require.NoError(t, s.Client(t).Ping(context.Background()).Err(), "server after retry")
}

func TestKillIsFinal(t *testing.T) {
	s := Start(t, Config{})
	require.True(t, s.Running(), "server not running after Start")
	require.NotZero(t, s.PID(), "server has no PID after Start")
	s.Pause()
	s.Kill() // must work on a stopped process too
	require.False(t, s.Running(), "server still running after Kill")
	require.Zero(t, s.PID(), "server still has a PID after Kill")
	c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
	if err == nil {
		c.Close()
	}
	require.Error(t, err, "port still open after Kill")
	s.Kill() // idempotent
	s.Restart()
	require.NoError(t, s.Client(t).Ping(context.Background()).Err(), "Restart after Kill")
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
		require.NoError(t, s.Client(t).Set(ctx, "k", "v", 0).Err(), "default user with password")
		anon := redis.NewClient(&redis.Options{Addr: s.Addr})
		defer anon.Close()
		require.ErrorContains(t, anon.Get(ctx, "k").Err(), "NOAUTH", "no password")
		wrong := redis.NewClient(&redis.Options{Addr: s.Addr, Password: "nope"})
		defer wrong.Close()
		require.ErrorContains(t, wrong.Ping(ctx).Err(), "WRONGPASS", "wrong password")
		r := s.ClientAs(t, "reader", "rpw")
		v, err := r.Get(ctx, "k").Result()
		require.NoError(t, err, "reader GET")
		require.Equal(t, "v", v, "reader GET")
		require.ErrorContains(t, r.Set(ctx, "k", "x", 0).Err(), "NOPERM", "reader SET")
		require.NoError(t, s.ClientAs(t, "admin", "apw").Set(ctx, "k2", "v", 0).Err(), "admin SET")
	}
	check(t)
	s.Restart() // password and users come from the arguments, so they survive
	check(t)

	s.SetUser(t, "writer", "on", ">wpw", "~w:*", "+@connection", "+set")
	w := s.ClientAs(t, "writer", "wpw")
	require.NoError(t, w.Set(ctx, "w:1", "v", 0).Err(), "writer SET own key")
	require.ErrorContains(t, w.Set(ctx, "other", "v", 0).Err(), "NOPERM", "writer SET other key")
	u, err := redis.ParseURL(s.URL())
	require.NoError(t, err, "URL %q", s.URL())
	require.Equal(t, "s3cret", u.Password, "password in URL %q", s.URL())
}

func TestUserValidation(t *testing.T) {
	for _, u := range []User{{Name: "", Password: "x"}, {Name: "a", Password: ""}, {Name: "a", Password: "x y"}, {Name: "a", Password: "x", Rules: []string{"+get ~*"}}} {
		assert.Error(t, u.validate(), "%+v", u)
	}
	assert.NoError(t, User{Name: "a", Password: "x", Rules: []string{"~*", "+get"}}.validate(), "valid user refused")
}

// StartMain's server answers until stop, which removes its directory.
func TestStartMain(t *testing.T) {
	s, stop, err := StartMain()
	require.NoError(t, err)
	c := redis.NewClient(s.Options())
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		stop()
		require.NoError(t, err, "ping the main server")
	}
	dir := s.Dir()
	stop()
	assert.False(t, s.Running(), "server running after stop")
	conn, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err == nil {
		conn.Close()
	}
	assert.Error(t, err, "%s still accepts connections after stop", s.Addr)
	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "directory %s after stop", dir)
}
