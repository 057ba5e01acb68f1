package lease

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// ErrNamespaceInUse: Init found keys of the namespace: it was used before
// (or initialized already), so its first acquire must not skip the
// quarantine.
var ErrNamespaceInUse = errors.New("lease: namespace already in use")

// Init creates namespace opts.Namespace with opts.Layout so that its first
// Acquire does not wait out the start-up quarantine (Window + MaxSkew).
//
// That quarantine exists because a namespace Redis has never seen looks the
// same as one whose data Redis lost while IDs issued under it may still be
// in use. Init is safe only for a namespace under which no process has ever
// issued an ID that still matters, on this Redis or any other: a namespace
// name used for the first time, or one whose IDs are all gone (a CI run's
// own Redis and database). It refuses (ErrNamespaceInUse) when any key of
// the namespace exists, but it cannot tell a new namespace from a wiped
// one: that claim is the caller's.
//
// Only Namespace and Layout are used from opts. Errors wrap
// ErrNamespaceInUse, ErrInvalidOptions, ErrUnavailable, ErrAuth,
// ErrPermission or ErrNoServerInfo.
func Init(ctx context.Context, client redis.UniversalClient, opts Options) error {
	if client == nil {
		return errNilClient()
	}
	o, err := opts.resolve()
	if err != nil {
		return err
	}
	k := KeysOf(o.Namespace)
	workers := o.Layout.MaxWorker() + 1
	// A lease key left without the namespace's other keys (they were
	// deleted) still says the namespace was used.
	for first := int64(0); first < workers; first += maxWindowKeys {
		keys := k.window(nil, first, min(maxWindowKeys, workers-first), workers)
		n, err := client.Exists(ctx, keys...).Result()
		if err != nil {
			return mapErr("init", err)
		}
		if n > 0 {
			return fmt.Errorf("%w: namespace %q has %d lease keys", ErrNamespaceInUse, o.Namespace, n)
		}
	}
	created, err := initScript.Run(ctx, client, []string{k.Meta(), k.Epoch(), k.HWM()},
		o.Layout.Fingerprint(), workers, uuid.NewString()).Int64()
	if err != nil {
		return mapErr("init", err)
	}
	if created == 0 {
		return fmt.Errorf("%w: namespace %q has its keys already (%s)", ErrNamespaceInUse, o.Namespace, k.Meta())
	}
	return nil
}
