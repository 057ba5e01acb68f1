package main

import (
	"context"
	"fmt"

	"github.com/snowlease/idgen"
)

func runInit(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("init", "[--namespace NS] [--layout L]", `
Create a namespace ahead of time, so that the first generator in it does not
wait out the start-up quarantine (TTL + max skew, 11 s with the defaults).

Only for a namespace under which no process has ever issued an ID that still
matters: a new namespace name, or the Redis and database of one CI run. Redis
cannot tell a namespace it has never seen from one whose data it lost, and the
quarantine is what protects the second case. init refuses a namespace that has
any of its keys.`)
	var conn connFlags
	conn.register(fs, e.getenv)
	ns := fs.String("namespace", "idgen", "lease `namespace` to create")
	layout := newLayoutFlag()
	fs.Var(layout, "layout", layoutUsage)
	if code, done := parseFlags(fs, e, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, "init", "unexpected argument %q", fs.Arg(0))
	}
	if *ns == "" {
		return usageError(e, "init", "--namespace must not be empty")
	}
	client, code := conn.open(ctx, e, "init")
	if client == nil {
		return code
	}
	defer client.Close()
	ictx, cancel := context.WithTimeout(ctx, 4*conn.timeout)
	defer cancel()
	if err := idgen.Init(ictx, client, idgen.Options{Namespace: *ns, Layout: layout.layout}); err != nil {
		return fail(e, "init", err)
	}
	fmt.Fprintf(e.stdout, "namespace %q created with layout %s: its first generator starts without a quarantine\n",
		*ns, layout.name)
	return exitOK
}
