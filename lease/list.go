package lease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Info describes one held lease, for `idgen leases`. It is a plain value,
// safe for concurrent use.
type Info struct {
	WorkerID int64
	Host     string // as recorded by the holder; the raw value if the key is not in this package's format
	PID      int
	Started  time.Time     // when the holder acquired it
	TTL      time.Duration // left before the key expires without renewal; -1 if it has no TTL
	HWM      int64         // the worker's high-water mark (tick); -1 if none is recorded
}

// listScanLimit is the largest worker range List reads key by key; above
// it List scans the namespace's lease keys instead.
const listScanLimit = 1 << 16

// List returns the leases held in namespace, sorted by worker ID. An
// unused namespace gives an empty list. It reads the worker range from the
// namespace's meta key and fetches the lease keys in batches of 1024 (for
// more than 65536 worker IDs, or when the meta key is missing but the
// namespace's other keys are not, it uses SCAN on the namespace's node
// instead).
// It is not atomic: leases may come and go while it runs. ctx bounds it.
func List(ctx context.Context, client redis.UniversalClient, namespace string) ([]Info, error) {
	if client == nil {
		return nil, errNilClient()
	}
	if err := checkNamespace(namespace); err != nil {
		return nil, err
	}
	k := KeysOf(namespace)
	meta, err := client.HGetAll(ctx, k.Meta()).Result()
	if err != nil {
		return nil, mapErr("list", err)
	}
	// Without the meta hash's worker count (the hash lost or deleted while
	// leases are still held, or holding only the remembered replica count)
	// the worker range is unknown: scan for the lease keys instead, unless
	// the namespace has no epoch key or HWM hash either (an unused
	// namespace: no reason to scan the whole node).
	scan := meta["workers"] == ""
	if scan {
		n, err := client.Exists(ctx, k.Epoch(), k.HWM()).Result()
		if err != nil {
			return nil, mapErr("list", err)
		}
		if n == 0 {
			return nil, nil
		}
	}
	var keys []string
	if !scan {
		workers, err := strconv.ParseInt(meta["workers"], 10, 64)
		if err != nil || workers < 1 {
			return nil, fmt.Errorf("%w: list: %s has no valid worker count (%q)", ErrForeignKey, k.Meta(), meta["workers"])
		}
		if workers <= listScanLimit {
			keys = k.window(nil, 0, workers, workers)
		} else {
			scan = true
		}
	}
	if scan {
		if keys, err = scanLeases(ctx, client, k); err != nil {
			return nil, mapErr("list", err)
		}
		if len(keys) == 0 {
			return nil, nil
		}
	}
	hwms, err := client.HGetAll(ctx, k.HWM()).Result()
	if err != nil {
		return nil, mapErr("list", err)
	}
	infos, err := readLeases(ctx, client, k, keys)
	if err != nil {
		return nil, mapErr("list", err)
	}
	for i := range infos {
		infos[i].HWM = -1
		if h, err := strconv.ParseInt(hwms[strconv.FormatInt(infos[i].WorkerID, 10)], 10, 64); err == nil {
			infos[i].HWM = h
		}
	}
	slices.SortFunc(infos, func(a, b Info) int { return int(a.WorkerID - b.WorkerID) })
	return infos, nil
}

// scanLeases finds the lease keys with SCAN on the node that holds the
// namespace's slot. The namespace's characters are no glob specials.
func scanLeases(ctx context.Context, client redis.UniversalClient, k Keys) ([]string, error) {
	var node redis.Cmdable = client
	if cc, ok := client.(*redis.ClusterClient); ok {
		n, err := cc.MasterForKey(ctx, k.Meta())
		if err != nil {
			return nil, err
		}
		node = n
	}
	var keys []string
	it := node.Scan(ctx, 0, k.LeasePrefix()+"*", 1000).Iterator()
	for it.Next(ctx) {
		keys = append(keys, it.Val())
	}
	return keys, it.Err()
}

// readLeases reads the values and TTLs of keys, 1024 at a time, one round
// trip per batch, and returns the ones that exist.
func readLeases(ctx context.Context, client redis.UniversalClient, k Keys, keys []string) ([]Info, error) {
	var infos []Info
	for len(keys) > 0 {
		batch := keys[:min(len(keys), maxWindowKeys)]
		keys = keys[len(batch):]
		pipe := client.Pipeline()
		vals := pipe.MGet(ctx, batch...)
		ttls := make([]*redis.DurationCmd, len(batch))
		for i, key := range batch {
			ttls[i] = pipe.PTTL(ctx, key)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		for i, v := range vals.Val() {
			s, ok := v.(string)
			if !ok {
				continue // absent, or not a string (MGET reads other types as nil)
			}
			id, err := strconv.ParseInt(strings.TrimPrefix(batch[i], k.LeasePrefix()), 10, 64)
			if err != nil {
				continue
			}
			info := parseValue(s)
			info.WorkerID = id
			info.TTL = ttls[i].Val()
			if info.TTL < 0 {
				info.TTL = -1
			}
			infos = append(infos, info)
		}
	}
	return infos, nil
}

// parseValue reads "<token>|<host>|<pid>|<startUnixMs>|<startAfter>".
func parseValue(s string) Info {
	parts := strings.Split(s, "|")
	if len(parts) != 5 {
		return Info{Host: s}
	}
	pid, err1 := strconv.Atoi(parts[2])
	ms, err2 := strconv.ParseInt(parts[3], 10, 64)
	if err1 != nil || err2 != nil {
		return Info{Host: s}
	}
	return Info{Host: parts[1], PID: pid, Started: time.UnixMilli(ms)}
}
