package lease

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/snowlease/idgen/clock"
	"github.com/snowlease/idgen/internal/opterr"
	"github.com/snowlease/idgen/snowflake"
)

// Options configure Acquire. The zero value of every field means its
// default; Acquire copies the struct, fills in the defaults and validates
// the result, so an Options value can be reused and shared: it is safe for
// concurrent use while nobody writes to it.
//
// Every node of a namespace should use the same Layout, Window and MaxSkew:
// the layout is enforced (ErrLayoutMismatch), Window and MaxSkew are not,
// but the data-loss quarantine one node sets can only cover fences as far
// ahead as its own Window + MaxSkew (see the package documentation).
type Options struct {
	// Namespace groups the keys of one fleet of generators. Every key is
	// prefixed with the hash tag "{Namespace}", so on Redis Cluster they all
	// live in one slot. Default "idgen"; 1 to 64 characters from
	// [A-Za-z0-9] and "-_.:/".
	Namespace string

	// Layout is the bit layout of the IDs the lease's worker ID goes into.
	// It fixes the worker range (0 to Layout.MaxWorker()) and the tick that
	// fences and high-water marks are measured in. Default snowflake.Twitter().
	Layout snowflake.Layout

	// TTL is how long the lease key lives in Redis without a renewal.
	// Default 10s; allowed 100ms to 24h.
	TTL time.Duration

	// Window is how far past the send time of its last successful renewal
	// a holder may issue IDs: the fence is tick(send time) + Window. It is
	// how long a node keeps working while Redis is unreachable, and how long
	// a new holder may have to wait after a crash. Default TTL; allowed
	// TTL/2 to 24h, and it must exceed RenewInterval.
	Window time.Duration

	// RenewInterval is the time between renewals; each wait is jittered
	// down by up to 20%. Default TTL/3; allowed 10ms to TTL/2.
	//
	// A negative value (ManualRenewal) turns the background renewals off:
	// the caller renews with Lease.Renew, well within TTL (every TTL/3 is
	// what the background loop does). It is for callers that schedule work
	// themselves, such as a deterministic simulation; with it, a lease that
	// is not renewed simply runs into its fence and then its TTL.
	RenewInterval time.Duration

	// MinReplicas is the fewest replicas that must acknowledge (WAIT) an
	// acquire or a renewal before its fence is used; fewer make the acquire
	// fail and the renewal count as failed, so the fence does not rise.
	//
	// Default 0: as many as the namespace's Redis master has had since it
	// became master, which the namespace remembers, so no setting is
	// needed. A master cut off from its replicas (a partition, while
	// Sentinel promotes one of them) then stops granting fences instead of
	// granting ones the promoted replica never sees; a promoted replica
	// starts over from the replicas it has. When a replica is removed for
	// good, lower the remembered count with ForgetReplicas (CLI: idgen
	// replicas). A value above 0 waits for at least that many. Allowed -1
	// (NoReplicaWait) to 100. Not supported on a redis.Ring with replicas.
	MinReplicas int

	// AllowEviction lets Acquire run on a Redis whose maxmemory-policy is
	// allkeys-*, which may evict the namespace's high-water marks. Every
	// such loss is detected and costs a quarantine, but a policy that can
	// evict them under memory pressure turns that into repeated outages:
	// by default Acquire refuses (ErrEvictionPolicy). volatile-* policies
	// evict only keys with a TTL (lease keys, which the fence covers) and
	// are always allowed.
	AllowEviction bool

	// ReplicaTimeout bounds each WAIT. Default min(RenewInterval/2,
	// OpTimeout/2, 1s); allowed 1ms up to (but not including) the smaller of
	// RenewInterval and OpTimeout (with ManualRenewal, RenewInterval does
	// not count). Used whenever replicas must acknowledge. Redis
	// checks WAIT deadlines on its server cron, so a WAIT that falls short
	// may take up to 1/hz (100ms at the default hz 10) longer; the client's
	// ReadTimeout must exceed that sum.
	ReplicaTimeout time.Duration

	// MaxSkew is the largest difference assumed between any node's clock
	// and Redis' clock. After Redis lost its data (or on the namespace's
	// first use: the two look alike) a new holder starts no earlier than
	// Redis TIME + Window + MaxSkew. Default 1s; allowed 1ms to 1h.
	MaxSkew time.Duration

	// MaxStartWait is how far ahead of the local clock a worker ID's
	// start tick may be for Acquire to take it. Acquire prefers the free ID
	// whose high-water mark is lowest; if even that one starts further
	// ahead, it fails with ErrStartTooFar (a clock fault: some node's clock
	// ran ahead, or this one is behind). During a data-loss quarantine the
	// allowance is Window + MaxSkew + MaxStartWait. Default Window +
	// 2*MaxSkew, the longest wait a fleet within its skew bound can cause
	// (a holder that released without a bound generator, or crashed right
	// after renewing); allowed 1ms to 24h.
	MaxStartWait time.Duration

	// OpTimeout bounds every Redis call the lease makes, and Close as a
	// whole. Default 2s; allowed 10ms to 1m.
	OpTimeout time.Duration

	// Logger receives acquire, renewal-failure, loss and release events.
	// Default nil: silent.
	Logger *slog.Logger

	// Clock is the source of time. The lease anchors it once at Acquire and
	// then measures elapsed time on its monotonic reading, like the
	// generator does, and the renewal loop waits on its timers. Default
	// clock.System(); a *clock.Fake lets a test decide when renewals run.
	Clock clock.Clock

	// Host is recorded in the lease key for `idgen leases`. Default
	// os.Hostname(); at most 255 bytes, without '|'.
	Host string
}

