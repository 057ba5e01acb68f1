package idgen

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/snowlease/idgen/lease"
)

// Init creates opts.Namespace with opts.Layout ahead of time, so that the
// first New in it does not wait out the start-up quarantine (Window +
// MaxSkew, 11 s with the defaults) and its first ID comes at once.
//
// Safe only for a namespace under which no process has ever issued an ID
// that still matters (a new namespace name, or the Redis and database of
// one CI run): Redis cannot tell a namespace it has never seen from one
// whose data it lost, and the quarantine is what protects the second case.
// Init refuses, with an error wrapping lease.ErrNamespaceInUse, when any
// key of the namespace exists. Only Namespace and Layout are read from
// opts. The CLI's `idgen init` calls it.
func Init(ctx context.Context, client redis.UniversalClient, opts Options) error {
	if client == nil {
		return errNilClient()
	}
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return err
	}
	return lease.Init(ctx, client, lease.Options{Namespace: o.Namespace, Layout: o.Layout})
}
