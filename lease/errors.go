package lease

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Errors a caller can act on. Every error the package returns wraps one of
// them; test with errors.Is.
var (
	// ErrNoWorkerAvailable: every worker ID of the namespace is held (the
	// message says how many there are and which namespace), or the free ones
	// cannot be used (then it also wraps ErrStartTooFar or ErrForeignKey).
	ErrNoWorkerAvailable = errors.New("lease: no worker ID available")
	// ErrLeaseLost: the lease key expired, was deleted or taken by another
	// holder, or Redis lost its data. The bound targets were stopped.
	ErrLeaseLost = errors.New("lease: lease lost")
	// ErrLayoutMismatch: the namespace was first used with another layout.
	ErrLayoutMismatch = errors.New("lease: layout mismatch")
	// ErrClosed: the lease was released.
	ErrClosed = errors.New("lease: closed")
	// ErrInvalidOptions: an option or argument is out of range (or the
	// client is nil); the error is an *OptionError naming the field and the
	// allowed range.
	ErrInvalidOptions = errors.New("lease: invalid options")
	// ErrStartTooFar: the only usable worker IDs start further ahead of the
	// local clock than MaxStartWait allows: a clock is off.
	ErrStartTooFar = errors.New("lease: start tick too far ahead of the local clock")
	// ErrForeignKey: a key of the namespace holds a value this package did
	// not write (wrong type or format).
	ErrForeignKey = errors.New("lease: foreign key in namespace")
	// ErrReplication: fewer replicas acknowledged a write than the
	// namespace's server has had (or than MinReplicas).
	ErrReplication = errors.New("lease: not enough replicas acknowledged")
	// ErrEvictionPolicy: Redis's maxmemory-policy may evict the namespace's
	// high-water marks (allkeys-*); set it to noeviction, or set
	// Options.AllowEviction.
	ErrEvictionPolicy = errors.New("lease: redis may evict keys")
	// ErrNoServerInfo: INFO server and INFO replication do not show the
	// run_id, master_replid and connected_slaves the lease needs to notice
	// a restart or a failover (the ACL user needs +info).
	ErrNoServerInfo = errors.New("lease: redis does not show its server identity")
	// ErrUnavailable: Redis could not be reached or did not answer in time.
	ErrUnavailable = errors.New("lease: redis unavailable")
	// ErrAuth: Redis refused the client's credentials (NOAUTH, WRONGPASS).
	ErrAuth = errors.New("lease: redis authentication failed")
	// ErrPermission: the Redis ACL user may not run a command or touch a
	// key the package needs (NOPERM); Keys.ACL lists them.
	ErrPermission = errors.New("lease: redis permission denied")
)

// mapErr turns a go-redis error into one of the package's errors, keeping
// the original in the chain.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrReplication) {
		return err // already says what happened
	}
	var re redis.Error
	if errors.As(err, &re) {
		return mapRedisReply(op, re)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %s: no answer in time: %w", ErrUnavailable, op, err)
	case isNetErr(err):
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	return fmt.Errorf("lease: %s: %w", op, err)
}

func mapRedisReply(op string, re redis.Error) error {
	msg := strings.TrimPrefix(re.Error(), "ERR ")
	code, rest, _ := strings.Cut(msg, " ")
	switch code {
	case "NOAUTH", "WRONGPASS":
		return fmt.Errorf("%w: %s: %w", ErrAuth, op, re)
	case "NOPERM":
		return fmt.Errorf("%w: %s: %w", ErrPermission, op, re)
	case "WRONGTYPE":
		return fmt.Errorf("%w: %s: %w", ErrForeignKey, op, re)
	case "NOREPLICAS":
		return fmt.Errorf("%w: %s: %w", ErrReplication, op, re)
	case "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "READONLY":
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, re)
	case "IDGEN":
		return mapScriptErr(op, rest, re)
	}
	switch {
	case strings.Contains(msg, "can't run this command") || strings.Contains(msg, "NOPERM") ||
		strings.Contains(msg, "No permissions"):
		// An ACL refusal inside a script does not say which command or key.
		return fmt.Errorf("%w: %s: the ACL user needs %s: %w", ErrPermission, op, aclHint(), re)
	case strings.Contains(msg, "unauthenticated"):
		// Before AUTH, Redis drops a command with many arguments with a
		// protocol error instead of NOAUTH.
		return fmt.Errorf("%w: %s: %w", ErrAuth, op, re)
	}
	return fmt.Errorf("lease: %s: %w", op, re)
}

// mapScriptErr decodes the "IDGEN <kind> ..." errors the scripts raise.
func mapScriptErr(op, rest string, re error) error {
	kind, detail, _ := strings.Cut(rest, " ")
	switch kind {
	case "LAYOUT":
		return fmt.Errorf("%w: %s: the namespace was first used with layout %q", ErrLayoutMismatch, op, detail)
	case "WRONGTYPE":
		key, typ, _ := strings.Cut(detail, " ")
		return fmt.Errorf("%w: %s: key %s holds a %s", ErrForeignKey, op, key, typ)
	case "BADHWM":
		return fmt.Errorf("%w: %s: high-water mark of worker %s is not an integer", ErrForeignKey, op, detail)
	case "EVICTION":
		return fmt.Errorf("%w: %s: maxmemory-policy is %s, which can evict the namespace's high-water marks "+
			"(each loss costs a quarantine): set maxmemory-policy noeviction (or a volatile-* policy), "+
			"or Options.AllowEviction", ErrEvictionPolicy, op, detail)
	case "NOINFO":
		return fmt.Errorf("%w: %s: %w", ErrNoServerInfo, op, re)
	}
	return fmt.Errorf("lease: %s: %w", op, re)
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, redis.ErrClosed)
}

// definitive reports whether err proves that the command did not change
// anything in Redis: an error reply (the scripts write nothing before their
// last check) as opposed to a lost connection or a timeout, after which the
// command may or may not have run.
func definitive(err error) bool {
	var re redis.Error
	return err == nil || errors.As(err, &re)
}

// mayHaveWritten reports whether a failed script call may have left writes
// behind: its outcome is unknown, or Redis aborted it midway, or it ran but
// was not replicated.
func mayHaveWritten(err error) bool {
	return !definitive(err) || abortedScript(err) || errors.Is(err, ErrReplication)
}

// abortedScript reports whether err is Redis aborting a script midway (a
// command in it refused by ACL, memory limits, ...), after which some of
// its writes may have happened. The scripts' own "IDGEN" refusals come
// before any write.
func abortedScript(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !redis.HasErrorPrefix(err, "IDGEN ") && strings.Contains(re.Error(), "script")
}
