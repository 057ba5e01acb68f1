package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// defaultRedisURL is used when neither --redis nor REDIS_URL is set.
const defaultRedisURL = "redis://127.0.0.1:6379"

// connFlags are the Redis connection flags every command that talks to
// Redis accepts.
type connFlags struct {
	url              string
	sentinelMaster   string
	sentinelAddrs    string
	sentinelPassword string
	clusterAddrs     string
	timeout          time.Duration
}

func (c *connFlags) register(fs *flag.FlagSet, env func(string) string) {
	def := env("REDIS_URL")
	if def == "" {
		def = defaultRedisURL
	}
	fs.StringVar(&c.url, "redis", def,
		"Redis `URL`: redis://[user:password@]host:port[/db] or rediss:// for TLS (default from $REDIS_URL)")
	fs.StringVar(&c.sentinelMaster, "sentinel-master", "",
		"Sentinel master `name`; with --sentinel-addrs. The URL then gives only credentials, db and TLS")
	fs.StringVar(&c.sentinelAddrs, "sentinel-addrs", "",
		"comma-separated Sentinel `host:port` list")
	fs.StringVar(&c.sentinelPassword, "sentinel-password", env("REDIS_SENTINEL_PASSWORD"),
		"`password` for the Sentinels themselves (default from $REDIS_SENTINEL_PASSWORD)")
	fs.StringVar(&c.clusterAddrs, "cluster-addrs", "",
		"comma-separated Redis Cluster seed `host:port` list. The URL then gives only credentials and TLS")
	fs.DurationVar(&c.timeout, "redis-timeout", 5*time.Second,
		"dial, read and write `timeout` for each Redis command")
}

// client builds the Redis client the flags describe: standalone from the
// URL, Sentinel when --sentinel-master is set, Cluster when --cluster-addrs
// is set.
func (c *connFlags) client() (redis.UniversalClient, error) {
	if c.timeout <= 0 {
		return nil, fmt.Errorf("--redis-timeout must be positive, got %v", c.timeout)
	}
	base, err := redis.ParseURL(c.url)
	if err != nil {
		return nil, fmt.Errorf("bad Redis URL %q: %v (want redis://[user:password@]host:port[/db] or rediss://...)",
			redactURL(c.url), err)
	}
	sentinels := splitAddrs(c.sentinelAddrs)
	cluster := splitAddrs(c.clusterAddrs)
	switch {
	case c.sentinelMaster != "" && len(cluster) > 0:
		return nil, errors.New("--sentinel-master and --cluster-addrs cannot be used together: pick the one your Redis runs")
	case c.sentinelMaster != "" && len(sentinels) == 0:
		return nil, errors.New("--sentinel-master needs --sentinel-addrs host:port[,host:port...]")
	case c.sentinelMaster == "" && len(sentinels) > 0:
		return nil, errors.New("--sentinel-addrs needs --sentinel-master NAME (the master's name in sentinel.conf)")
	case c.sentinelMaster != "":
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:       c.sentinelMaster,
			SentinelAddrs:    sentinels,
			SentinelPassword: c.sentinelPassword,
			Username:         base.Username,
			Password:         base.Password,
			DB:               base.DB,
			TLSConfig:        base.TLSConfig,
			DialTimeout:      c.timeout,
			ReadTimeout:      c.timeout,
			WriteTimeout:     c.timeout,
		}), nil
	case len(cluster) > 0:
		if base.DB != 0 {
			return nil, fmt.Errorf("a Redis Cluster has only database 0, but the URL selects database %d", base.DB)
		}
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:        cluster,
			Username:     base.Username,
			Password:     base.Password,
			TLSConfig:    base.TLSConfig,
			DialTimeout:  c.timeout,
			ReadTimeout:  c.timeout,
			WriteTimeout: c.timeout,
		}), nil
	default:
		base.DialTimeout = c.timeout
		base.ReadTimeout = c.timeout
		base.WriteTimeout = c.timeout
		return redis.NewClient(base), nil
	}
}

// describe names the Redis the flags point at, without the password.
func (c *connFlags) describe() string {
	switch {
	case c.sentinelMaster != "":
		return fmt.Sprintf("sentinel master %q via %s", c.sentinelMaster, c.sentinelAddrs)
	case c.clusterAddrs != "":
		return "cluster " + c.clusterAddrs
	default:
		return redactURL(c.url)
	}
}

// open builds the client and checks that Redis answers. A bad URL or flag
// combination is a usage error (exit 2); an unreachable Redis a failure
// (exit 1), with advice. On failure it has printed the error and returns
// the exit code with a nil client.
func (c *connFlags) open(ctx context.Context, e *env, cmd string) (redis.UniversalClient, int) {
	client, err := c.client()
	if err != nil {
		return nil, usageError(e, cmd, "%v", err)
	}
	pctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		_ = client.Close()
		return nil, fail(e, cmd, fmt.Errorf("cannot reach Redis at %s: %v%s", c.describe(), err, connAdvice(err)))
	}
	return client, exitOK
}

// connAdvice says what to do about a failed connection.
func connAdvice(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "NOAUTH"), strings.Contains(s, "WRONGPASS"), strings.Contains(s, "invalid password"),
		strings.Contains(s, "invalid username-password"):
		return " (put the credentials in the URL: redis://USER:PASSWORD@host:port, or set REDIS_URL)"
	case errors.Is(err, context.DeadlineExceeded):
		return " (no answer within --redis-timeout: is redis-server running there? point --redis or REDIS_URL at it)"
	case strings.Contains(s, "connection refused"), strings.Contains(s, "no such host"), strings.Contains(s, "timeout"):
		return " (is redis-server running there? point --redis or REDIS_URL at it)"
	case strings.Contains(s, "tls"), strings.Contains(s, "certificate"):
		return " (TLS problem: use rediss:// only for TLS ports; add ?skip_verify=true only for testing)"
	}
	return ""
}

func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// redactURL hides the password in a Redis URL so it can be printed.
func redactURL(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return u
	}
	cred := u[scheme+3 : at]
	if i := strings.Index(cred, ":"); i >= 0 {
		cred = cred[:i] + ":xxxxx"
	}
	return u[:scheme+3] + cred + u[at:]
}
