package lease

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// ForgetReplicas sets the number of replicas the namespace's Redis master
// is remembered to have had to n, for when replicas were removed for good.
// Until then every acquire and renewal waits for as many replicas as the
// master ever had (see Options.MinReplicas), so a removed replica stops the
// namespace's renewals. A count above the replicas actually connected makes
// every renewal fail; the next renewal raises it again to the connected
// count, so ForgetReplicas cannot make the namespace wait for fewer replicas
// than the master has. Errors wrap ErrInvalidOptions,
// ErrUnavailable, ErrAuth or ErrPermission.
func ForgetReplicas(ctx context.Context, client redis.UniversalClient, namespace string, n int) error {
	if client == nil {
		return errNilClient()
	}
	if err := checkNamespace(namespace); err != nil {
		return err
	}
	if n < 0 || n > maxReplicas {
		return optErr("replicas", n, "0 to %d", maxReplicas)
	}
	k := KeysOf(namespace)
	// Both copies (see server.lua), in one transaction on the slot's node.
	_, err := bounded(ctx, func(ctx context.Context) ([]redis.Cmder, error) {
		return client.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, k.Meta(), "replicas", n)
			p.HSet(ctx, k.HWM(), "_replicas", n)
			return nil
		})
	}, nil)
	return mapErr("forget replicas", err)
}