// NoReplicaWait as Options.MinReplicas never waits for replicas. Only for
// a Redis whose replicas can never be promoted while the old master still
// takes writes: otherwise a partitioned master can grant fences a promoted
// replica never sees.
const NoReplicaWait = -1

// ManualRenewal as Options.RenewInterval turns the background renewals
// off: the caller calls Lease.Renew itself.
const ManualRenewal time.Duration = -1

// Defaults, documented on the fields of Options.
const (
	DefaultNamespace = "idgen"
	DefaultTTL       = 10 * time.Second
	DefaultMaxSkew   = time.Second
	DefaultOpTimeout = 2 * time.Second
)

// Limits checked by validation.
const (
	MinTTL           = 100 * time.Millisecond
	maxDuration      = 24 * time.Hour
	minRenewInterval = 10 * time.Millisecond
	maxReplicas      = 100
	minOpTimeout     = 10 * time.Millisecond
	maxOpTimeout     = time.Minute
	maxNamespaceLen  = 64
	maxHostLen       = 255
)

// OptionError reports an option or argument out of range: Field (the
// Options field, such as "TTL"), the Value given and what is Allowed (such
// as "100ms to 24h"). It unwraps to ErrInvalidOptions, and to Err when a
// nested check failed (a Layout's, such as snowflake.ErrBitWidths). It is
// the one option-error type of the module: snowflake.OptionError,
// clockguard.OptionError and idgen.OptionError are the same type. An
// *OptionError is not changed after it is returned, so it is safe for
// concurrent use.
type OptionError = opterr.Error

func optErr(field string, value any, allowed string, args ...any) error {
	return opterr.New(ErrInvalidOptions, field, value, fmt.Sprintf(allowed, args...), nil)
}

// errNilClient is what every function that takes a client returns for nil.
func errNilClient() error { return optErr("client", nil, "a non-nil Redis client") }

