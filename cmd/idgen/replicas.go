package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen/lease"
)

func runReplicas(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet("replicas", "[--namespace NS] [--forget N]", `
Show how many replicas the namespace's generators wait for (WAIT) on every
acquire and renewal: every replica its Redis master has had, remembered in
the namespace, so that a master cut off from its replicas stops granting
fences instead of granting ones a promoted replica never sees. A replica
that is gone therefore stops renewals until it is back. When a replica was
removed for good, --forget N lowers the remembered count to N; the next
renewal raises it again to the replicas actually connected.`)
	var conn connFlags
	conn.register(fs, e.getenv)
	ns := fs.String("namespace", "idgen", "lease `namespace`")
	forget := fs.Int("forget", -1, "set the remembered count to `N` (0 to 100)")
	if code, done := parseFlags(fs, e, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, "replicas", "unexpected argument %q", fs.Arg(0))
	}
	if explicit(fs, "forget") && (*forget < 0 || *forget > 100) {
		return usageError(e, "replicas", "--forget is %d, allowed 0 to 100", *forget)
	}
	client, code := conn.open(ctx, e, "replicas")
	if client == nil {
		return code
	}
	defer client.Close()
	cctx, cancel := context.WithTimeout(ctx, 4*conn.timeout)
	defer cancel()
	if explicit(fs, "forget") {
		if err := lease.ForgetReplicas(cctx, client, *ns, *forget); err != nil {
			return fail(e, "replicas", err)
		}
	}
	remembered, connected, err := replicaCounts(cctx, client, *ns)
	if err != nil {
		return fail(e, "replicas", err)
	}
	fmt.Fprintf(e.stdout, "namespace %q: generators wait for %d replicas (remembered %d, connected %d)\n",
		*ns, max(remembered, connected), remembered, connected)
	return exitOK
}

// replicaCounts reads the namespace's remembered replica count and the
// replicas connected to the master that holds the namespace.
func replicaCounts(ctx context.Context, client redis.UniversalClient, ns string) (remembered, connected int, err error) {
	meta := lease.KeysOf(ns).Meta()
	var node redis.Cmdable = client
	if cc, ok := client.(*redis.ClusterClient); ok {
		if node, err = cc.MasterForKey(ctx, meta); err != nil {
			return 0, 0, err
		}
	}
	// The larger of the two copies, as the scripts read it.
	for _, k := range [][2]string{{meta, "replicas"}, {lease.KeysOf(ns).HWM(), "_replicas"}} {
		v, err := node.HGet(ctx, k[0], k[1]).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, 0, err
		}
		n, _ := strconv.Atoi(v)
		remembered = max(remembered, n)
	}
	info, err := node.Info(ctx, "replication").Result()
	if err != nil {
		return 0, 0, err
	}
	connected, _ = strconv.Atoi(infoFields(info)["connected_slaves"])
	return remembered, connected, nil
}
