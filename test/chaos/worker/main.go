// Command worker is one node of the chaos suite: it leases a worker ID with
// idgen.New, generates IDs with NextN as fast as it can (or at -pace), and
// writes every ID, and the fence in force after each batch, to its own file
// (format: package chaos). Errors such as a reached fence, a lost lease or
// an unreachable Redis are counted and retried after a short back-off.
// SIGTERM (or -duration) ends it: it flushes the file, closes the Generator
// (releasing the worker ID) and exits 0.
//
//	worker -out w1.ids -addr 127.0.0.1:6380 -ttl 1s -window 2s -worker-bits 3
//	worker -out w2.ids -sentinel-master mymaster -sentinel-addrs a:1,b:2 -min-replicas 1
//	worker -out w3.ids -cluster-addrs a:1,b:2,c:3
//
// Exit status: 0 after a clean end, 1 for bad flags or I/O errors, 3 when
// the Generator ended by itself (it should not under the Reacquire policy).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/clock"
	"github.com/snowlease/idgen/clockguard"
	"github.com/snowlease/idgen/snowflake"
	"github.com/snowlease/idgen/test/chaos"
)

type config struct {
	out, name          string
	addr               string
	sentinelMaster     string
	sentinelAddrs      string
	clusterAddrs       string
	reloadCluster      time.Duration
	namespace          string
	ttl, window, renew time.Duration
	opTimeout          time.Duration
	replicaTimeout     time.Duration
	minReplicas        int
	allowEviction      bool
	maxSkew            time.Duration
	clockInterval      time.Duration
	clockOffset        time.Duration
	epoch              string
	unit               time.Duration
	timeBits           uint
	workerBits         uint
	seqBits            uint
	batch              int
	pace               time.Duration
	duration           time.Duration
	logLevel           string
	status             string
}

func main() {
	var c config
	flag.StringVar(&c.out, "out", "", "file to write the IDs to (required)")
	flag.StringVar(&c.name, "name", "", "name of this node in reports (default: the file's base name)")
	flag.StringVar(&c.addr, "addr", "", "standalone Redis (or proxy) address host:port")
	flag.StringVar(&c.sentinelMaster, "sentinel-master", "", "Sentinel master name (with -sentinel-addrs)")
	flag.StringVar(&c.sentinelAddrs, "sentinel-addrs", "", "comma-separated Sentinel addresses")
	flag.StringVar(&c.clusterAddrs, "cluster-addrs", "", "comma-separated Redis Cluster node addresses")
	flag.DurationVar(&c.reloadCluster, "cluster-reload", time.Second, "ClusterStateReloadInterval of the cluster client")
	flag.StringVar(&c.namespace, "namespace", "chaos", "lease namespace")
	flag.DurationVar(&c.ttl, "ttl", time.Second, "lease TTL")
	flag.DurationVar(&c.window, "window", 2*time.Second, "fence window (0: the library's default, TTL)")
	flag.DurationVar(&c.renew, "renew", 0, "renew interval (0: TTL/3)")
	flag.DurationVar(&c.opTimeout, "op-timeout", 0, "timeout of each lease round trip (0: the library's default)")
	flag.DurationVar(&c.replicaTimeout, "replica-timeout", 0, "WAIT timeout (0: the library's default)")
	flag.IntVar(&c.minReplicas, "min-replicas", 0, "replicas that must acknowledge every acquire and renewal (0: as many as the master has had; -1: none)")
	flag.BoolVar(&c.allowEviction, "allow-eviction", false, "run on a Redis with an allkeys-* maxmemory-policy (Options.AllowEviction)")
	flag.DurationVar(&c.maxSkew, "max-skew", 0, "largest accepted clock offset against Redis (0: the library's default, 1s)")
	flag.DurationVar(&c.clockInterval, "clock-interval", 2*time.Second, "period of the clock guard's checks")
	flag.DurationVar(&c.clockOffset, "clock-offset", 0, "offset added to this node's wall clock, e.g. 1s or -1s")
	flag.StringVar(&c.epoch, "epoch", "2025-01-01T00:00:00Z", "layout epoch (RFC 3339)")
	flag.DurationVar(&c.unit, "unit", time.Millisecond, "layout time unit")
	flag.UintVar(&c.timeBits, "time-bits", 0, "layout time bits (0: 63 - worker bits - sequence bits)")
	flag.UintVar(&c.workerBits, "worker-bits", 3, "layout worker bits (few, so that worker IDs are scarce and taken over)")
	flag.UintVar(&c.seqBits, "seq-bits", 12, "layout sequence bits")
	flag.IntVar(&c.batch, "batch", 4096, "IDs per NextN call")
	flag.DurationVar(&c.pace, "pace", 0, "sleep after each batch (0: as fast as possible)")
	flag.DurationVar(&c.duration, "duration", 0, "run time (0: until SIGTERM)")
	flag.StringVar(&c.logLevel, "log", "", "log level on stderr: debug, info, warn, error (empty: silent)")
	flag.StringVar(&c.status, "status", "", "file to keep a one-line status in (worker ID, time of the last batch, IDs), rewritten every 100ms")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(int(ee))
		}
		os.Exit(1)
	}
}

