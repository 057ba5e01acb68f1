// Command idgen is the operator's tool for idgen: it hands out IDs from the
// shell, decodes them, lists the worker-ID leases of a namespace and checks
// that a Redis is fit to hold them.
//
// Usage:
//
//	idgen <command> [flags] [args]
//
// Commands:
//
//	init     create a namespace so that its first start does not wait
//	next     lease a worker ID, print N IDs one per line, release the lease
//	serve    serve IDs over HTTP/JSON and gRPC until SIGTERM
//	decode   print the time, tick, worker and sequence of IDs as JSON lines
//	leases   list the worker IDs in use in a namespace
//	doctor   check the Redis settings the uniqueness guarantee rests on
//	replicas show, or lower, the replicas a namespace waits for
//	version  print the version idgen was built from
//	completion print a bash or zsh completion script
//
// Every command that talks to Redis reads the URL from --redis or REDIS_URL
// (default redis://127.0.0.1:6379); redis:// and rediss:// (TLS) URLs work,
// and --sentinel-master/--sentinel-addrs or --cluster-addrs select Sentinel
// or Cluster. Run `idgen <command> --help` for a command's flags.
//
// Exit codes: 0 success; 1 the command failed (the error on stderr says
// why and what to do); 2 bad usage. doctor exits with the worst result of
// its checks: 0 all pass, 1 some warn, 2 some fail.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// env is what a command sees of the outside world, so tests can run
// commands in-process.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) int
}

func commands() []command {
	return []command{
		{"init", "create a namespace so that its first start does not wait", runInit},
		{"next", "lease a worker ID, print N IDs one per line, release the lease", runNext},
		{"serve", "serve IDs over HTTP/JSON and gRPC until SIGTERM", runServe},
		{"decode", "print the time, tick, worker and sequence of IDs as JSON lines", runDecode},
		{"leases", "list the worker IDs in use in a namespace", runLeases},
		{"doctor", "check the Redis settings the uniqueness guarantee rests on", runDoctor},
		{"replicas", "show, or lower, the replicas a namespace waits for", runReplicas},
		{"version", "print the version idgen was built from", runVersion},
		{"completion", "print a bash or zsh completion script", runCompletion},
	}
}

func main() {
	// A closed stdout (`idgen next -n 1000000 | head`) must end in a write
	// error that lets next release its lease, not in death by SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	// go-redis logs dial retries on its own; the commands report errors
	// themselves, with advice.
	redis.SetLogger(quietLogger{})
	ctx, stop := signalContext()
	code := run(ctx, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

// signalCause is the cause of a context ended by SIGINT or SIGTERM.
type signalCause struct{ sig syscall.Signal }

func (c signalCause) Error() string { return "interrupted by " + c.sig.String() }

// signalContext is a context that ends at the first SIGINT or SIGTERM, with
// a signalCause; a second signal kills the process as usual.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			if sig, ok := s.(syscall.Signal); ok {
				cancel(signalCause{sig})
			}
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(sigs); cancel(nil) }
}

// interrupted is the exit code of a command that stopped because ctx
// ended: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as
// shells report, or exitError when ctx ended for another reason.
func interrupted(ctx context.Context) int {
	var c signalCause
	if errors.As(context.Cause(ctx), &c) {
		return 128 + int(c.sig)
	}
	return exitError
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" {
			return run(ctx, e, []string{args[1], "--help"})
		}
		usage(e.stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "idgen: unknown command %q\n\n", name)
	usage(e.stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `idgen: unique, time-sortable 64-bit IDs from worker IDs leased in Redis.

Usage:
  idgen <command> [flags] [args]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Redis: --redis URL or $REDIS_URL (default redis://127.0.0.1:6379); rediss:// for TLS;
--sentinel-master NAME --sentinel-addrs H:P,... for Sentinel; --cluster-addrs H:P,... for Cluster.

Run 'idgen <command> --help' for the flags of a command.
Exit codes: 0 ok, 1 failed, 2 bad usage; doctor: 0 pass, 1 warn, 2 fail.
`)
}

// newFlagSet makes a flag set whose help goes to stdout (exit 0) and whose
// parse errors go to stderr (exit 2).
func newFlagSet(name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet("idgen "+name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: idgen %s %s\n\n%s\n\nFlags:\n", name, synopsis, strings.TrimSpace(description))
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; done is true when the command must return code
// at once (help was asked for, or the flags were bad).
func parseFlags(fs *flag.FlagSet, e *env, args []string) (code int, done bool) {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = e.stdout.Write(buf.Bytes())
		return exitOK, true
	case err != nil:
		_, _ = e.stderr.Write(buf.Bytes())
		return exitUsage, true
	}
	fs.SetOutput(e.stderr)
	return exitOK, false
}

// fail prints an error for the command and returns exitError.
func fail(e *env, cmd string, err error) int {
	fmt.Fprintf(e.stderr, "idgen %s: %v\n", cmd, err)
	return exitError
}

// usageError prints a usage problem and returns exitUsage.
func usageError(e *env, cmd string, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "idgen %s: %s\nRun 'idgen %s --help' for usage.\n", cmd, fmt.Sprintf(format, args...), cmd)
	return exitUsage
}
