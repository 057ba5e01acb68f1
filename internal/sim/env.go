package sim

import (
	"context"
	"net"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/snowlease/idgen/internal/sim/miniserver"
	"github.com/snowlease/idgen/lease"

	"github.com/snowlease/idgen/snowflake"
)

// Env is the reusable part of a simulation: two simulated Redis servers
// (miniredis, which runs the lease's real Lua scripts through gopher-lua;
// one is the master, the other its replica when a schedule has one), one
// go-redis client per node with the network hook, and a client without
// hooks per server that runs the calls the simulation delivers there and
// plays the operator and the thief. Schedules run one after another on an
// Env, each starting from empty servers; an Env is not safe for concurrent
// use: run schedules in parallel on separate Envs.
type Env struct {
	srv     [2]*server
	boot    *redis.Client // runs the bootstrap lease on server 0, without the simulated network
	clients [maxNodes]*redis.Client

	// Calls arrive here from the hooks, in the lease's goroutines; ops
	// report here when they return.
	arrive chan *call
	opDone chan *op
	watch  *time.Timer

	seen map[snowflake.ID]*holder // the checker's set of issued IDs, reused

	broken error // set when a schedule was abandoned midway: the Env is unusable
}

// server is one simulated Redis process: its data, the identity its INFO
// shows (restarts and promotions move it), and a client that runs what the
// simulation delivers to it.
type server struct {
	name string
	m    *miniredis.Miniredis
	id   *miniserver.Identity
	raw  *redis.Client
}

// NewEnv makes an Env. Close it when done.
func NewEnv() *Env {
	e := &Env{
		arrive: make(chan *call),
		opDone: make(chan *op),
		watch:  time.NewTimer(time.Hour),
	}
	e.watch.Stop()
	for i := range e.srv {
		m := miniredis.NewMiniRedis()
		s := &server{name: string(rune('A' + i)), m: m, id: miniserver.Install(m)}
		s.raw = redis.NewClient(options(m))
		e.srv[i] = s
	}
	e.boot = redis.NewClient(options(e.srv[0].m))
	e.boot.AddHook(bootHook{})
	for i := range e.clients {
		// The hook hands every script call to the simulation, which runs it
		// on a server's raw client: this client's own connection is unused.
		e.clients[i] = redis.NewClient(options(e.srv[0].m))
		e.clients[i].AddHook(&netHook{env: e, node: i})
	}
	return e
}

// options connect a client to an in-process miniredis over net.Pipe. The
// client neither retries (the simulation decides retries) nor times out in
// practice (the simulation never stalls a call in real time), and speaks
// RESP2 without the handshake extras miniredis does not need.
func options(m *miniredis.Miniredis) *redis.Options {
	return &redis.Options{
		Dialer: func(context.Context, string, string) (net.Conn, error) {
			return m.Dial()
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

// Close releases the Env's clients and servers.
func (e *Env) Close() {
	for _, c := range e.clients {
		_ = c.Close()
	}
	_ = e.boot.Close()
	for _, s := range e.srv {
		_ = s.raw.Close()
		s.m.Close()
	}
}

// reset empties both servers, their script caches and their clocks for a
// new schedule; server 0 is the master, with no replica.
func (e *Env) reset() error {
	for _, s := range e.srv {
		s.m.FlushAll()
		s.m.SetTime(simBase)
		// A fresh identity: the last schedule may have left this server
		// promoted or following the other, which a schedule's first
		// faults would otherwise see (a seed must replay the same on any
		// Env, whatever ran on it before).
		s.id.Restart()
		s.id.SetPolicy("noeviction")
		s.id.SetReplicas(0)
		if err := s.raw.ScriptFlush(context.Background()).Err(); err != nil {
			return err
		}
	}
	return nil
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
	wait redis.Cmder   // the WAIT pipelined after the script, nil if none
	back chan struct{} // closed when the reply (or the error) is in cmd

	id       int64
	kind     callKind
	proposed int64 // the fence the client proposed (acquire, renew)
	undo     bool  // the synchronous undo of an acquire (op is the acquire's)
	srv      int   // the server the node's connection was to when sent
	gen      int   // that server's connection generation then: a restart or a failover drops the connection
	attempts int   // executions so far
	want     int64 // replicas the WAIT waits for
	acks     int64 // replicas that acknowledged, in the last execution's WAIT
	waitLost bool  // the script's reply arrived, the WAIT's did not
	cut      bool  // the last execution was on a master cut from its replica (a split brain)
	execSeq  int64 // the order of the last execution among all executions
	execEra  int   // the data era of the last execution
	val      any   // the last execution's reply
	err      error
	noScript bool  // the reply is NOSCRIPT: go-redis sends EVAL next
	fate     error // what the client gets instead of the reply: a lost request or reply
}

// netHook hands every script call of a node's client, alone or pipelined
// with a WAIT, to the simulation and waits for its verdict: the simulation
// runs it on a server and fills in the replies. Other commands (none, from
// the lease) pass.
type netHook struct {
	env  *Env
	node int
}

func (h *netHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func isScript(cmd redis.Cmder) bool {
	name := cmd.Name()
	return name == "evalsha" || name == "eval"
}

func (h *netHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) != 2 || !isScript(cmds[0]) || cmds[1].Name() != "wait" {
			return next(ctx, cmds)
		}
		h.hand(ctx, cmds[0], cmds[1])
		return cmds[0].Err()
	}
}

func (h *netHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !isScript(cmd) {
			return next(ctx, cmd)
		}
		h.hand(ctx, cmd, nil)
		return cmd.Err()
	}
}

func (h *netHook) hand(ctx context.Context, cmd, wait redis.Cmder) {
	c := &call{node: h.node, ctx: ctx, cmd: cmd, wait: wait, back: make(chan struct{})}
	c.op, _ = ctx.Value(opKey{}).(*op)
	h.env.arrive <- c
	<-c.back
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
			keys := lease.KeysOf(namespace)
			if nkeys, _ := args[2].(int); args[3] == keys.Meta() && len(args) >= 3+nkeys+6 {
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