type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// offsetClock is the real clock with its wall time moved by off; elapsed
// time and timers are real.
type offsetClock struct {
	clock.Clock
	off time.Duration
}

func (c offsetClock) Now() time.Time { return c.Clock.Now().Add(c.off) }
func newOffsetClock(off time.Duration) offsetClock {
	return offsetClock{Clock: clock.System(), off: off}
}

func (c config) layout() (snowflake.Layout, error) {
	epoch, err := time.Parse(time.RFC3339, c.epoch)
	if err != nil {
		return snowflake.Layout{}, fmt.Errorf("-epoch: %w", err)
	}
	if c.timeBits == 0 {
		c.timeBits = 63 - c.workerBits - c.seqBits
	}
	l := snowflake.Layout{Epoch: epoch, TimeUnit: c.unit,
		TimeBits: uint8(c.timeBits), WorkerBits: uint8(c.workerBits), SequenceBits: uint8(c.seqBits)}
	return l, l.Validate()
}

func (c config) client() (redis.UniversalClient, error) {
	split := func(s string) []string { return strings.Split(s, ",") }
	switch {
	case c.clusterAddrs != "":
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:                      split(c.clusterAddrs),
			ClusterStateReloadInterval: c.reloadCluster,
		}), nil
	case c.sentinelMaster != "":
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:    c.sentinelMaster,
			SentinelAddrs: split(c.sentinelAddrs),
		}), nil
	case c.addr != "":
		return redis.NewClient(&redis.Options{Addr: c.addr}), nil
	}
	return nil, errors.New("one of -addr, -sentinel-master or -cluster-addrs is required")
}

// clockEvents collects the clock guard's events for the main loop, which
// owns the file.
type clockEvents struct {
	mu sync.Mutex
	ev []clockguard.Event
}

func (c *clockEvents) add(e clockguard.Event) {
	c.mu.Lock()
	c.ev = append(c.ev, e)
	c.mu.Unlock()
}

func (c *clockEvents) take() []clockguard.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev := c.ev
	c.ev = nil
	return ev
}

