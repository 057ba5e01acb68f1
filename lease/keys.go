package lease

import "strconv"

// Keys names the Redis keys of one namespace, as the package doc's Keys
// section describes them. It is the one place their names are made: the
// lease scripts' callers, List, Init, the clock guard's routing key, idgen
// doctor and the tests all take them from here. The lease scripts are the
// only writers.
//
// Every name starts with the hash tag "{namespace}", so on Redis Cluster
// the keys share one slot and a script may touch any of them. Make a Keys
// with KeysOf; the zero value names nothing. A Keys is a value that never
// changes: safe for concurrent use.
type Keys struct {
	tag, meta, epoch, hwm, leasePrefix string
}

// KeysOf returns the key names of namespace ns. It does not check ns
// (Acquire, List and Init do).
func KeysOf(ns string) Keys {
	tag := "{" + ns + "}"
	return Keys{
		tag:         tag,
		meta:        tag + ":meta",
		epoch:       tag + ":epoch",
		hwm:         tag + ":hwm",
		leasePrefix: tag + ":lease:",
	}
}

// Tag is the namespace's hash tag, "{namespace}": any key that contains it
// lives in the namespace's Cluster slot (the clock guard reads TIME there).
func (k Keys) Tag() string { return k.tag }

// Pattern matches every key of the namespace, "{namespace}:*", for an ACL
// key pattern (after "~") or a SCAN match.
func (k Keys) Pattern() string { return k.tag + ":*" }

// Meta is the hash with the layout fingerprint, the worker count, the
// quarantine tick, the epoch and the server's identity.
func (k Keys) Meta() string { return k.meta }

// Epoch is the string holding the dataset epoch; its absence means Redis
// lost the namespace's data.
func (k Keys) Epoch() string { return k.epoch }

// HWM is the hash of worker ID -> high-water mark (tick).
func (k Keys) HWM() string { return k.hwm }

// LeasePrefix starts every lease key: "{namespace}:lease:".
func (k Keys) LeasePrefix() string { return k.leasePrefix }

// Lease is the lease key of worker ID id.
func (k Keys) Lease(id int64) string {
	return k.leasePrefix + strconv.FormatInt(id, 10)
}

// window appends to dst the lease keys of the n worker IDs first,
// first+1, ... (mod workers). The keys share one backing string: two
// allocations instead of two per key, since acquire sends up to 1024.
func (k Keys) window(dst []string, first, n, workers int64) []string {
	buf := make([]byte, 0, n*int64(len(k.leasePrefix)+11))
	ends := make([]int, n)
	for i := range n {
		buf = append(buf, k.leasePrefix...)
		buf = strconv.AppendInt(buf, (first+i)%workers, 10)
		ends[i] = len(buf)
	}
	all, start := string(buf), 0
	for _, end := range ends {
		dst = append(dst, all[start:end])
		start = end
	}
	return dst
}