// resolve returns a copy of o with defaults filled in, or the first field
// out of range.
func (o Options) resolve() (Options, error) {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if err := checkNamespace(o.Namespace); err != nil {
		return o, err
	}
	o.Layout = o.Layout.OrDefault()
	if err := o.Layout.Validate(); err != nil {
		return o, opterr.New(ErrInvalidOptions, "Layout", o.Layout.Fingerprint(), "a valid snowflake.Layout", err)
	}
	if err := o.resolveTimes(); err != nil {
		return o, err
	}
	if o.MinReplicas < NoReplicaWait || o.MinReplicas > maxReplicas {
		return o, optErr("MinReplicas", o.MinReplicas, "-1 (NoReplicaWait) to %d", maxReplicas)
	}
	if o.Clock == nil {
		o.Clock = clock.System()
	}
	if o.Host == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "unknown"
		}
		o.Host = strings.ReplaceAll(h, "|", "_")
	}
	if len(o.Host) > maxHostLen || strings.Contains(o.Host, "|") {
		return o, optErr("Host", o.Host, "at most %d bytes without '|'", maxHostLen)
	}
	return o, nil
}

func (o *Options) resolveTimes() error {
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.TTL < MinTTL || o.TTL > maxDuration {
		return optErr("TTL", o.TTL, "%v to %v", MinTTL, maxDuration)
	}
	if o.RenewInterval == 0 {
		o.RenewInterval = o.TTL / 3
	}
	manual := o.RenewInterval < 0
	if manual {
		o.RenewInterval = ManualRenewal // one value for "manual", whatever negative value was given
	}
	if !manual && (o.RenewInterval < minRenewInterval || o.RenewInterval > o.TTL/2) {
		return optErr("RenewInterval", o.RenewInterval, "%v to TTL/2 = %v, or negative (ManualRenewal)",
			minRenewInterval, o.TTL/2)
	}
	if o.Window == 0 {
		o.Window = o.TTL
	}
	if o.Window < o.TTL/2 || o.Window > maxDuration || o.Window <= o.RenewInterval {
		return optErr("Window", o.Window, "TTL/2 = %v to %v, and above RenewInterval = %v",
			o.TTL/2, maxDuration, o.RenewInterval)
	}
	if o.MaxSkew == 0 {
		o.MaxSkew = DefaultMaxSkew
	}
	if o.MaxSkew < time.Millisecond || o.MaxSkew > time.Hour {
		return optErr("MaxSkew", o.MaxSkew, "1ms to 1h")
	}
	if o.MaxStartWait == 0 {
		o.MaxStartWait = o.Window + 2*o.MaxSkew
	}
	if o.MaxStartWait < time.Millisecond || o.MaxStartWait > maxDuration {
		return optErr("MaxStartWait", o.MaxStartWait, "1ms to %v", maxDuration)
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	if o.OpTimeout < minOpTimeout || o.OpTimeout > maxOpTimeout {
		return optErr("OpTimeout", o.OpTimeout, "%v to %v", minOpTimeout, maxOpTimeout)
	}
	// With manual renewals there is no interval to fit WAIT into: only
	// OpTimeout bounds it.
	interval := o.RenewInterval
	if manual {
		interval = o.OpTimeout
	}
	if o.ReplicaTimeout == 0 {
		o.ReplicaTimeout = min(interval/2, o.OpTimeout/2, time.Second)
	}
	if limit := min(interval, o.OpTimeout); o.ReplicaTimeout < time.Millisecond || o.ReplicaTimeout >= limit {
		return optErr("ReplicaTimeout", o.ReplicaTimeout, "1ms to below min(RenewInterval, OpTimeout) = %v", limit)
	}
	return nil
}

func checkNamespace(ns string) error {
	const allowed = "1 to 64 characters from [A-Za-z0-9] and \"-_.:/\""
	if ns == "" || len(ns) > maxNamespaceLen {
		return optErr("Namespace", ns, allowed)
	}
	for _, r := range ns {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-_.:/", r):
		default:
			return optErr("Namespace", ns, allowed)
		}
	}
	return nil
}

// Validate reports the first field of o that is out of range, as Acquire
// would, without any network call.
func (o Options) Validate() error {
	_, err := o.resolve()
	return err
}