func run(c config) error {
	if c.out == "" {
		return errors.New("-out is required")
	}
	if c.name == "" {
		c.name = strings.TrimSuffix(c.out[strings.LastIndex(c.out, "/")+1:], ".ids")
	}
	lay, err := c.layout()
	if err != nil {
		return err
	}
	if c.batch < 1 {
		return errors.New("-batch must be at least 1")
	}
	client, err := c.client()
	if err != nil {
		return err
	}
	defer client.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if c.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}

	w, err := chaos.Create(c.out, chaos.Header{Name: c.name, PID: os.Getpid(), Layout: lay,
		ClockOffset: c.clockOffset, Started: time.Now()})
	if err != nil {
		return err
	}
	logger := slog.New(slog.DiscardHandler)
	if c.logLevel != "" {
		var lv slog.Level
		if err := lv.UnmarshalText([]byte(c.logLevel)); err != nil {
			return fmt.Errorf("-log: %w", err)
		}
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lv})).With("node", c.name)
	}
	events := &clockEvents{}
	opts := idgen.Options{
		Layout:             lay,
		Namespace:          c.namespace,
		TTL:                c.ttl,
		Window:             c.window,
		RenewInterval:      c.renew,
		MinReplicas:        c.minReplicas,
		AllowEviction:      c.allowEviction,
		ReplicaTimeout:     c.replicaTimeout,
		OpTimeout:          c.opTimeout,
		MaxSkew:            c.maxSkew,
		ClockCheckInterval: c.clockInterval,
		Clock:              newOffsetClock(c.clockOffset),
		OnClockEvent:       events.add,
		Host:               c.name,
		Logger:             logger,
	}
	n := &node{w: w, events: events, counts: map[string]uint64{}, status: c.status}
	err = n.loop(ctx, client, opts, c)
	if cerr := n.finish(); err == nil {
		err = cerr
	}
	return err
}

// node is the state of the generating loop.
type node struct {
	w      *chaos.Writer
	gen    *idgen.Generator
	events *clockEvents
	counts map[string]uint64

	lost uint64 // last Stats().LeasesLost seen

	inOutage    bool
	outageStart time.Time
	outageKinds uint64
	outageFails uint64
	outageMsg   string
	outageLast  string

	status     string // file for writeStatus
	lastStatus time.Time
}

// writeStatus replaces the status file: "worker <id> at <unix ns> ids <n>",
// for the test to see which worker ID a node issues with right now.
func (n *node) writeStatus(worker int64, at time.Time) {
	if n.status == "" {
		return
	}
	n.lastStatus = at
	tmp := n.status + ".tmp"
	line := fmt.Sprintf("worker %d at %d ids %d\n", worker, at.UnixNano(), n.counts["ids"])
	if os.WriteFile(tmp, []byte(line), 0o644) == nil {
		_ = os.Rename(tmp, n.status)
	}
}

// acquire calls idgen.New until it succeeds or ctx ends.
func (n *node) acquire(ctx context.Context, client redis.UniversalClient, opts idgen.Options) error {
	start := time.Now()
	for tries := 1; ; tries++ {
		n.counts["new_attempts"]++
		g, err := idgen.New(ctx, client, opts)
		if err == nil {
			n.gen = g
			return n.w.Acquired(time.Now(), time.Since(start), tries, g.WorkerID())
		}
		n.counts["new_failures"]++
		if errors.Is(err, idgen.ErrInvalidOptions) {
			return err
		}
		if tries == 1 || tries%100 == 0 {
			fmt.Fprintf(os.Stderr, "worker: idgen.New, try %d: %v\n", tries, err)
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50*time.Millisecond + rand.N(100*time.Millisecond)):
		}
	}
}

