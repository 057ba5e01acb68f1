package idgen_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/internal/redistest"
	"github.com/snowlease/idgen/lease"
)

// newErr runs New and returns its error, failing the test if New succeeds
// or takes longer than limit: a bad connection must fail at start-up, fast.
func newErr(t *testing.T, client redis.UniversalClient, opts idgen.Options, limit time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	start := time.Now()
	g, err := idgen.New(ctx, client, opts)
	if err == nil {
		_ = g.Close(context.Background())
		t.Fatal("New succeeded; want a start-up error")
	}
	require.Less(t, time.Since(start), limit, "New took too long to fail")
	return err
}

// A rediss:// URL plus the test CA: the library connects over TLS, issues
// IDs and releases its lease.
func TestTLSWithTestCA(t *testing.T) {
	t.Parallel()
	ca := redistest.NewCA(t)
	rs := redistest.Start(t, redistest.Config{TLS: ca})
	require.True(t, strings.HasPrefix(rs.URL(), "rediss://"), rs.URL())
	opt, err := redis.ParseURL(rs.URL())
	require.NoError(t, err)
	opt.TLSConfig.RootCAs = ca.Pool()
	client := redis.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })

	g := newGen(t, client, fast("tls"))
	a := nextRetry(t, g, 5*time.Second)
	b := nextRetry(t, g, 5*time.Second)
	assert.Less(t, a, b)
	require.NoError(t, g.Close(context.Background()))
	assert.Empty(t, leases(t, client, "tls"), "Close released the lease over TLS")
}

// A server whose certificate another CA signed is refused at start-up with
// a certificate error, and nothing is written.
func TestTLSRefusesUnverifiedServer(t *testing.T) {
	t.Parallel()
	trusted, other := redistest.NewCA(t), redistest.NewCA(t)
	rs := redistest.Start(t, redistest.Config{TLS: other})
	opt, err := redis.ParseURL(rs.URL())
	require.NoError(t, err)
	opt.TLSConfig.RootCAs = trusted.Pool()
	opt.MaxRetries = -1
	client := redis.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })

	err = newErr(t, client, fast("tls-bad"), 15*time.Second)
	t.Log(err)
	assert.Contains(t, err.Error(), "certificate", "the error says why: %v", err)

	good := redis.NewClient(&redis.Options{Addr: rs.Addr, TLSConfig: other.ClientConfig()})
	t.Cleanup(func() { _ = good.Close() })
	n, err := good.DBSize(context.Background()).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "a refused connection wrote nothing")
}

// A wrong password fails New at once with an authentication error.
func TestWrongPasswordFailsAtStart(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{Password: "right-one"})
	client := redis.NewClient(&redis.Options{Addr: rs.Addr, Password: "wrong-one", MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })

	err := newErr(t, client, fast("auth"), 15*time.Second)
	t.Log(err)
	assert.ErrorIs(t, err, idgen.ErrRedisAuth)
	assert.NotErrorIs(t, err, idgen.ErrRedisUnreachable)
	msg := strings.ToLower(err.Error())
	assert.True(t, strings.Contains(msg, "wrongpass") || strings.Contains(msg, "password") || strings.Contains(msg, "auth"),
		"the error names the credentials: %v", err)
}

// A user without the commands the library needs fails New at start-up with
// a permission error (not later, not a hang), and leaves no lease key.
// Redis down at start is told apart from a refusal and from a clock error,
// and a bad option is found before any network call (the same client then
// gives ErrInvalidOptions, not ErrRedisUnreachable).
func TestStartErrorsTellCausesApart(t *testing.T) {
	t.Parallel()
	port := redistest.FreePort(t)
	client := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	err := newErr(t, client, fast("down"), 15*time.Second)
	assert.ErrorIs(t, err, idgen.ErrRedisUnreachable)
	assert.NotErrorIs(t, err, idgen.ErrRedisAuth)

	for _, o := range []idgen.Options{
		{TTL: time.Millisecond},                            // lease's range
		{Namespace: "a b"},                                 // lease's range
		{ClockCheckInterval: time.Microsecond},             // clockguard's range
		{TTL: time.Second, RenewInterval: 2 * time.Second}, // lease's RenewInterval <= TTL/2
	} {
		err := newErr(t, client, o, 15*time.Second)
		assert.ErrorIs(t, err, idgen.ErrInvalidOptions, "%+v: %v", o, err)
		assert.NotErrorIs(t, err, idgen.ErrRedisUnreachable, "%+v: checked only after a network call", o)
	}

	rs := redistest.Start(t, redistest.Config{})
	opts := fast("skewed")
	opts.Clock = skewed(time.Hour)
	err = newErr(t, rs.Client(t), opts, 15*time.Second)
	assert.ErrorIs(t, err, idgen.ErrClockSkew)
	assert.NotErrorIs(t, err, idgen.ErrRedisUnreachable)
}

func TestUserWithoutPermissionFailsAtStart(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t, redistest.Config{Users: []redistest.User{
		// Everything on the namespace's keys but HSET, which the acquire
		// script needs to raise the high-water mark.
		{Name: "nohset", Password: "pw", Rules: []string{"~{perm}:*", "+@all", "-hset"}},
		// Not even EVALSHA/EVAL.
		{Name: "noscripts", Password: "pw", Rules: []string{"~{perm}:*", "+@all", "-evalsha", "-eval"}},
	}})
	admin := rs.Client(t)
	for _, user := range []string{"nohset", "noscripts"} {
		t.Run(user, func(t *testing.T) {
			client := redis.NewClient(&redis.Options{Addr: rs.Addr, Username: user, Password: "pw", MaxRetries: -1})
			t.Cleanup(func() { _ = client.Close() })
			err := newErr(t, client, fast("perm"), 15*time.Second)
			t.Log(err)
			assert.True(t, errors.Is(err, lease.ErrPermission), "want lease.ErrPermission, got %v", err)
			assert.ErrorIs(t, err, idgen.ErrRedisAuth)
			keys, kerr := admin.Keys(context.Background(), "{perm}:lease:*").Result()
			require.NoError(t, kerr)
			assert.Empty(t, keys, "no lease key left behind")
		})
	}
}
