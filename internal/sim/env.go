package sim

import (
	"context"
	"net"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/snowlease/idgen/snowflake"
)

// Env is the reusable part of a simulation: the simulated Redis (miniredis,
// which runs the lease's real Lua scripts through gopher-lua), one go-redis
// client per node with the network hook, and an admin client that plays
// the operator and the thief. Schedules run one after another on an Env,
// each starting from an empty Redis; an Env is not safe for concurrent use:
// run schedules in parallel on separate Envs.
type Env struct {
	m       *miniredis.Miniredis
	admin   *redis.Client
	boot    *redis.Client // runs the bootstrap lease, without the simulated network
	clients [maxNodes]*redis.Client

	// Calls arrive here from the hooks, in the lease's goroutines; ops
	// report here when they return.
	arrive chan *call
	opDone chan *op
	watch  *time.Timer

	seen map[snowflake.ID]*holder // the checker's set of issued IDs, reused

	broken error // set when a schedule was abandoned midway: the Env is unusable
}

// NewEnv makes an Env. Close it when done.
func NewEnv() *Env {
	e := &Env{
		m:      miniredis.NewMiniRedis(),
		arrive: make(chan *call),
		opDone: make(chan *op),
		watch:  time.NewTimer(time.Hour),
	}
	e.watch.Stop()
	e.admin = redis.NewClient(e.options())
	e.boot = redis.NewClient(e.options())
	e.boot.AddHook(bootHook{})
	for i := range e.clients {
		e.clients[i] = redis.NewClient(e.options())
		e.clients[i].AddHook(&netHook{env: e, node: i})
	}
	return e
}

// options connect a client to the in-process miniredis over net.Pipe. The
// client neither retries (the simulation decides retries) nor times out in
// practice (the simulation never stalls a call in real time), and speaks
// RESP2 without the handshake extras miniredis does not need.
func (e *Env) options() *redis.Options {
	return &redis.Options{
		Dialer: func(context.Context, string, string) (net.Conn, error) {
			return e.m.Dial()
		},
		Protocol:                 2,
		DisableIdentity:          true,
		MaxRetries:               -1,
		PoolSize:                 1,
		ReadTimeout:              time.Minute,
		WriteTimeout:             time.Minute,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}

// Close releases the Env's clients and Redis.
func (e *Env) Close() {
	for _, c := range e.clients {
		_ = c.Close()
	}
	_ = e.admin.Close()
	_ = e.boot.Close()
	e.m.Close()
}

// reset empties Redis, its script cache and its clock for a new schedule.
func (e *Env) reset() error {
	e.m.FlushAll()
	e.m.SetTime(simBase)
	return e.admin.ScriptFlush(context.Background()).Err()
}

// callKind is which lease script a call runs, told by its first key.
type callKind int

const (
	callOther callKind = iota
	callAcquire
	callRenew
	callRelease
)

var callNames = [...]string{"other", "acquire", "renew", "release"}

func (k callKind) String() string { return callNames[k] }

// call is one script call of a lease, held by the network hook in the
// lease's goroutine until the simulation has decided its fate.
type call struct {
	node int
	op   *op // nil: the lease's own background goroutine (the undo after an unknown acquire)
	ctx  context.Context
	cmd  redis.Cmder
	next redis.ProcessHook
	back chan struct{} // closed when the reply (or the error) is in cmd

	id       int64
	kind     callKind
	proposed int64 // the fence the client proposed (acquire, renew)
	conn     int   // the Redis restart count when sent: a restart drops the connection
	attempts int   // executions so far
	execSeq  int64 // the order of the last execution among all executions
	execEra  int   // the data era of the last execution
	val      any   // the last execution's reply
	err      error
	noScript bool  // the reply is NOSCRIPT: go-redis sends EVAL next
	fate     error // what the client gets instead of the reply: a lost request or reply
}

// netHook hands every script call of a node's client to the simulation and
// waits for its verdict. Other commands (none, from the lease) pass.
type netHook struct {
	env  *Env
	node int
}

func (h *netHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *netHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (h *netHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name != "evalsha" && name != "eval" {
			return next(ctx, cmd)
		}
		c := &call{node: h.node, ctx: ctx, cmd: cmd, next: next, back: make(chan struct{})}
		c.op, _ = ctx.Value(opKey{}).(*op)
		h.env.arrive <- c
		<-c.back
		return cmd.Err()
	}
}

// bootHook makes the bootstrap acquire look at the worker IDs from 0 on,
// instead of from the lease's random offset, so that it replays.
type bootHook struct{}

func (bootHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (bootHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func (bootHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		if name := cmd.Name(); (name == "evalsha" || name == "eval") && len(args) > 3 {
			keys := newKeyNames(namespace)
			if nkeys, _ := args[2].(int); args[3] == keys.meta && len(args) >= 3+nkeys+6 {
				rewriteWindow(args, keys, int64(nkeys-3), 0)
			}
		}
		return next(ctx, cmd)
	}
}

// opKey marks the context of an operation the simulation started, so that
// the hook can tell its calls from background ones.
type opKey struct{}

// netLoss is the error a client sees for a lost request or reply: a
// network error, so the lease cannot tell whether the script ran.
type netLoss string

func (e netLoss) Error() string   { return "sim: " + string(e) }
func (e netLoss) Timeout() bool   { return true }
func (e netLoss) Temporary() bool { return true }

var _ net.Error = netLoss("")

const (
	errRequestLost = netLoss("request lost")
	errReplyLost   = netLoss("reply lost")
	errConnReset   = netLoss("connection reset by a Redis restart")
)