func (n *node) loop(ctx context.Context, client redis.UniversalClient, opts idgen.Options, c config) error {
	if err := n.acquire(ctx, client, opts); err != nil || n.gen == nil {
		return err
	}
	buf := make([]snowflake.ID, c.batch)
	lastFlush := time.Now()
	for ctx.Err() == nil {
		k, err := n.gen.NextN(buf)
		if k > 0 {
			st := n.gen.Stats() // after the batch: its fence covers every ID in it
			now := time.Now()
			// A lease loss is recorded before the batch, which may be
			// the first of the new lease.
			if err := n.observe(st, now); err != nil {
				return err
			}
			if err := n.endOutage(now); err != nil {
				return err
			}
			if err := n.w.Batch(buf[:k], st.WorkerID, st.Fence, now); err != nil {
				return err
			}
			n.counts["ids"] += uint64(k)
			n.counts["batches"]++
			if now.Sub(n.lastStatus) >= 100*time.Millisecond {
				n.writeStatus(st.WorkerID, now)
			}
			if now.Sub(lastFlush) > 100*time.Millisecond {
				if err := n.w.Flush(); err != nil {
					return err
				}
				lastFlush = now
			}
		}
		if err != nil {
			if err := n.failed(err); err != nil {
				return err
			}
			select {
			case <-n.gen.Done():
				if !errors.Is(n.gen.Err(), idgen.ErrClosed) {
					return fmt.Errorf("%w: the generator ended: %v", exitError(3), n.gen.Err())
				}
			case <-ctx.Done():
			case <-time.After(2 * time.Millisecond):
			}
			continue
		}
		if c.pace > 0 {
			time.Sleep(c.pace)
		}
	}
	return nil
}

// failed counts a failed NextN and starts or extends an outage.
func (n *node) failed(err error) error {
	var kind uint64
	switch {
	case errors.Is(err, idgen.ErrClosed):
		kind = chaos.KindClosed
	case errors.Is(err, idgen.ErrLeaseLost), errors.Is(err, snowflake.ErrStopped):
		kind = chaos.KindLost
	case errors.Is(err, snowflake.ErrFenced):
		kind = chaos.KindFenced
	case errors.Is(err, snowflake.ErrPaused):
		kind = chaos.KindPaused
	default:
		kind = chaos.KindOther
	}
	n.counts["err_"+chaos.KindString(kind)]++
	now := time.Now()
	if !n.inOutage {
		n.inOutage, n.outageStart, n.outageKinds, n.outageFails, n.outageMsg = true, now, 0, 0, err.Error()
	}
	n.outageKinds |= kind
	n.outageLast = err.Error()
	n.outageFails++
	return n.observe(n.gen.Stats(), now)
}

func (n *node) endOutage(now time.Time) error {
	if !n.inOutage {
		return nil
	}
	n.inOutage = false
	return n.w.Outage(n.outageStart, now.Sub(n.outageStart), n.outageKinds, n.outageFails, n.outageMsg, n.outageLast)
}

// observe records lease losses and clock events.
func (n *node) observe(st idgen.Stats, now time.Time) error {
	if st.LeasesLost > n.lost {
		n.lost = st.LeasesLost
		if err := n.w.LeaseLost(now, st.LeasesLost); err != nil {
			return err
		}
	}
	for _, e := range n.events.take() {
		if err := n.w.ClockEvent(e.At, int(e.Kind), e.Amount); err != nil {
			return err
		}
	}
	return nil
}

// finish closes the Generator (releasing the worker ID), writes the final
// counters and closes the file.
func (n *node) finish() error {
	var err error
	if n.gen != nil {
		if n.inOutage {
			err = n.endOutage(time.Now())
		}
		st := n.gen.Stats()
		_ = n.observe(st, time.Now())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if cerr := n.gen.Close(ctx); cerr != nil {
			n.counts["close_errors"]++
			fmt.Fprintln(os.Stderr, "worker: close:", cerr)
		}
		cancel()
		for k, v := range map[string]uint64{
			"lib_issued": st.Issued, "lib_fenced": st.Fenced, "renewals": st.Renewals,
			"renew_failures": st.RenewFailures, "leases_lost": st.LeasesLost,
			"clock_regressions": st.ClockRegressions,
		} {
			n.counts[k] = v
		}
	}
	cs := make([]chaos.Counter, 0, len(n.counts))
	for k, v := range n.counts {
		cs = append(cs, chaos.Counter{Name: k, Value: v})
	}
	if ferr := n.w.Final(cs); err == nil {
		err = ferr
	}
	if cerr := n.w.Close(); err == nil {
		err = cerr
	}
	return err
}
