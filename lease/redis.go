package lease

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed server.lua
	serverSrc string
	//go:embed acquire.lua
	acquireSrc string
	//go:embed renew.lua
	renewSrc string
	//go:embed release.lua
	releaseSrc string
	//go:embed init.lua
	initSrc string

	// Every script starts with server.lua, which reads who is answering.
	// Scripts hold no state beyond their source and SHA-1, so sharing them
	// between leases and clients is safe.
	acquireScript = redis.NewScript(serverSrc + acquireSrc)
	renewScript   = redis.NewScript(serverSrc + renewSrc)
	releaseScript = redis.NewScript(serverSrc + releaseSrc)
	initScript    = redis.NewScript(serverSrc + initSrc)
)

// runner runs the scripts on one client, with a WAIT on the same
// connection when replicas must acknowledge.
type runner struct {
	client         redis.UniversalClient
	replicaTimeout time.Duration
}

// run runs s with EVALSHA (EVAL after NOSCRIPT). With wait > 0 it sends
// the script and WAIT wait as one pipeline, so both use one connection:
// WAIT counts the replicas that acknowledged that connection's writes. It
// is a plain pipeline, not MULTI: WAIT inside a transaction does not block.
// It returns the script's reply and the replicas that acknowledged (0
// without WAIT); comparing them with what the script asked for is the
// caller's job.
func (r *runner) run(ctx context.Context, s *redis.Script, wait int64, keys []string, args ...any) (any, int64, error) {
	if wait <= 0 {
		v, err := s.Run(ctx, r.client, keys, args...).Result()
		return v, 0, err
	}
	if _, ring := r.client.(*redis.Ring); ring {
		return nil, 0, fmt.Errorf("%w: the namespace's server has %d replicas to wait for, "+
			"and WAIT cannot be routed on a redis.Ring", ErrReplication, wait)
	}
	node, err := r.node(ctx, keys[0])
	if err != nil {
		return nil, 0, err
	}
	v, acks, err := r.runWait(ctx, node, s, wait, keys, args, false)
	if isNoScript(err) {
		v, acks, err = r.runWait(ctx, node, s, wait, keys, args, true)
	}
	if err != nil {
		if cc, ok := r.client.(*redis.ClusterClient); ok && redis.HasErrorPrefix(err, "MOVED") {
			cc.ReloadState(ctx)
		}
		return v, 0, err
	}
	return v, acks, nil
}

func (r *runner) runWait(ctx context.Context, node redis.Cmdable, s *redis.Script, wait int64, keys []string, args []any, full bool) (any, int64, error) {
	pipe := node.Pipeline()
	var cmd *redis.Cmd
	if full {
		cmd = s.Eval(ctx, pipe, keys, args...)
	} else {
		cmd = s.EvalSha(ctx, pipe, keys, args...)
	}
	waitCmd := pipe.Do(ctx, "wait", wait, r.replicaTimeout.Milliseconds())
	_, _ = pipe.Exec(ctx)
	if err := cmd.Err(); err != nil {
		return nil, 0, err
	}
	acks, err := waitCmd.Int64()
	if err != nil {
		// The script ran; only the count is unknown. Report the reply so a
		// caller can undo what it took.
		return cmd.Val(), 0, fmt.Errorf("%w: WAIT: %w", ErrReplication, err)
	}
	return cmd.Val(), acks, nil
}

// node is where a script on key runs. On a ClusterClient a keyless WAIT in
// a pipeline would go to an arbitrary shard, so the pipeline goes to the
// master of the namespace's slot directly.
func (r *runner) node(ctx context.Context, key string) (redis.Cmdable, error) {
	if cc, ok := r.client.(*redis.ClusterClient); ok {
		return cc.MasterForKey(ctx, key)
	}
	return r.client, nil
}

// errAbandoned marks a call that bounded gave up waiting for.
var errAbandoned = errors.New("call abandoned")

func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}

// bounded runs f in its own goroutine and returns when f returns or ctx
// ends, whichever comes first. go-redis applies a context's deadline to the
// socket only when the client sets ContextTimeoutEnabled; this keeps every
// call within its timeout whatever the client's settings. If ctx ends
// first, late (when not nil) receives f's result once it arrives, so that a
// write that may still land can be undone.
func bounded[T any](ctx context.Context, f func(context.Context) (T, error), late func(T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result) // unbuffered: a send succeeds only while the caller waits
	gone := make(chan struct{})
	go func() {
		v, err := f(ctx)
		select {
		case ch <- result{v, err}:
		case <-gone:
			if late != nil {
				late(v, err)
			}
		}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		close(gone)
		var zero T
		return zero, fmt.Errorf("%w: %w", errAbandoned, ctx.Err())
	}
}
