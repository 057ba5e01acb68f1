package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"syscall"
	"time"

	"github.com/snowlease/idgen"
	"github.com/snowlease/idgen/snowflake"
)

// maxNext bounds -n: more IDs than this from one invocation is almost
// certainly a typo, and a loop in a script is the better tool.
const maxNext = 1 << 30

func runNext(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("next", "[-n N] [--namespace NS] [--layout L] [--ttl D]", `
Lease a worker ID from Redis, print N IDs in decimal, one per line, in
increasing order, release the lease and exit 0. Any number of these may run at
once, on any hosts, against one Redis: no two ever print the same ID.

On a namespace that is new (or whose Redis lost its data) the first ID waits
out a start-up quarantine of about TTL + --max-skew; use a short --ttl for
quick runs.`)
	var conn connFlags
	conn.register(fs, e.getenv)
	var gf genFlags
	gf.register(fs)
	n := fs.Int("n", 1, "how many IDs to print")
	wait := fs.Duration("timeout", time.Minute, "give up when no ID could be printed for this `long`")
	if code, done := parseFlags(fs, e, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, "next", "unexpected argument %q (did you mean -n %s?)", fs.Arg(0), fs.Arg(0))
	}
	if *n < 1 || *n > maxNext {
		return usageError(e, "next", "-n is %d, allowed 1 to %d", *n, maxNext)
	}
	if *wait <= 0 {
		return usageError(e, "next", "--timeout must be positive, got %v", *wait)
	}
	opts, err := gf.options(newStderrLogger(e.stderr, "next"))
	if err != nil {
		return usageError(e, "next", "%v", err)
	}

	client, code := conn.open(ctx, e, "next")
	if client == nil {
		return code
	}
	defer client.Close()

	startCtx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	gen, err := idgen.New(startCtx, client, opts)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(e.stderr, "idgen next: %v before the first ID\n", context.Cause(ctx))
			return interrupted(ctx)
		}
		return fail(e, "next", fmt.Errorf("start a generator in namespace %q: %w", opts.Namespace, err))
	}
	werr := writeIDs(ctx, e.stdout, gen, *n, *wait)
	closeCtx, cancelClose := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancelClose()
	cerr := gen.Close(closeCtx)
	switch {
	case errors.Is(werr, syscall.EPIPE):
		return exitOK // the reader went away, as with `| head`: it has what it wanted
	case errors.Is(werr, errInterrupted):
		fmt.Fprintf(e.stderr, "idgen next: %v; lease released\n", werr)
		return interrupted(ctx)
	case werr != nil:
		return fail(e, "next", werr)
	case cerr != nil:
		// The IDs are good; the lease simply expires after its TTL.
		fmt.Fprintf(e.stderr, "idgen next: warning: releasing the lease: %v (it expires after %v)\n", cerr, opts.TTL)
	}
	return exitOK
}

// errInterrupted: writeIDs stopped because its context ended (SIGINT,
// SIGTERM).
var errInterrupted = errors.New("interrupted")

// writeIDs prints n IDs, asking the generator for them in batches. A
// generator that cannot issue for a moment (its fence reached while Redis is
// slow, a paused clock, a lease being reacquired) is retried until wait has
// passed without progress.
func writeIDs(ctx context.Context, w io.Writer, gen *idgen.Generator, n int, wait time.Duration) error {
	out := bufio.NewWriterSize(w, 64*1024)
	batch := make([]snowflake.ID, min(n, 4096))
	line := make([]byte, 0, 24)
	lastProgress := time.Now()
	for n > 0 {
		if ctx.Err() != nil {
			_ = out.Flush() // whole lines only: every write above is one
			return fmt.Errorf("%w with %d IDs left to print", errInterrupted, n)
		}
		k, err := gen.NextN(batch[:min(n, len(batch))])
		for _, id := range batch[:k] {
			line = strconv.AppendInt(line[:0], id.Int64(), 10)
			line = append(line, '\n')
			if _, werr := out.Write(line); werr != nil {
				return werr
			}
		}
		n -= k
		if k > 0 {
			lastProgress = time.Now()
		}
		if err == nil || n == 0 {
			continue
		}
		if errors.Is(err, idgen.ErrClosed) || time.Since(lastProgress) > wait {
			_ = out.Flush()
			return fmt.Errorf("stopped with %d IDs left to print: %w", n, err)
		}
		select {
		case <-ctx.Done():
			_ = out.Flush()
			return fmt.Errorf("%w with %d IDs left to print", errInterrupted, n)
		case <-gen.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	return out.Flush()
}
